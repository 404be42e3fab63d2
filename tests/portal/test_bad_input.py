"""Hostile input on every public route: a clear error, never a traceback or a 500, nothing changed.

Tables of hostile values are sent to every route of the public app (pages and their JSON twins,
forms with a good CSRF token, the JSON API, the kiosk UI and signed API, the WeChat endpoint and
binding page, statement tokens, static files). Every answer must

* have a status below 500;
* carry no traceback text and no raw echo of the input (``<script>`` comes back escaped);
* for an error: JSON ``{"error": {"code": <stable ascii>, "message": <Chinese>}}`` on JSON
  routes, a page with a Chinese message on HTML routes (WeChat's protocol answers are empty by
  design and only need the status);
* change nothing: rejected complaints, lookups and bindings leave the public store as it was.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select
from wechatpy.utils import WeChatSigner

from core.timeutil import now
from portal import kiosk_devices as kd
from portal.kiosk import SESSION_COOKIE, start_url
from portal.store import PublicComplaint, WechatBinding

CJK = re.compile(r"[\u4e00-\u9fff]")
TRACEBACK_MARKERS = ("Traceback", 'File "', "sqlalchemy", "Error:", "Exception")
XSS = "<script>alert(1)</script>"

GET_HTML = ["/", "/policies", "/policies/p1", "/disclosures", "/statistics", "/opendata", "/query",
            "/complaints", "/complaints/new", "/complaints/TS20240101AAAAAA", "/statement/abc",
            "/kiosk", "/wechat/bind/abc"]
GET_JSON = ["/home.json", "/policies.json", "/policies/p1.json", "/disclosures.json", "/statistics.json",
            "/opendata.json", "/healthz", "/status.json", "/openapi.json", "/api/complaints/TS20240101AAAAAA",
            "/kiosk/api/ping", "/kiosk/demo-people"]
GET_OTHER = ["/disclosures.csv", "/statement/abc.pdf", "/wechat/", "/kiosk/start", "/large-text",
             "/static/app.css"]
ALL_GET = GET_HTML + GET_JSON + GET_OTHER
POSTS = ["/query", "/complaints", "/api/query", "/api/complaints", "/kiosk/lookup", "/kiosk/api/lookup",
         "/wechat/", "/wechat/bind/abc", "/large-text"]
JSON_POSTS = ["/api/query", "/api/complaints", "/kiosk/lookup", "/kiosk/api/lookup"]

# Raw query strings (already percent-encoded as a hostile client would send them).
HOSTILE_QUERIES = [
    "q=" + "a" * 100_000,
    "q=%00", "q=a%00b", "page=%00",
    "q=%ff%fe", "q=%C0%AE%C0%AE", "region=%ff",
    "q=%ED%A0%80", "q=%ED%B0%80x",  # lone surrogates as (invalid) UTF-8
    "q=%01%02%1b%7f", "q=%0d%0aSet-Cookie:%20x=1",
    "q=%F0%9F%98%80%F0%9F%91%A8%E2%80%8D%F0%9F%91%A9",  # emoji, ZWJ sequence
    "q=%E2%80%AE%E2%80%8Fabc",  # RTL override + RLM
    "q=" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "page=-1", "page=0", "page=99999999999999999999999999", "page=1.5", "page=abc", "page=1e3",
    "page=%D9%A1", "page=%EF%BC%91",  # Arabic-Indic 1, full-width 1
    "per_page=0", "per_page=-5", "per_page=1000000", "per_page=nan",
    "year=-2024", "year=99999999999999999999", "year=2024.0", "year=%E4%BA%8C%E9%9B%B6",
    "region=" + "4" * 500, "region=41%0a", "region=../../etc", "kind=%00", "sort=__proto__",
    "project=%27%3B%20DROP%20TABLE%20x%3B--", "level=%E4%B8%AD%E5%A4%AE" * 100,
    "page=1&page=2&page=-1", "q=a&q=b&q=" + "c" * 5000, "unknown=1&__class__=x&q[]=1&q[a]=b",
    "code=" + "T" * 10_000, "device=%00&ts=abc&nonce=%ff&sig=" + "0" * 5000, "idle=-1&paper=%00",
    "next=//evil.example&on=%00", "next=javascript:alert(1)", "echostr=" + XSS + "&signature=x&timestamp=1&nonce=1",
    "=&&&=&==", "%",
]

BAD_PAGES = ["-1", "0", "abc", "1.5", "99999999999999999999", "\u0661", "\uff11", "1e3", " 1", "0x10"]


@pytest.fixture
def store(portal_app):
    return portal_app.state.services.public_db


def count(db, model) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def assert_safe(response, *, expect_json: bool | None = None, raw: str | None = None) -> None:
    """Below 500, no traceback, no raw echo; errors clear (JSON code + Chinese, or a Chinese page)."""
    body = response.text
    assert response.status_code < 500, (response.status_code, body[:300])
    for marker in TRACEBACK_MARKERS:
        assert marker not in body, f"{marker!r} in {response.request.url.path}: {body[:300]}"
    if raw and "html" in response.headers.get("content-type", ""):
        assert raw not in body, f"input echoed raw into {response.request.url.path}"
    if response.status_code < 400 or response.request.method == "HEAD":
        return
    content_type = response.headers.get("content-type", "")
    if expect_json is True:
        assert content_type.startswith("application/json"), (response.status_code, body[:200])
    if content_type.startswith("application/json"):
        error = response.json()["error"]
        assert re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), error
        assert CJK.search(error["message"]), error
    elif expect_json is False or body:
        assert CJK.search(body), (response.request.url.path, response.status_code, body[:300])


def _path_kind(path: str) -> bool | None:
    if path in GET_JSON or path in JSON_POSTS:
        return True
    if path in GET_HTML:
        return False
    return None


class RawResponse:
    """What :func:`raw_request` got back, shaped like the bits of an httpx response used here."""

    def __init__(self, method: str, path: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes):
        self.status_code = status
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        self.content = body
        self.text = body.decode("utf-8", "replace")
        self.request = SimpleNamespace(method=method, url=SimpleNamespace(path=path))

    def json(self) -> Any:
        return json.loads(self.content)


def raw_request(app, method: str, path: str, query: bytes = b"", *, body: bytes = b"",
                headers: list[tuple[bytes, bytes]] | None = None) -> RawResponse:
    """Call the ASGI app directly: no client-side URL limits or encoding (a 100 KB query string,
    invalid UTF-8 percent-escapes, raw bytes in the path)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode("utf-8", "surrogateescape"),
             "query_string": query, "root_path": "", "headers": headers or [(b"host", b"testserver")],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    sent: dict[str, Any] = {"status": 0, "headers": [], "body": b"", "received": False}
    done = None

    async def receive() -> dict[str, Any]:
        nonlocal done
        if not sent["received"]:
            sent["received"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        done = done or anyio.Event()
        if not sent.get("complete"):
            await done.wait()  # the client "disconnects" once the whole response is in
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"], sent["headers"] = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")
            if not message.get("more_body", False):
                sent["complete"] = True
                if done is not None:
                    done.set()

    anyio.run(app, scope, receive, send)
    return RawResponse(method, path, sent["status"], sent["headers"], sent["body"])


@pytest.mark.parametrize("path", ALL_GET)
def test_hostile_query_strings_on_every_get_route(client, portal_app, path: str):
    for query in HOSTILE_QUERIES:
        response = raw_request(portal_app, "GET", path, query.encode("latin-1"))
        expect = _path_kind(path)
        if path.startswith("/wechat/") and path != "/wechat/bind/abc":
            expect = None  # WeChat's verification answers an empty 403 by protocol
        assert_safe(response, expect_json=expect, raw=XSS)


@pytest.mark.parametrize("path", ["/disclosures", "/disclosures.json", "/policies", "/policies.json",
                                  "/disclosures.csv"])
@pytest.mark.parametrize("name", ["page", "per_page", "year"])
def test_bad_numbers_are_a_stable_400(client, path: str, name: str):
    for value in BAD_PAGES:
        response = client.get(path, params={name: value}, headers={"Accept": "application/json"})
        assert response.status_code == 400, (path, name, value, response.status_code)
        assert_safe(response, expect_json=True)
        assert response.json()["error"]["code"] in {"bad_page", "bad_per_page", "bad_year", "page_out_of_range"}


@pytest.mark.parametrize("path", ["/disclosures", "/policies", "/statistics", "/complaints/new"])
def test_script_in_parameters_is_escaped_in_the_page(client, path: str):
    response = client.get(path, params={"q": XSS, "project": XSS, "kind": XSS, "region": XSS})
    assert_safe(response, expect_json=False, raw=XSS)
    response = client.get(path, params={"q": XSS})
    assert_safe(response, expect_json=False, raw=XSS)
    if path in ("/disclosures", "/policies"):
        assert response.status_code == 200
        assert "&lt;script&gt;" in response.text


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "FOO"])
def test_other_methods_on_every_route(client, method: str):
    for path in sorted(set(ALL_GET + POSTS)):
        response = client.request(method, path, follow_redirects=False)
        assert_safe(response, expect_json=_path_kind(path))
        if method != "HEAD":
            assert response.status_code in (400, 401, 403, 404, 405, 501), (method, path, response.status_code)


@pytest.mark.parametrize("path", [
    "/static/../portal/app.py", "/static/%2e%2e/%2e%2e/pyproject.toml", "/static/..%2f..%2fpyproject.toml",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/static//etc/passwd", "/static/%00", "/static/..\\..\\pyproject.toml",
    "/static/%c0%ae%c0%ae/pyproject.toml", "/statement/..%2f..%2fetc%2fpasswd", "/statement/%2e%2e/%2e%2e/x.pdf",
    "/statement/" + "A" * 5000, "/statement/" + "A" * 5000 + ".pdf", "/statement/%00", "/statement/%ff%fe",
    "/statement/%ED%A0%80.pdf", "/policies/%00.json", "/policies/" + "x" * 5000, "/policies/%ff",
    "/complaints/%00", "/complaints/" + "T" * 5000, "/api/complaints/%ff%fe", "/api/complaints/..%2f..",
    "/wechat/bind/%00", "/wechat/bind/" + "x" * 5000, "/wechat/bind/..%2f..%2f", "/%ff", "/nope%00",
])
def test_path_traversal_and_odd_paths(client, path: str):
    response = client.get(path)
    assert response.status_code in (400, 403, 404, 405, 410), (path, response.status_code)
    assert "[project]" not in response.text and "root:" not in response.text and "import" not in response.text
    assert_safe(response)


STATEMENT_TOKENS = [
    "", "x", "=" * 10, "gAAAAA", "gAAAAAB" + "A" * 200, "%00", "..", "a.pdf.pdf", "\u202e", "\U0001F600",
    secrets.token_urlsafe(120),
]


def test_statement_tokens(client, portal_app):
    from portal.statements import make_statement_token

    secret = portal_app.state.config.session_secret
    good = make_statement_token(secret, "no-such-person", 2024, "王秀英")
    tampered = good[:-6] + ("A" if good[-6] != "A" else "B") + good[-5:]
    expired = make_statement_token(secret, "no-such-person", 2024, "王秀英", ttl=-10)
    other_secret = make_statement_token("another-secret", "no-such-person", 2024, "王")
    for token in [*STATEMENT_TOKENS, good, tampered, expired, other_secret]:
        for suffix in ("", ".pdf"):
            response = raw_request(portal_app, "GET", f"/statement/{token}{suffix}")
            assert response.status_code in (404, 405, 410), (token[:20], response.status_code)
            assert_safe(response)


# --- POST bodies --------------------------------------------------------------------------------

MALFORMED_JSON: list[bytes] = [
    b"", b" ", b"{", b"}", b"[", b"nul", b"{'a': 1}", b'{"a": }', b"\xff\xfe{}", b'{"name": "\xff"}',
    b"\x00", b'{"a": 1}\x00', b"NaN", b"Infinity", b"1e999999", b"-" * 10,
    b"[" * 3000 + b"]" * 3000,  # deep nesting
    b'{"a":' * 1500 + b"1" + b"}" * 1500,
]
WRONG_JSON: list[Any] = [
    [], [1, 2], 1, 1.5, "text", None, True, {},
    {"id_number": 1, "name": 2, "card_digits": 3},
    {"id_number": ["41"], "name": {"a": 1}, "card_digits": None},
    {"id_number": {"$ne": None}, "name": "王秀英", "card_digits": "1234"},
    {"id_number": "410423195603120219", "name": "\ud800", "card_digits": "1234"},
    {"id_number": "\ud800" * 18, "name": "王", "card_digits": "12\ud8004"},
    {"id_number": "410423195603120219\x00", "name": "王\x00秀英", "card_digits": "1234"},
    {"id_number": "4" * 10_000, "name": "王" * 1000, "card_digits": "1" * 1000},
    {"id_number": "410423195603120219", "name": XSS, "card_digits": "1234", "extra": {"nested": [{"x": []}]}},
    {"id_number": "410423195603120219", "name": "王秀英", "card_number": 6217000000000000000},
    {"kind": "complaint", "subject": "\ud800", "text": "内容"},
    {"kind": "complaint", "subject": "标题", "text": "\ud83d"},
    {"kind": "complaint", "subject": "标题", "text": "内容", "contact": "\udfff"},
    {"kind": "complaint", "subject": "标题\x00", "text": "内容\x00"},
    {"kind": "complaint", "subject": ["标题"], "text": {"a": "b"}},
    {"kind": {"complaint": 1}, "subject": 1, "text": 2, "real_name": "maybe"},
    {"kind": "complaint", "subject": "标题", "text": "内容", "real_name": True},
    {"kind": "complaint", "subject": "标题", "text": "内容" * 2000},
    {"kind": "complaint", "subject": "标", "text": "内容", "region_code": "41\n", "project_code": "../x"},
    {"kind": "complaint", "subject": "标", "text": "内容", "real_name": [], "contact": 12345},
]

CONTENT_TYPES = [None, "text/plain", "application/xml", "multipart/form-data; boundary=x",
                 "application/x-www-form-urlencoded", "application/json; charset=latin-1", "image/png",
                 "application/json; charset=utf-16", "a/b/c"]


def _kiosk_device(store) -> tuple[str, str]:
    info, secret = kd.register_device(store, name="测试终端", location="村便民服务中心", region_code="410423204201")
    return info.device_id, secret


def _kiosk_headers(device: tuple[str, str], path: str, body: bytes) -> dict[str, str]:
    ts = int(now().timestamp())
    nonce = secrets.token_hex(16)
    return {"X-Kiosk-Device": device[0], "X-Kiosk-Timestamp": str(ts), "X-Kiosk-Nonce": nonce,
            "X-Kiosk-Signature": kd.sign(device[1], "POST", path, ts, nonce, body),
            "Content-Type": "application/json"}


def _kiosk_session(client, device) -> dict[str, str]:
    from portal.kiosk import CSRF_HEADER

    response = client.get(start_url(*device), follow_redirects=False)
    assert response.status_code == 303
    page = client.get("/kiosk")
    token = re.search(r'name="kiosk-csrf" content="([0-9a-f]+)"', page.text) or \
        re.search(r'data-csrf="([0-9a-f]+)"', page.text)
    assert token, page.text[:500]
    return {CSRF_HEADER: token.group(1), "Content-Type": "application/json"}


def _post_json_body(client, store, path: str, body: bytes, *, content_type: str | None = "application/json",
                    kiosk: dict[str, Any]) -> Any:
    if path == "/kiosk/api/lookup":
        headers = _kiosk_headers(kiosk["device"], path, body)
        if content_type is None:
            del headers["Content-Type"]
        else:
            headers["Content-Type"] = content_type
        return client.post(path, content=body, headers=headers)
    headers = dict(kiosk["ui"]) if path == "/kiosk/lookup" else {}
    if content_type is None:
        headers.pop("Content-Type", None)
    else:
        headers["Content-Type"] = content_type
    return client.post(path, content=body, headers=headers)


@pytest.fixture
def kiosk(client, store):
    device = _kiosk_device(store)
    return {"device": device, "ui": _kiosk_session(client, device)}


@pytest.mark.parametrize("path", JSON_POSTS)
def test_json_posts_refuse_malformed_and_wrong_json_and_change_nothing(client, store, kiosk, path: str):
    complaints = count(store, PublicComplaint)
    bodies = MALFORMED_JSON + [json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass") for v in WRONG_JSON]
    bodies += [json.dumps(v).encode() for v in WRONG_JSON]  # the same, \u-escaped (lone surrogates as JSON)
    for body in bodies:
        response = _post_json_body(client, store, path, body, kiosk=kiosk)
        assert_safe(response, expect_json=True, raw=XSS)
        if path == "/api/complaints" and b'"real_name": true' not in body:
            assert response.status_code in (400, 413, 422, 429), (body[:80], response.status_code)
    # Only the one well-formed complaint in the table may have been filed (and nothing else).
    assert count(store, PublicComplaint) - complaints <= (2 if path == "/api/complaints" else 0)


@pytest.mark.parametrize("path", JSON_POSTS)
def test_json_posts_wrong_content_types_empty_and_oversized(client, store, kiosk, path: str):
    complaints = count(store, PublicComplaint)
    body = json.dumps({"id_number": "x", "kind": "x"}).encode()
    for content_type in CONTENT_TYPES:
        response = _post_json_body(client, store, path, body, content_type=content_type, kiosk=kiosk)
        assert_safe(response, expect_json=True)
        assert 400 <= response.status_code < 500
    for size in (5_000, 40_000, 300_000, 2_000_000):
        big = json.dumps({"id_number": "4" * size, "subject": "x", "text": "y" * size}).encode()
        response = _post_json_body(client, store, path, big, kiosk=kiosk)
        assert_safe(response, expect_json=True)
        assert response.status_code in (413, 422), (size, response.status_code)
    # A lying Content-Length.
    for declared in ("abc", "-1", "99999999999999999999"):
        headers = {"Content-Type": "application/json", "Content-Length": declared}
        response = client.post(path, content=b"{}", headers=headers)
        assert_safe(response, expect_json=True)
        assert 400 <= response.status_code < 500
    assert count(store, PublicComplaint) == complaints


def _form_token(client, page: str) -> str:
    response = client.get(page)
    assert response.status_code == 200, page
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, page
    return match.group(1)


HOSTILE_FORM_VALUES = [
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff\ud800", "\x01\x1b\x7f", "😀👨‍👩", "\u202e\u200f", XSS,
    "4" * 70_000, "王" * 3000, "' OR 1=1 --", "{{7*7}}", "${jndi:ldap://x}", "%ff%fe", "\r\nX-Injected: 1",
]


def _encode_form(fields: dict[str, str]) -> bytes:
    from urllib.parse import quote_plus

    return "&".join(f"{quote_plus(k)}={quote_plus(v, encoding='utf-8', errors='surrogatepass')}"
                    for k, v in fields.items()).encode()


@pytest.mark.parametrize("page,post", [("/query", "/query"), ("/complaints/new", "/complaints"),
                                       ("/wechat/bind/STATE", "/wechat/bind/STATE")])
def test_forms_with_a_good_token_refuse_hostile_values_and_change_nothing(client, store, portal_app, page, post):
    if "STATE" in page:
        from bot.bindings import make_state

        state = make_state(portal_app.state.config.session_secret, "o-test-openid")
        page, post = page.replace("STATE", state), post.replace("STATE", state)
    token = _form_token(client, page)
    before = (count(store, PublicComplaint), count(store, WechatBinding))
    for value in HOSTILE_FORM_VALUES:
        for name in ("id_number", "name", "card_digits", "kind", "subject", "text", "contact", "real_name",
                     "region_code", "project_code"):
            fields = {"csrf_token": token, "id_number": "410423195603120219", "name": "王秀英",
                      "card_digits": "0000", "kind": "complaint", "subject": "标题", "text": "内容",
                      "real_name": "0", name: value}
            body = _encode_form(fields)
            response = client.post(post, content=body,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"},
                                   follow_redirects=False)
            assert_safe(response, expect_json=False, raw=XSS)
            assert "4" * 1000 not in response.text  # a huge value is not echoed back whole
    # Valid-looking complaints may be filed by the table (the all-default row); nothing else is.
    after = (count(store, PublicComplaint), count(store, WechatBinding))
    assert after[1] == before[1]
    if post != "/complaints":
        assert after[0] == before[0]


@pytest.mark.parametrize("post", ["/query", "/complaints", "/wechat/bind/abc", "/large-text"])
def test_forms_without_token_wrong_type_or_oversized(client, store, post):
    before = count(store, PublicComplaint)
    cases: list[tuple[bytes, str | None]] = [
        (b"", None), (b"", "application/x-www-form-urlencoded"), (b"a=1", "text/plain"),
        (b'{"a": 1}', "application/json"), (b"\xff\xfe\x00", "application/x-www-form-urlencoded"),
        (b"csrf_token=forged&name=x", "application/x-www-form-urlencoded"),
        (b"csrf_token=" + b"A" * 10_000, "application/x-www-form-urlencoded"),
        (b"=&=&%%&&", "application/x-www-form-urlencoded"),
        (b"a=" + b"b" * 300_000, "application/x-www-form-urlencoded"),
        (b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n", "multipart/form-data; boundary=x"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"), (b"x", "multipart/form-data"),
        (b"&".join(b"f%d=1" % i for i in range(2000)), "application/x-www-form-urlencoded"),
    ]
    for body, content_type in cases:
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.post(post, content=body, headers=headers, follow_redirects=False)
        assert_safe(response, expect_json=False)
        if post != "/large-text":
            assert 400 <= response.status_code < 500, (post, body[:40], content_type, response.status_code)
    assert count(store, PublicComplaint) == before


def test_xss_in_the_complaint_form_is_escaped(client, store):
    token = _form_token(client, "/complaints/new")
    body = _encode_form({"csrf_token": token, "kind": XSS, "subject": XSS, "text": "", "contact": XSS,
                         "real_name": "0"})
    response = client.post("/complaints", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422
    assert_safe(response, expect_json=False, raw=XSS)
    assert "&lt;script&gt;" in response.text
    assert count(store, PublicComplaint) == 0


def test_complaint_api_with_surrogates_is_refused_and_nothing_stored(client, store):
    for subject in ("\ud800", "a\udfffb"):
        body = json.dumps({"kind": "complaint", "subject": subject, "text": "内容"}).encode()
        response = client.post("/api/complaints", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json", response.text
        assert_safe(response, expect_json=True)
    assert count(store, PublicComplaint) == 0


# --- kiosk signed API and WeChat -----------------------------------------------------------------

def test_kiosk_signed_api_hostile_headers(client, store):
    device = _kiosk_device(store)
    body = b'{"id_number": "410423195603120219", "name": "\\u738b", "card_digits": "1234"}'
    good = _kiosk_headers(device, "/kiosk/api/lookup", body)
    variants: list[dict[str, str]] = [{}]
    for name, values in {
        "X-Kiosk-Device": ["", "\x00", "é" * 300, "../../x", XSS, "1" * 10_000],
        "X-Kiosk-Timestamp": ["", "abc", "-1", "1e10", "9" * 400, "1.5", "\u0661\u0662"],
        "X-Kiosk-Nonce": ["", "\x01", "n" * 10_000, "é"],
        "X-Kiosk-Signature": ["", "zz", "0" * 64, "é" * 64, "0" * 10_000],
    }.items():
        for value in values:
            variants.append({**good, name: value})
    for headers in variants:
        raw_headers = [(b"host", b"testserver"), *((k.lower().encode(), v.encode("utf-8")) for k, v in headers.items())]
        for method, path in (("POST", "/kiosk/api/lookup"), ("GET", "/kiosk/api/ping")):
            response = raw_request(client.app, method, path, body=body if method == "POST" else b"", headers=raw_headers)
            assert_safe(response, expect_json=True, raw=XSS)
            assert 400 <= response.status_code < 500, (headers, response.status_code)
    # Refused requests are not counted as queries and remember no nonce.
    assert kd.get_device(store, device[0]).query_count == 0
    assert kd.nonce_count(store) == 0


def test_kiosk_ui_without_session_or_csrf(client, store):
    for headers in ({}, {"x-kiosk-csrf": "x"}, {"Cookie": f"{SESSION_COOKIE}=" + "A" * 5000},
                    {"Cookie": f"{SESSION_COOKIE}=%00%ff"}, {"Origin": "https://evil.example"}):
        response = client.post("/kiosk/lookup", content=b"{}", headers=headers)
        assert response.status_code in (401, 403)
        assert_safe(response, expect_json=True)
        response = client.get("/kiosk/demo-people", headers=headers)
        assert response.status_code == 401
        assert_safe(response, expect_json=True)


def _wechat_params(token: str) -> dict[str, str]:
    ts = str(int(time.time()))
    nonce = secrets.token_hex(8)
    signer = WeChatSigner()
    signer.add_data(token, ts, nonce)
    return {"signature": signer.signature, "timestamp": ts, "nonce": nonce}


WECHAT_BODIES = [
    b"", b"not xml", b"<xml>", b"<xml><MsgType>text</MsgType></xml>", b"\xff\xfe<\x00x\x00",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>',
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><Content>&c;</Content></xml>',
    b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>abc</CreateTime>"
    b"<MsgType>text</MsgType><Content>\x00</Content><MsgId>x</MsgId></xml>",
    b"<xml><ToUserName>a</ToUserName><FromUserName>" + b"b" * 5000 + b"</FromUserName><CreateTime>1</CreateTime>"
    b"<MsgType>event</MsgType><Event>CLICK</Event><EventKey>" + XSS.encode() + b"</EventKey></xml>",
    b"<xml>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</xml>",
    b"<xml><Encrypt>!!!notbase64</Encrypt></xml>",
    b"x" * 70_000,
]


def test_wechat_endpoint_hostile_bodies_and_signatures(client, portal_app, store):
    token = portal_app.state.config.wechat_token
    bindings = count(store, WechatBinding)
    for params in ({}, {"signature": "x", "timestamp": "abc", "nonce": "n"},
                   {"signature": "x" * 5000, "timestamp": "9" * 40, "nonce": "\x00"},
                   {"signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "n"}):
        for body in WECHAT_BODIES[:3]:
            response = client.post("/wechat/", params=params, content=body)
            assert_safe(response, expect_json=None)
            assert response.status_code in (403, 413)
    for body in WECHAT_BODIES:
        for content_type in ("text/xml", "application/json", "text/plain; charset=gbk"):
            response = client.post("/wechat/", params=_wechat_params(token), content=body,
                                   headers={"Content-Type": content_type})
            assert_safe(response, expect_json=None, raw=XSS)
            assert "root:" not in response.text
    for params in ({}, {"encrypt_type": "aes", "msg_signature": "x"}):
        response = client.post("/wechat/", params={**_wechat_params(token), **params}, content=WECHAT_BODIES[10])
        assert_safe(response, expect_json=None)
    assert count(store, WechatBinding) == bindings
