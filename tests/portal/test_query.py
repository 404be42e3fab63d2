"""Personal query: the lookup service (portal, kiosk, bot) and the /query pages and JSON."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from core import personkey
from core.config import Config
from core.validation import id_check_digit, normalize_name
from search.base import SearchEngine
from search.embedded import EmbeddedEngine
from search.schemas import PAYMENTS
from portal.errors import PublicError
from portal.query import lookup_by_person_key, lookup_person
from tests.conftest import TEST_SECRETS

HMAC_KEY = TEST_SECRETS["YIKATONG_HMAC_KEY"].encode()


def make_id(body17: str) -> str:
    return body17 + id_check_digit(body17)


# Two people with published lines, and one that exists nowhere.
WANG_ID = make_id("41042319520307123")  # 鲁山县, born 1952
WANG_NAME = "王秀英"
WANG_CARD = "6217991234567890128"
LI_ID = make_id("41042319800101456")
LI_NAME = "李建国"
LI_CARD = "6217995555444433331"
NOBODY_ID = make_id("41042319900909789")


def payment_doc(id_number: str, name: str, card: str, line: int, *, project: str = "耕地地力保护补贴",
                amount: str = "1234.50", date: str = "2024-06-18", year: int = 2024, state: str = "paid",
                stage: str = "已发放到卡", failure_reason: str = "", advice: str = "",
                department: str = "鲁山县农业农村局", period: str = "2024") -> dict[str, Any]:
    pk = personkey.person_key(HMAC_KEY, id_number)
    return {
        "id": str(line), "person_key": pk,
        "name_digest": personkey.name_digest(HMAC_KEY, pk, normalize_name(name)),
        "card_last4": card[-4:], "card_digest": personkey.card_digest(HMAC_KEY, pk, card),
        "project_code": "GDLB", "project_name": project, "department": department, "year": year,
        "period": period, "amount": amount, "amount_cents": int(Decimal(amount) * 100), "date": date,
        "state": state, "stage": stage, "failure_code": "", "failure_reason": failure_reason,
        "advice": advice, "region_codes": ["41", "4104", "410423"], "village": "王庄村",
        "batch_code": "B2024-1",
    }


def sample_docs() -> list[dict[str, Any]]:
    return [
        payment_doc(WANG_ID, WANG_NAME, WANG_CARD, 1, amount="1234.50", date="2024-06-18"),
        payment_doc(WANG_ID, WANG_NAME, WANG_CARD, 2, project="高龄津贴", amount="300.00",
                    date="2024-03-05", department="鲁山县民政局", period="2024Q1"),
        payment_doc(WANG_ID, WANG_NAME, WANG_CARD, 3, project="高龄津贴", amount="300.00",
                    date="2024-09-10", state="failed", stage="发放失败",
                    failure_reason="社保卡已挂失", advice="请到社保卡合作银行补办社保卡后告知村委会",
                    department="鲁山县民政局", period="2024Q3"),
        payment_doc(WANG_ID, WANG_NAME, WANG_CARD, 4, project="高龄津贴", amount="300.00", date="",
                    state="pending", stage="公示中", department="鲁山县民政局", period="2024Q4"),
        payment_doc(WANG_ID, WANG_NAME, WANG_CARD, 5, amount="1180.20", date="2023-06-20", year=2023,
                    period="2023"),
        payment_doc(LI_ID, LI_NAME, LI_CARD, 6, amount="88.00", date="2024-05-01"),
    ]


@pytest.fixture
def config(make_config) -> Config:
    # These tests make many lookups from one address: lift the per-client limit (its own tests
    # are in test_ratelimit.py).
    return make_config(RATE_LIMIT_QUERY_PER_CLIENT="1000/60")


@pytest.fixture
def payments_engine(search_engine: SearchEngine) -> SearchEngine:
    """The shared portal engine with this module's people added to the payments index."""
    search_engine.replace_documents("payments", sample_docs())
    return search_engine


@pytest.fixture
def personal_client(client, payments_engine) -> TestClient:
    return client


def csrf_of(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the form carries a CSRF token"
    return match.group(1)


# --- the service -----------------------------------------------------------------------------


def test_lookup_groups_lines_by_year_with_totals(payments_engine):
    person = lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME,
                           card_digits=WANG_CARD[-4:])
    assert person is not None
    assert person.name == WANG_NAME
    assert [y.year for y in person.years] == [2024, 2023]
    y2024 = person.years[0]
    assert [i.amount for i in y2024.paid] == [Decimal("1234.50"), Decimal("300.00")]  # newest first
    assert y2024.total_paid == Decimal("1534.50")
    assert [(i.failure_reason, i.advice) for i in y2024.failed] == [
        ("社保卡已挂失", "请到社保卡合作银行补办社保卡后告知村委会")]
    assert [i.stage for i in y2024.pending] == ["公示中"]
    assert person.years[1].total_paid == Decimal("1180.20")
    # another person's line never leaks in
    assert all(i.amount != Decimal("88.00") for y in person.years for i in y.paid)


def test_lookup_accepts_spaced_lowercase_id_and_padded_name(payments_engine):
    spaced = " ".join([WANG_ID[:6], WANG_ID[6:14], WANG_ID[14:]]).lower()
    person = lookup_person(payments_engine, HMAC_KEY, id_number=spaced, name=" 王 秀英 ",
                           card_digits=WANG_CARD[-4:])
    assert person is not None and person.years[0].total_paid == Decimal("1534.50")


def test_full_card_number_from_a_kiosk_reader(payments_engine):
    assert lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME,
                         card_number=WANG_CARD) is not None
    assert lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME,
                         card_number=LI_CARD) is None


@pytest.mark.parametrize("name,digits", [
    ("王秀兰", WANG_CARD[-4:]),      # wrong name
    (WANG_NAME, "0000"),            # wrong card
    (LI_NAME, LI_CARD[-4:]),        # someone else's factor
])
def test_wrong_factor_and_unknown_person_give_the_same_none(payments_engine, name, digits):
    assert lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=name, card_digits=digits) is None
    assert lookup_person(payments_engine, HMAC_KEY, id_number=NOBODY_ID, name=name, card_digits=digits) is None


def test_malformed_id_is_rejected_before_any_lookup(payments_engine):
    with pytest.raises(PublicError) as caught:
        lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID[:-1] + ("0" if WANG_ID[-1] != "0" else "1"),
                      name=WANG_NAME, card_digits="0128")
    assert (caught.value.status, caught.value.code) == (400, "invalid_id_number")
    assert "校验位" in caught.value.message


def test_card_digits_must_be_exactly_four_digits(payments_engine):
    for bad in ("128", "890128", "12a4"):
        with pytest.raises(PublicError) as caught:
            lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME, card_digits=bad)
        assert caught.value.status == 422


def test_lookup_by_person_key_for_the_bot(payments_engine):
    pk = personkey.person_key(HMAC_KEY, WANG_ID)
    person = lookup_by_person_key(payments_engine, pk)
    assert person is not None and person.name is None and person.failed_count == 1
    assert lookup_by_person_key(payments_engine, personkey.person_key(HMAC_KEY, NOBODY_ID)) is None


def test_many_lines_are_all_read(tmp_path):
    engine = EmbeddedEngine(tmp_path / "many")
    engine.ensure_index(PAYMENTS)
    docs = [payment_doc(WANG_ID, WANG_NAME, WANG_CARD, n, amount="10.00",
                        date=f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}") for n in range(250)]
    engine.replace_documents("payments", docs)
    person = lookup_person(engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME, card_digits=WANG_CARD[-4:])
    assert person is not None and person.years[0].total_paid == Decimal("2500.00")


def test_missing_payments_index_means_no_record(tmp_path):
    engine = EmbeddedEngine(tmp_path / "empty")
    assert lookup_person(engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME, card_digits="0128") is None


# --- the pages and the JSON API ---------------------------------------------------------------


def test_query_form_is_a_private_accessible_form(personal_client):
    page = personal_client.get("/query")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"] and "etag" not in page.headers
    html = page.text
    assert re.search(r'<label for="f-id_number">身份证号码', html)
    assert re.search(r'id="f-id_number"[^>]*autocomplete="off"', html)
    assert re.search(r'id="f-card_digits"[^>]*inputmode="numeric"', html)
    assert 'method="post"' in html


def test_form_query_shows_paid_pending_and_failed_lines(personal_client):
    token = csrf_of(personal_client, "/query")
    page = personal_client.post("/query", data={"csrf_token": token, "id_number": WANG_ID,
                                                "name": WANG_NAME, "card_digits": WANG_CARD[-4:]})
    assert page.status_code == 200
    html = page.text
    assert "王秀英" in html and "1,534.50" in html and "1,234.50" in html and "1,180.20" in html
    assert "社保卡已挂失" in html and "请到社保卡合作银行补办社保卡后告知村委会" in html
    assert "公示中" in html
    assert WANG_ID not in html and WANG_CARD not in html
    assert "no-store" in page.headers["cache-control"] and "etag" not in page.headers
    assert "/statement/" in html


def test_form_query_without_csrf_token_is_refused_in_chinese(personal_client):
    personal_client.get("/query")
    page = personal_client.post("/query", data={"id_number": WANG_ID, "name": WANG_NAME,
                                                "card_digits": WANG_CARD[-4:]})
    assert page.status_code == 403
    assert "重新打开页面" in page.text and "王秀英" not in page.text


def test_form_query_from_another_browser_token_is_refused(personal_client):
    token = csrf_of(personal_client, "/query")
    personal_client.cookies.clear()
    personal_client.get("/query")  # a fresh cookie that the old token does not sign
    page = personal_client.post("/query", data={"csrf_token": token, "id_number": WANG_ID,
                                                "name": WANG_NAME, "card_digits": WANG_CARD[-4:]})
    assert page.status_code == 403


def test_form_query_with_bad_fields_explains_each_and_never_echoes_the_id(personal_client):
    token = csrf_of(personal_client, "/query")
    bad_id = WANG_ID[:10]
    page = personal_client.post("/query", data={"csrf_token": token, "id_number": bad_id,
                                                "name": "", "card_digits": "12"})
    assert page.status_code == 422
    assert "18位" in page.text and "请填写姓名" in page.text and "最后4位数字" in page.text
    assert bad_id not in page.text


def test_form_query_wrong_factor_gives_uniform_not_found(personal_client):
    token = csrf_of(personal_client, "/query")
    wrong = personal_client.post("/query", data={"csrf_token": token, "id_number": WANG_ID,
                                                 "name": WANG_NAME, "card_digits": "9999"})
    unknown = personal_client.post("/query", data={"csrf_token": token, "id_number": NOBODY_ID,
                                                   "name": WANG_NAME, "card_digits": "9999"})
    assert wrong.status_code == unknown.status_code == 404
    assert "未查询到记录" in wrong.text
    assert wrong.text == unknown.text


def test_api_query_returns_years_as_json(personal_client):
    answer = personal_client.post("/api/query", json={"id_number": WANG_ID, "name": WANG_NAME,
                                                      "card_digits": WANG_CARD[-4:]})
    assert answer.status_code == 200
    assert "no-store" in answer.headers["cache-control"] and "etag" not in answer.headers
    data = answer.json()
    assert data["person"] == {"name": WANG_NAME}
    y2024 = data["years"][0]
    assert y2024["year"] == 2024 and y2024["total_paid"] == "1534.50"
    assert y2024["paid"][0]["amount"] == "1234.50" and y2024["paid"][0]["date"] == "2024-06-18"
    assert y2024["failed"][0]["failure_reason"] == "社保卡已挂失"
    assert y2024["pending"][0]["stage"] == "公示中"
    assert y2024["statement_url"].startswith("/statement/")
    assert WANG_ID not in answer.text and "person_key" not in answer.text and "digest" not in answer.text


def test_api_uniform_answer_for_wrong_factor_and_unknown_person(personal_client):
    wrong = personal_client.post("/api/query", json={"id_number": WANG_ID, "name": WANG_NAME, "card_digits": "9999"})
    unknown = personal_client.post("/api/query", json={"id_number": NOBODY_ID, "name": WANG_NAME,
                                                       "card_digits": "9999"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.content == unknown.content
    assert wrong.json()["error"]["code"] == "not_found"
    assert wrong.json()["error"]["message"].startswith("未查询到记录")


@pytest.mark.parametrize("body,status,code", [
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_json"),
    (b"\xff\xfe", 400, "invalid_json"),
    (b'{"id_number": "41042319520307123X"}', 422, "invalid_input"),
    (b'{"id_number": 41, "name": "", "card_digits": "0128"}', 422, "invalid_input"),
])
def test_api_bad_input(personal_client, body, status, code):
    answer = personal_client.post("/api/query", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code


def test_api_missing_fields_are_named(personal_client):
    answer = personal_client.post("/api/query", json={"id_number": WANG_ID})
    assert answer.status_code == 422
    fields = answer.json()["error"]["fields"]
    assert set(fields) == {"name", "card_digits"} and fields["name"] == "请填写姓名"


def test_api_malformed_id_is_400(personal_client):
    answer = personal_client.post("/api/query", json={"id_number": "12345", "name": WANG_NAME,
                                                      "card_digits": "0128"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_id_number"
    assert "12345" not in answer.text


def test_query_is_post_only(personal_client):
    assert personal_client.get("/api/query").status_code == 405


def test_seeded_person_with_a_historical_region_code_finds_their_lines(client, seeded):
    zhang = seeded.people[2]  # ID number issued under 412631, a code that no longer exists
    answer = client.post("/api/query", json={"id_number": zhang.id_number, "name": zhang.name,
                                             "card_digits": zhang.card_last4})
    assert answer.status_code == 200
    assert [y["total_paid"] for y in answer.json()["years"]] == ["120.50", "100.00"]


def test_seeded_failed_line_shows_reason_and_advice(client, seeded):
    li = seeded.people[1]
    data = client.post("/api/query", json={"id_number": li.id_number, "name": li.name,
                                           "card_digits": li.card_last4}).json()
    failed = [line for y in data["years"] for line in y["failed"]]
    assert [line["failure_reason"] for line in failed] == ["社保卡账户已冻结，银行无法入账"]
    assert "解冻" in failed[0]["advice"]
