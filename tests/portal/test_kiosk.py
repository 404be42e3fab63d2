"""The kiosk: signed API (`/kiosk/api/…`) with real HMAC signing, and the touch-UI endpoints."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import pytest
from starlette.testclient import TestClient

from core.timeutil import now
from portal import kiosk_devices as kd
from portal.app import create_app
from portal.kiosk import SESSION_COOKIE, start_url
from tests.portal.conftest import Seeded

VILLAGE = "410423204201"


@pytest.fixture
def device(public_db) -> tuple[str, str]:
    info, secret = kd.register_device(public_db, name="王庄村1号机", location="王庄村便民服务中心",
                                      region_code=VILLAGE)
    return info.device_id, secret


def signed_headers(device_id: str, secret: str, method: str, path: str, body: bytes = b"", *,
                   ts: int | None = None, nonce: str | None = None) -> dict[str, str]:
    ts = int(now().timestamp()) if ts is None else ts
    nonce = nonce or secrets.token_hex(16)
    return {
        "X-Kiosk-Device": device_id, "X-Kiosk-Timestamp": str(ts), "X-Kiosk-Nonce": nonce,
        "X-Kiosk-Signature": kd.sign(secret, method, path, ts, nonce, body),
        "Content-Type": "application/json",
    }


def api_lookup(client: TestClient, device: tuple[str, str], payload: dict[str, Any], **kw) -> Any:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = signed_headers(*device, "POST", "/kiosk/api/lookup", body, **kw)
    return client.post("/kiosk/api/lookup", content=body, headers=headers)


def error_code(response) -> str:
    return response.json()["error"]["code"]


def all_text(response) -> str:
    return response.text


# --- correct lookups ---------------------------------------------------------------------


def test_lookup_with_id_name_and_card_digits(client: TestClient, seeded: Seeded, device, public_db) -> None:
    person = seeded.people[1]  # paid lines and a failed one
    response = api_lookup(client, device, {"id_number": person.id_number, "name": person.name,
                                           "card_digits": person.card_last4})
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("no-store")
    data = response.json()
    assert data["person"]["name"] == person.name
    year_2024 = next(y for y in data["years"] if y["year"] == 2024)
    assert year_2024["total_paid"] == "120.50"
    failed = year_2024["failed"][0]
    assert failed["state"] == "failed" and "冻结" in failed["failure_reason"] and failed["advice"]
    statement = next(s for s in data["statements"] if s["year"] == 2024)
    assert statement["name"] == person.name and statement["total"] == "120.50"
    assert statement["lines"][0]["project_name"] == "耕地地力保护补贴"
    assert data["kiosk"]["name"] == "王庄村1号机"
    # Nothing identifying beyond the person's own name goes back, and no ID number at all.
    assert person.id_number not in response.text and person.card_number not in response.text
    # The query is counted on the device; nothing about the person is kept.
    info = kd.get_device(public_db, device[0])
    assert info.query_count == 1 and info.last_seen_at is not None


def test_lookup_with_id_and_full_card_number(client: TestClient, seeded: Seeded, device) -> None:
    person = seeded.people[0]  # paid lines and a pending one
    response = api_lookup(client, device, {"id_number": person.id_number, "card_number": person.card_number})
    assert response.status_code == 200
    data = response.json()
    year_2024 = next(y for y in data["years"] if y["year"] == 2024)
    assert year_2024["pending"][0]["state"] == "pending" and year_2024["total_pending"] == "120.50"


def test_wrong_factor_and_unknown_person_get_the_same_answer(client: TestClient, seeded: Seeded, device) -> None:
    person = seeded.people[0]
    wrong_digits = api_lookup(client, device, {"id_number": person.id_number, "name": person.name,
                                               "card_digits": "0000"})
    wrong_card = api_lookup(client, device, {"id_number": person.id_number,
                                             "card_number": seeded.people[1].card_number})
    nobody = api_lookup(client, device, {"id_number": "110101199003074477", "name": "赵六",
                                         "card_digits": "1234"})
    for response in (wrong_digits, wrong_card, nobody):
        assert response.status_code == 404
        assert response.json() == nobody.json()
        assert error_code(response) == "not_found"


def test_bad_input_is_a_clear_chinese_refusal(client: TestClient, device) -> None:
    missing = api_lookup(client, device, {"id_number": "110101199003074477", "name": "赵六"})
    assert missing.status_code == 422 and error_code(missing) == "missing_factor"
    assert "后4位" in missing.json()["error"]["message"]
    bad_id = api_lookup(client, device, {"id_number": "110101199003074478", "name": "赵六", "card_digits": "1234"})
    assert bad_id.status_code == 400 and error_code(bad_id) == "invalid_id_number"
    bad_card = api_lookup(client, device, {"id_number": "110101199003074477", "card_number": "12ab"})
    assert bad_card.status_code == 422 and error_code(bad_card) == "invalid_card_number"
    not_object = api_lookup(client, device, ["x"])  # type: ignore[arg-type]
    assert not_object.status_code == 400 and error_code(not_object) == "invalid_json"
    body = b"{not json"
    raw = client.post("/kiosk/api/lookup", content=body,
                      headers=signed_headers(*device, "POST", "/kiosk/api/lookup", body))
    assert raw.status_code == 400 and error_code(raw) == "invalid_json"


# --- refusals ------------------------------------------------------------------------------


def test_unknown_device_is_refused(client: TestClient, seeded: Seeded) -> None:
    response = api_lookup(client, ("k-0123456789ab", "no-such-secret"), {"id_number": "x"})
    assert response.status_code == 401 and error_code(response) == "unknown_device"
    assert "未登记" in response.json()["error"]["message"]


def test_disabled_device_is_refused(client: TestClient, seeded: Seeded, device, public_db) -> None:
    kd.disable_device(public_db, device[0])
    person = seeded.people[0]
    response = api_lookup(client, device, {"id_number": person.id_number, "card_number": person.card_number})
    assert response.status_code == 403 and error_code(response) == "device_disabled"
    assert "停用" in response.json()["error"]["message"]
    assert kd.get_device(public_db, device[0]).query_count == 0


def test_bad_signature_is_refused(client: TestClient, seeded: Seeded, device) -> None:
    person = seeded.people[0]
    payload = {"id_number": person.id_number, "card_number": person.card_number}
    forged = api_lookup(client, (device[0], "not-the-secret"), payload)
    assert forged.status_code == 401 and error_code(forged) == "bad_signature"
    # A body changed after signing fails too.
    body = json.dumps(payload).encode()
    headers = signed_headers(*device, "POST", "/kiosk/api/lookup", body)
    tampered = client.post("/kiosk/api/lookup", content=body.replace(b"}", b', "x": 1}'), headers=headers)
    assert tampered.status_code == 401 and error_code(tampered) == "bad_signature"
    assert person.name not in forged.text + tampered.text


def test_stale_timestamp_is_refused(client: TestClient, seeded: Seeded, device) -> None:
    person = seeded.people[0]
    payload = {"id_number": person.id_number, "card_number": person.card_number}
    stale = api_lookup(client, device, payload, ts=int(now().timestamp()) - 301)
    assert stale.status_code == 401 and error_code(stale) == "stale_timestamp"
    future = api_lookup(client, device, payload, ts=int(now().timestamp()) + 301)
    assert future.status_code == 401 and error_code(future) == "stale_timestamp"
    assert "时间" in stale.json()["error"]["message"]


def test_reused_nonce_is_refused(client: TestClient, seeded: Seeded, device) -> None:
    person = seeded.people[0]
    body = json.dumps({"id_number": person.id_number, "card_number": person.card_number}).encode()
    headers = signed_headers(*device, "POST", "/kiosk/api/lookup", body)
    assert client.post("/kiosk/api/lookup", content=body, headers=headers).status_code == 200
    replay = client.post("/kiosk/api/lookup", content=body, headers=headers)
    assert replay.status_code == 409 and error_code(replay) == "nonce_reused"
    assert person.name not in replay.text


def test_missing_headers_are_refused(client: TestClient) -> None:
    response = client.post("/kiosk/api/lookup", json={"id_number": "x"})
    assert response.status_code == 401 and error_code(response) == "missing_credentials"
    assert response.headers["cache-control"].startswith("no-store")


def test_rate_limited_per_device(make_config, search_engine, public_db) -> None:
    from tests.portal.conftest import seed_index

    config = make_config(RATE_LIMIT_KIOSK_PER_DEVICE="3/60")
    seeded = seed_index(search_engine, n=10, hmac_key=config.hmac_key)
    info, secret = kd.register_device(public_db, name="1号机", location="村部", region_code=VILLAGE)
    other, other_secret = kd.register_device(public_db, name="2号机", location="村部", region_code=VILLAGE)
    person = seeded.people[2]
    payload = {"id_number": person.id_number, "card_number": person.card_number}
    with TestClient(create_app(config, search=search_engine)) as client:
        codes = [api_lookup(client, (info.device_id, secret), payload).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = api_lookup(client, (info.device_id, secret), payload)
        assert error_code(limited) == "rate_limited" and int(limited.headers["retry-after"]) > 0
        assert "频繁" in limited.json()["error"]["message"]
        # Another kiosk is not affected.
        assert api_lookup(client, (other.device_id, other_secret), payload).status_code == 200


def test_ping_records_last_seen(client: TestClient, device, public_db) -> None:
    assert kd.get_device(public_db, device[0]).last_seen_at is None
    response = client.get("/kiosk/api/ping", headers=signed_headers(*device, "GET", "/kiosk/api/ping"))
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True and data["device_id"] == device[0]
    assert abs(data["server_time"] - now().timestamp()) < 5
    assert kd.get_device(public_db, device[0]).last_seen_at is not None
    bad = client.get("/kiosk/api/ping", headers=signed_headers(device[0], "wrong", "GET", "/kiosk/api/ping"))
    assert bad.status_code == 401 and error_code(bad) == "bad_signature"


# --- touch-UI session ---------------------------------------------------------------------


def _start(client: TestClient, device, **ui: str):
    return client.get(start_url(*device, **ui), follow_redirects=False)


def _csrf(page_html: str) -> str:
    return re.search(r'data-csrf="([0-9a-f]+)"', page_html).group(1)


def test_kiosk_page_needs_a_signed_start_outside_demo_mode(client: TestClient, device) -> None:
    response = client.get("/kiosk", headers={"Accept": "text/html"})
    assert response.status_code == 401 and "尚未登录" in response.text

    started = _start(client, device, idle="5", paper="receipt")
    assert started.status_code == 303 and started.headers["location"] == "/kiosk?idle=5&paper=receipt"
    cookie = started.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/kiosk" in cookie
    page = client.get(started.headers["location"])
    assert page.status_code == 200 and page.headers["cache-control"].startswith("no-store")
    assert 'data-idle-seconds="5"' in page.text and "print-receipt.css" in page.text
    assert 'autocomplete="off"' in page.text
    # The start link is single use.
    replay = client.get(started.request.url, follow_redirects=False)
    assert replay.status_code == 409


def test_start_link_refusals(client: TestClient, device, public_db) -> None:
    forged = client.get(start_url(device[0], "wrong-secret"), follow_redirects=False)
    assert forged.status_code == 401 and "签名" in forged.text
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")
    stale = client.get(start_url(*device, timestamp=int(now().timestamp()) - 1000), follow_redirects=False)
    assert stale.status_code == 401


def test_ui_lookup_with_session_and_csrf(client: TestClient, seeded: Seeded, device, public_db) -> None:
    _start(client, device)
    token = _csrf(client.get("/kiosk").text)
    person = seeded.people[1]
    payload = {"id_number": person.id_number, "name": person.name, "card_digits": person.card_last4}
    no_token = client.post("/kiosk/lookup", json=payload)
    assert no_token.status_code == 403 and error_code(no_token) == "csrf_failed"
    cross_site = client.post("/kiosk/lookup", json=payload,
                             headers={"X-Kiosk-CSRF": token, "Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    ok = client.post("/kiosk/lookup", json=payload, headers={"X-Kiosk-CSRF": token})
    assert ok.status_code == 200 and ok.json()["person"]["name"] == person.name
    assert ok.headers["cache-control"].startswith("no-store")
    assert kd.get_device(public_db, device[0]).query_count == 1


def test_disable_and_rekey_end_the_touch_session(client: TestClient, seeded: Seeded, device, public_db) -> None:
    _start(client, device)
    token = _csrf(client.get("/kiosk").text)
    person = seeded.people[0]
    payload = {"id_number": person.id_number, "card_number": person.card_number}
    kd.disable_device(public_db, device[0])
    refused = client.post("/kiosk/lookup", json=payload, headers={"X-Kiosk-CSRF": token})
    assert refused.status_code == 401 and error_code(refused) == "kiosk_session"
    kd.enable_device(public_db, device[0])
    assert client.post("/kiosk/lookup", json=payload, headers={"X-Kiosk-CSRF": token}).status_code == 200
    kd.rekey_device(public_db, device[0])
    assert client.post("/kiosk/lookup", json=payload, headers={"X-Kiosk-CSRF": token}).status_code == 401
    assert client.get("/kiosk", headers={"Accept": "text/html"}).status_code == 401


def test_demo_mode_opens_a_demo_session_and_simulated_reader(make_config, search_engine, public_db) -> None:
    config = make_config(YIKATONG_DEMO="1")
    sample = [{"id_number": "410423195603120218", "name": "王秀英", "card_number": "6217000000000000013"}]
    app = create_app(config, search=search_engine, sample_people=lambda: sample)
    with TestClient(app) as client:
        page = client.get("/kiosk")
        assert page.status_code == 200 and "模拟刷身份证" in page.text and "演示数据" in page.text
        people = client.get("/kiosk/demo-people").json()["people"]
        assert people == [{"id_number": "410423195603120218", "name": "王秀英",
                           "card_number": "6217000000000000013", "card_last4": "0013", "note": ""}]
    assert [d.name for d in kd.list_devices(public_db)] == ["演示终端"]


def test_demo_people_are_not_served_outside_demo_mode(client: TestClient, device) -> None:
    assert client.get("/kiosk/demo-people").status_code == 401
    _start(client, device)
    assert client.get("/kiosk/demo-people").json() == {"people": []}
    assert "模拟刷身份证" not in client.get("/kiosk").text
