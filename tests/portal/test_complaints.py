"""Complaints / tip-offs / enquiries / disclosure requests: file, store durably, track by code."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from core.db import Database
from core.timeutil import today
from core.workdays import add_workdays
from portal.complaints import CODE_ALPHABET, CODE_RANDOM, new_tracking_code, normalize_code
from portal.store import ComplaintUpdate, PublicComplaint

GOOD = {"kind": "complaint", "subject": "2024年耕地地力保护补贴未到账",
        "text": "我是王庄村村民，2024年的耕地地力保护补贴至今没有到账，请帮忙核实。",
        "real_name": True, "contact": "王先生 13800138000"}


def csrf_of(client, path: str = "/complaints/new") -> str:
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_tracking_codes_are_readable_and_unguessable():
    # The code space of a day: 25^6 ≈ 2.4e8, so guessing one filed code takes ~1e8 tries (the
    # look-up is rate-limited on top of that).
    assert len(set(CODE_ALPHABET)) == len(CODE_ALPHABET) == 25 and CODE_RANDOM == 6
    codes = [new_tracking_code(date(2024, 6, 18)) for _ in range(2000)]
    for code in codes:
        assert re.fullmatch(r"TS20240618[" + CODE_ALPHABET + "]{6}", code)
    for code in codes[:50]:
        assert normalize_code(code.lower()[:10] + "-" + code[10:13] + " " + code[13:]) == code
    # Uniform over the whole space: every character at every position (a character missing from
    # one position among 2,000 codes: p ≈ 150 · 0.96^2000 < 1e-30), no character far from its
    # share of the 12,000 drawn (480 ± 180 is ± 8 standard deviations: p < 1e-14).
    tails = [code[10:] for code in codes]
    for position in range(CODE_RANDOM):
        assert {tail[position] for tail in tails} == set(CODE_ALPHABET)
    counts = Counter("".join(tails))
    assert all(300 <= counts[ch] <= 660 for ch in CODE_ALPHABET), counts
    # Distinct: 20 codes collide with p = 190 / 2.4e8 < 1e-6 (2,000 would, about 1 run in 120).
    assert len(set(codes[:20])) == 20
    # Not from the seedable ``random`` module: re-seeding it does not repeat a code.
    state = random.getstate()
    try:
        random.seed(17)
        first = new_tracking_code(date(2024, 6, 18))
        random.seed(17)
        assert new_tracking_code(date(2024, 6, 18)) != first
    finally:
        random.setstate(state)
    assert not set("01OILZ2S5B8") & set(CODE_ALPHABET)
    assert normalize_code("TS2024") is None and normalize_code("../etc/passwd") is None


def test_form_has_every_field_and_a_csrf_token(client):
    page = client.get("/complaints/new?kind=tipoff&disclosure=d000123")
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    html = page.text
    for name in ("kind", "subject", "text", "project_code", "disclosure_id", "contact"):
        assert f'name="{name}"' in html
    assert 'name="real_name" value="1"' in html and 'name="real_name" value="0"' in html
    assert 'value="d000123"' in html and '<option value="tipoff" selected>' in html
    assert "15个工作日" in html and "20个工作日" in html
    assert 'maxlength="2000"' in html


def test_file_by_form_then_follow_by_code(client, public_db):
    token = csrf_of(client)
    answer = client.post("/complaints", data={**GOOD, "real_name": "1", "csrf_token": token},
                         follow_redirects=False)
    assert answer.status_code == 303
    location = answer.headers["location"]
    code = re.fullmatch(r"/complaints/(TS\d{8}\w{6})\?filed=1", location).group(1)
    # committed before the code was shown
    with public_db.session() as session:
        row = session.scalars(select(PublicComplaint).where(PublicComplaint.tracking_code == code)).one()
        assert row.contact == GOOD["contact"] and row.real_name and row.status == "received"
        assert row.due_on == add_workdays(today(), 15)
        assert session.scalars(select(ComplaintUpdate).where(ComplaintUpdate.complaint_id == row.id)).all()
    page = client.get(location)
    assert page.status_code == 200
    assert code in page.text and "已受理" in page.text and "2024年耕地地力保护补贴未到账" in page.text
    due = add_workdays(today(), 15)
    assert f"{due.year}年{due.month}月{due.day}日前" in page.text
    assert "13800138000" not in page.text and "王先生" not in page.text  # never the contact
    assert "请帮忙核实" not in page.text  # nor the text as filed


def test_status_page_shows_history_and_answer(client, public_db):
    filed = client.post("/api/complaints", json={**GOOD, "kind": "enquiry"}).json()
    with public_db.session() as session:
        row = session.scalars(select(PublicComplaint).where(
            PublicComplaint.tracking_code == filed["tracking_code"])).one()
        row.status = "answered"
        row.answer = "经核实，该笔补贴因社保卡冻结发放失败，已于6月20日重新发放。"
        session.add(ComplaintUpdate(complaint_id=row.id, status="answered", note="鲁山县农业农村局已答复"))
    data = client.get(f"/api/complaints/{filed['tracking_code'].lower()}").json()
    assert data["status_label"] == "已答复" and "重新发放" in data["answer"]
    assert [h["status"] for h in data["history"]] == ["received", "answered"]
    assert "contact" not in data and "text" not in data
    page = client.get(f"/complaints/{filed['tracking_code']}")
    assert "重新发放" in page.text and "鲁山县农业农村局已答复" in page.text


def test_api_file_returns_code_and_deadline(client):
    answer = client.post("/api/complaints", json={**GOOD, "real_name": False, "contact": ""})
    assert answer.status_code == 201
    data = answer.json()
    assert normalize_code(data["tracking_code"]) == data["tracking_code"]
    assert data["due_on"] == add_workdays(today(), 15).isoformat()
    assert "15个工作日" in data["message"]
    assert client.get(data["status_url"]).status_code == 200


def test_disclosure_request_gets_twenty_working_days(client):
    data = client.post("/api/complaints", json={**GOOD, "kind": "disclosure_request"}).json()
    assert data["due_on"] == add_workdays(today(), 20).isoformat()


def test_deadline_counts_chinese_holidays(public_db, make_config):
    from portal.complaints import deadline_days
    # 2024-09-30 + 15 working days skips the National Day week and counts the make-up Saturday 10-12
    assert add_workdays(date(2024, 9, 30), deadline_days(make_config(), "complaint")) == date(2024, 10, 25)


@pytest.mark.parametrize("body,status,code", [
    (b"{oops", 400, "invalid_json"),
    (b'"text"', 400, "invalid_json"),
    (b"{}", 422, "invalid_input"),
])
def test_api_bad_input(client, body, status, code):
    answer = client.post("/api/complaints", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status and answer.json()["error"]["code"] == code


def test_api_field_messages(client):
    answer = client.post("/api/complaints", json={"kind": "praise", "subject": "", "text": "字" * 2001,
                                                  "real_name": True, "disclosure_id": "a b"})
    assert answer.status_code == 422
    fields = answer.json()["error"]["fields"]
    assert set(fields) == {"kind", "subject", "text", "contact", "disclosure_id"}
    assert "2000字" in fields["text"] and "2001" in fields["text"]


def test_oversized_body_is_413_and_stores_nothing(client, public_db):
    answer = client.post("/api/complaints", json={**GOOD, "text": "字" * 40000})
    assert answer.status_code == 413
    with public_db.session() as session:
        assert session.scalars(select(PublicComplaint)).all() == []


def test_form_without_csrf_is_a_chinese_403_and_stores_nothing(client, public_db):
    client.get("/complaints/new")
    answer = client.post("/complaints", data={**GOOD, "real_name": "1"})
    assert answer.status_code == 403
    assert "重新打开页面" in answer.text and "<html" in answer.text
    with public_db.session() as session:
        assert session.scalars(select(PublicComplaint)).all() == []


def test_form_errors_keep_what_was_typed(client):
    token = csrf_of(client)
    answer = client.post("/complaints", data={"csrf_token": token, "kind": "complaint", "subject": "补贴没到",
                                              "text": "", "real_name": "1", "contact": ""})
    assert answer.status_code == 422
    assert "请填写具体内容" in answer.text and "实名反映请留下" in answer.text
    assert 'value="补贴没到"' in answer.text


def test_unknown_or_malformed_code_is_a_chinese_404(client):
    for code in ("TS20240618AAAAAA", "nonsense"):
        page = client.get(f"/complaints/{code}")
        assert page.status_code == 404 and "查询码" in page.text
    assert client.get("/api/complaints/TS20240618AAAAAA").json()["error"]["code"] == "complaint_not_found"


def test_find_by_code_form_redirects(client):
    code = client.post("/api/complaints", json=GOOD).json()["tracking_code"]
    answer = client.get("/complaints", params={"code": f" {code.lower()} "}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/complaints/{code}"
    assert client.get("/complaints", params={"code": "12"}).status_code == 400


def test_filing_is_rate_limited_per_client(client):
    codes = [client.post("/api/complaints", json=GOOD).status_code for _ in range(6)]
    assert codes == [201] * 5 + [429]


def test_acknowledged_complaint_survives_a_crash(client, portal_app, public_db_url):
    code = client.post("/api/complaints", json=GOOD).json()["tracking_code"]
    # The app's engine goes away without any further commit (as in a crash); a fresh process
    # opening the same database finds the complaint.
    portal_app.state.services.public_db.dispose()
    script = (
        "import sys\n"
        "from sqlalchemy import select\n"
        "from core.db import Database\n"
        "from portal.store import PublicComplaint\n"
        "db = Database(sys.argv[1])\n"
        "with db.session() as s:\n"
        "    row = s.scalars(select(PublicComplaint).where(PublicComplaint.tracking_code == sys.argv[2])).one()\n"
        "    print(row.subject)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, public_db_url, code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == GOOD["subject"]


def test_overdue_is_shown(client, public_db):
    code = client.post("/api/complaints", json=GOOD).json()["tracking_code"]
    with public_db.session() as session:
        row = session.scalars(select(PublicComplaint).where(PublicComplaint.tracking_code == code)).one()
        row.due_on = today() - timedelta(days=1)
    assert client.get(f"/api/complaints/{code}").json()["overdue"] is True
    assert "已超期" in client.get(f"/complaints/{code}").text


def test_database_wrapper_sees_the_row_after_dispose(public_db_url, client):
    code = client.post("/api/complaints", json=GOOD).json()["tracking_code"]
    db = Database(public_db_url)
    try:
        from portal.complaints import find_complaint
        assert find_complaint(db, code).subject == GOOD["subject"]
    finally:
        db.dispose()


def test_petitions_and_confidential_tipoffs_can_be_filed(client, public_db):
    token = csrf_of(client)
    page = client.get("/complaints/new").text
    assert '<option value="petition"' in page and 'name="confidential"' in page
    codes = {}
    for kind in ("petition", "tipoff", "complaint"):
        answer = client.post("/complaints", data={**GOOD, "kind": kind, "real_name": "1", "confidential": "1",
                                                  "csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 303
        codes[kind] = re.search(r"/complaints/(TS\w+)\?", answer.headers["location"]).group(1)
    with public_db.session() as session:
        rows = {r.tracking_code: r for r in session.scalars(select(PublicComplaint))}
    assert rows[codes["tipoff"]].confidential is True
    assert rows[codes["complaint"]].confidential is False  # only a tip-off can be confidential
    assert rows[codes["petition"]].kind == "petition"
    assert client.get(f"/api/complaints/{codes['petition']}").json()["kind_label"] == "信访"


def _answer(public_db, code: str) -> None:
    from core.timeutil import now

    with public_db.session() as session:
        row = session.scalars(select(PublicComplaint).where(PublicComplaint.tracking_code == code)).one()
        row.status, row.answer, row.answer_unit, row.answered_at = "answered", "已补发。", "鲁山县民政局", now()


def test_the_complainant_says_once_whether_the_answer_satisfies(client, public_db):
    from portal.store import ComplaintFeedback

    code = client.post("/api/complaints", json=GOOD).json()["tracking_code"]
    page = client.get(f"/complaints/{code}")
    assert 'id="feedback-form"' not in page.text  # nothing to judge before the answer
    token = csrf_of(client)
    early = client.post(f"/complaints/{code}/feedback", data={"satisfied": "yes", "csrf_token": token})
    assert early.status_code == 409 and "尚未答复" in early.text
    _answer(public_db, code)
    page = client.get(f"/complaints/{code}").text
    assert 'id="feedback-form"' in page and "答复单位：鲁山县民政局" in page
    assert client.get(f"/api/complaints/{code}").json()["feedback_open"] is True
    for data, status in (({"satisfied": "maybe"}, 422), ({"satisfied": "no", "comment": "字" * 501}, 422),
                         ({"satisfied": "yes", "csrf_token": ""}, 403)):
        response = client.post(f"/complaints/{code}/feedback", data={"csrf_token": token, **data})
        assert response.status_code == status and re.search(r"[\u4e00-\u9fff]", response.text)
    assert client.post("/complaints/TS20240618AAAAAA/feedback", data={"satisfied": "yes", "csrf_token": token}
                       ).status_code == 404
    said = client.post(f"/complaints/{code}/feedback", data={"satisfied": "yes", "comment": "谢谢",
                                                             "csrf_token": token}, follow_redirects=False)
    assert said.status_code == 303
    data = client.get(f"/api/complaints/{code}").json()
    assert data["feedback"]["satisfied"] is True and data["feedback_open"] is False
    again = client.post(f"/complaints/{code}/feedback", data={"satisfied": "no", "csrf_token": token})
    assert again.status_code == 409
    with public_db.session() as session:
        assert [(f.satisfied, f.comment) for f in session.scalars(select(ComplaintFeedback))] == [(True, "谢谢")]
