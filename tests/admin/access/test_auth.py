"""Logging in through HTTP: login required, wrong password and lockout, the session cookie, CSRF,
the forced password change of a first login."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.testclient import TestClient

from admin.models import PaymentLine


def test_login_required_and_bad_password_message(client, login):
    assert client.get("/batches", follow_redirects=False).headers["location"].startswith("/login")
    response = login(client, "clerk", "wrong-password")
    assert response.status_code == 400
    assert "用户名或密码错误" in response.text and "再输错4次" in response.text


def test_lockout_after_five_failures(client, login):
    for _ in range(5):
        login(client, "clerk", "wrong")
    response = login(client, "clerk")  # right password, but locked
    assert response.status_code == 400
    assert "锁定" in response.text


def test_session_cookie_flags(client, login):
    response = login(client, "clerk")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie


def test_post_without_csrf_is_refused_and_changes_nothing(user_client, seeded, batch_db, roster, unchanged):
    c = user_client("clerk")
    with unchanged():
        response = c.post(f"/batches/{seeded['batch']}/lines", data=dict(zip(roster.header, roster.row(1))))
    assert response.status_code == 403
    assert "页面已过期" in response.text
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 0


def test_first_login_forces_password_change(admin_app, config, batch_db, login, get_csrf):
    from admin.access import operators

    with batch_db.session() as s:
        operators.create_operator(s, config, actor="t", username="newbie", name="新用户", role="auditor",
                                  region_code="410423", password="Initial#Pass1")
    with TestClient(admin_app) as c:
        login(c, "newbie", "Initial#Pass1")
        assert c.get("/batches", follow_redirects=False).headers["location"] == "/password"
        token = get_csrf(c, "/password")
        r = c.post("/password", data={"old": "Initial#Pass1", "new": "short", "again": "short", "csrf_token": token})
        assert r.status_code == 400 and "至少10位" in r.text
        r = c.post("/password", data={"old": "Initial#Pass1", "new": "Better#Pass22", "again": "Better#Pass22",
                                      "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303
        assert c.get("/batches").status_code == 200
