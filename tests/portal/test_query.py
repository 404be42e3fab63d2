"""Personal query pages: the /query form and answer page and the JSON API (the lookup itself is
tested in test_lookup.py)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from core.config import Config
from tests.portal.test_lookup import (  # noqa: F401  (payments_engine is a fixture)
    NOBODY_ID,
    WANG_CARD,
    WANG_ID,
    WANG_NAME,
    payments_engine,
)


@pytest.fixture
def config(make_config) -> Config:
    # These tests make many lookups from one address: lift the per-client limit (its own tests
    # are in test_ratelimit.py).
    return make_config(RATE_LIMIT_QUERY_PER_CLIENT="1000/60")


@pytest.fixture
def personal_client(client, payments_engine) -> TestClient:
    return client


def csrf_of(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the form carries a CSRF token"
    return match.group(1)


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
