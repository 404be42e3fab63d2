"""Hostile input on the admin app, logged out and logged in: never a 500 or a traceback, a Chinese
message (or a stable JSON code on the JSON twins), and nothing changed — no audit entry, no row.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from admin.models import AuditEntry, Batch, PaymentLine, Policy, Project

CJK = re.compile(r"[\u4e00-\u9fff]")
TRACEBACK_MARKERS = ("Traceback", 'File "', "sqlalchemy", "Error:", "psycopg", "Exception")
XSS = "<script>alert(1)</script>"

GET_ROUTES = ["/", "/login", "/password", "/batches", "/batches.json", "/batches/new", "/batches/{b}",
              "/batches/{b}.json", "/batches/{b}/lines.json", "/batches/{b}/export.xlsx", "/roster-template.xlsx",
              "/policies", "/policies.json", "/policies/{p}", "/projects", "/projects.json", "/persons",
              "/persons.json", "/operators", "/audit", "/audit.json", "/audit/verify", "/audit/export.xlsx",
              "/overdue", "/overdue.json", "/overdue.xlsx", "/deadlines", "/deadlines.json",
              "/complaints", "/complaints.json", "/complaints/export.xlsx", "/complaints/due", "/complaints/due.json",
              "/complaints/statistics", "/complaints/statistics.json", "/complaints/statistics.xlsx"]
POST_ROUTES = ["/login", "/logout", "/password", "/batches", "/batches/{b}/lines", "/batches/{b}/lines/delete",
               "/batches/{b}/lines/bulk", "/batches/{b}/import", "/policies", "/policies/{p}/publish",
               "/policies/{p}/changes", "/projects", "/persons/import", "/persons/bulk", "/references/import",
               "/operators", "/batches/{b}/actions/submit", "/batches/{b}/actions/cancel", "/deadlines",
               "/deadlines/1/delete", "/complaints/1/actions/accept"]
HOSTILE_QUERY: list[dict[str, str]] = [
    {"q": "a" * 60_000}, {"q": "\x00"}, {"q": "\ud800"}, {"q": XSS}, {"q": "😀\u202e\u200f\x1b"},
    {"page": "-1"}, {"page": "0"}, {"page": "99999999999999999999999"}, {"page": "1.5"}, {"page": "abc"},
    {"page": "\u0661"}, {"page": "\u00b2"}, {"year": "\u00b2"}, {"year": "99999999999999999999"},
    {"status": XSS}, {"region": "../../x"}, {"region": "9" * 500}, {"project": "' OR 1=1 --"},
    {"batch": "\u00b2"}, {"from": "2024-13-45"}, {"to": "\x00"}, {"actor": "%"}, {"action": "_"},
    {"since": "not-a-date"}, {"kind": "\ud800"}, {"sort": "__class__"}, {"id": "-0"},
]
BAD_IDS = ["abc", "-1", "0", "1.5", "99999999999999999999999", "\u00b2", "\u0661", "%00", "..%2f..", "1e9"]
HOSTILE_VALUES = ["", "\x00", "a\x00b", "\ud800", XSS, "王" * 5000, "9" * 100, "-1", "\u00b2", "1e400",
                  "NaN", "Infinity", "' OR 1=1 --", "\u202e\u200f", "😀"]


def audit_count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry))


def row_counts(db) -> tuple[int, ...]:
    with db.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (AuditEntry, Batch, PaymentLine, Policy, Project))


def assert_safe(response, *, raw: str | None = XSS) -> None:
    body = response.text
    assert response.status_code < 500, (response.request.method, response.request.url.path, response.status_code, body[:300])
    for marker in TRACEBACK_MARKERS:
        assert marker not in body, f"{marker!r} in {response.request.url.path}: {body[:300]}"
    content_type = response.headers.get("content-type", "")
    if raw and "html" in content_type:
        assert raw not in body, f"input echoed raw into {response.request.url.path}"
    if response.status_code < 400 or response.request.method == "HEAD":
        return
    if content_type.startswith("application/json"):
        error = response.json()["error"]
        assert re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), error
        assert CJK.search(error["message"]), error
    else:
        assert CJK.search(body), (response.status_code, body[:300])


def get(client, path: str, params: dict[str, str]):
    """GET with the parameters percent-encoded by hand (lone surrogates go out as invalid UTF-8)."""
    from urllib.parse import urlencode

    return client.get(path + "?" + urlencode(params, errors="surrogatepass"), follow_redirects=False)


def _fill(path: str, seeded: dict[str, Any]) -> str:
    return path.replace("{b}", str(seeded["batch"])).replace("{p}", str(seeded["policy"]))


def _encode(fields: dict[str, str]) -> bytes:
    from urllib.parse import quote_plus

    return "&".join(f"{quote_plus(k)}={quote_plus(v, errors='surrogatepass')}" for k, v in fields.items()).encode()


@pytest.fixture
def admin_client(admin_app, login):
    with TestClient(admin_app) as c:
        assert login(c, "admin").status_code == 303
        yield c


def _csrf(client, path: str = "/batches/new") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, (path, page.status_code)
    return match.group(1)


def test_logged_out_hostile_requests_change_nothing(client, batch_db, seeded):
    before = audit_count(batch_db)
    for path in GET_ROUTES:
        for params in HOSTILE_QUERY[:8]:
            response = get(client, _fill(path, seeded), params)
            assert_safe(response)
            assert response.status_code in (200, 303, 400, 401, 403, 404, 422), (path, response.status_code)
    for path in POST_ROUTES:
        for body, content_type in ((b"", None), (b"a=\x00", "application/x-www-form-urlencoded"),
                                   (b"{", "application/json"), (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
                                   (b"a=" + b"b" * 300_000, "application/x-www-form-urlencoded")):
            headers = {"Content-Type": content_type} if content_type else {}
            response = client.post(_fill(path, seeded), content=body, headers=headers, follow_redirects=False)
            assert_safe(response)
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "FOO"):
        for path in GET_ROUTES[:6]:
            assert_safe(client.request(method, _fill(path, seeded)))
    assert audit_count(batch_db) == before


def test_hostile_login_forms(client, batch_db):
    token = _csrf(client, "/login")
    for value in HOSTILE_VALUES:
        for field in ("username", "password", "csrf_token", "next"):
            fields = {"username": "admin", "password": "wrong-password", "csrf_token": token, field: value}
            response = client.post("/login", content=_encode(fields), follow_redirects=False,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert_safe(response)
            assert response.status_code != 303 or field == "next", (field, value[:20])


def test_logged_in_hostile_list_filters_and_ids(admin_client, batch_db, seeded):
    before = row_counts(batch_db)
    for path in GET_ROUTES:
        for params in HOSTILE_QUERY:
            response = get(admin_client, _fill(path, seeded), params)
            assert_safe(response)
    for template in ("/batches/{}", "/batches/{}.json", "/batches/{}/lines.json", "/batches/{}/export.xlsx",
                     "/batches/{b}/lines/{}", "/batches/{b}/import-jobs/{}", "/batches/{b}/imports/{}",
                     "/batches/{b}/imports/{}/report.xlsx", "/policies/{}", "/persons/{}", "/operators/{}",
                     "/batches/{}/postings/1/photo", "/batches/{b}/postings/{}/photo",
                     "/complaints/{}", "/complaints/{}.json"):
        for bad in BAD_IDS:
            path = _fill(template, seeded).replace("{}", bad)
            response = admin_client.get(path, follow_redirects=False)
            assert_safe(response)
            assert response.status_code in (400, 404), (path, response.status_code)
    assert row_counts(batch_db) == before


FORMS: list[tuple[str, dict[str, str]]] = [
    ("/batches", {"project_id": "{project}", "region_code": "410423", "year": "2024", "period": "2024-01", "title": "标题"}),
    ("/batches/{b}/lines", {"name": "王秀英", "id_number": "410423195603120219", "card_number": "6217000000000000013",
                            "phone": "", "amount": "100.00", "village": "王庄村"}),
    ("/batches/{b}/lines/delete", {"line_id": "1", "confirm": "yes"}),
    ("/batches/{b}/lines/bulk", {"action": "delete", "line_id": "1", "confirm": "yes"}),
    ("/policies", {"code": "X1", "year": "2024", "name": "政策", "short_name": "政策", "level": "县",
                   "department_id": "{civil}", "region_code": "410423"}),
    ("/policies/{p}/changes", {"change": "变更", "field": "name", "value": "新名称"}),
    ("/projects", {"code": "P1", "name": "项目", "policy_id": "{p}", "department_id": "{civil}", "region_code": "410423",
                   "amount_min": "1.00", "amount_max": "2.00"}),
    ("/persons/bulk", {"action": "x", "person_id": "1"}),
    ("/operators", {"username": "newuser", "name": "新用户", "role": "auditor", "region_code": "410423",
                    "password": "Passw0rd!Longer"}),
    ("/password", {"current": "x", "new": "y", "confirm": "z"}),
    ("/batches/{b}/actions/cancel", {"reason": "重复建立"}),
    ("/deadlines", {"step": "approval", "days": "7", "region_code": "410423", "project_code": "GLJT-410423",
                    "source": "实施方案"}),
]


@pytest.mark.parametrize("path,base", FORMS, ids=[f[0] for f in FORMS])
def test_logged_in_hostile_forms_change_nothing(admin_client, batch_db, seeded, path, base):
    token = _csrf(admin_client)
    path = _fill(path, seeded)
    ids = {"{project}": str(seeded["project"]), "{civil}": str(seeded["civil"]), "{p}": str(seeded["policy"])}
    base = {k: ids.get(v, v) for k, v in base.items()}
    before = row_counts(batch_db)
    accepted = 0
    for field in base:
        for value in HOSTILE_VALUES:
            fields = {**base, field: value, "csrf_token": token}
            audit_before = audit_count(batch_db)
            response = admin_client.post(path, content=_encode(fields), follow_redirects=False,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert_safe(response)
            if response.status_code >= 400:  # refused: nothing recorded
                assert audit_count(batch_db) == audit_before, (path, field, value[:20], response.status_code)
            else:
                accepted += 1
    # Without a CSRF token, with a JSON body, a bad multipart body: refused, nothing changed.
    for body, content_type in ((_encode(base), "application/x-www-form-urlencoded"),
                               (json.dumps(base).encode(), "application/json"),
                               (b"--x\r\nbroken", "multipart/form-data; boundary=x")):
        response = admin_client.post(path, content=body, headers={"Content-Type": content_type}, follow_redirects=False)
        assert_safe(response)
        assert 400 <= response.status_code < 500, (path, content_type, response.status_code)
    # Whatever was not accepted added no audit entry; the refusals above added none either.
    assert audit_count(batch_db) - before[0] <= accepted * 2


def test_uploads_with_hostile_files(admin_client, batch_db, seeded):
    token = _csrf(admin_client)
    before = row_counts(batch_db)
    files = [("x.csv", b""), ("x.csv", b"\x00\xff\xfe" * 100), ("x.xlsx", b"PK\x03\x04broken"),
             ("../../etc/passwd", b"a,b\n"), ("x.csv", "姓名,身份证号\n\ud800".encode("utf-8", "surrogatepass")),
             ("x.csv", ("姓名,身份证号,社保卡号,手机号,金额,村\n" + XSS + ",1,2,3,4,5\n").encode())]
    for path in (f"/batches/{seeded['batch']}/import", "/persons/import", "/references/import"):
        for name, content in files:
            response = admin_client.post(path, data={"csrf_token": token}, files={"file": (name, content)},
                                         follow_redirects=False)
            assert_safe(response)
    assert row_counts(batch_db)[1:] == before[1:]
