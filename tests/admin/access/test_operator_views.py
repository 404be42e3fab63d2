"""Operator management pages: list filters, create, edit, deactivate, reset, unlock — scoped and audited."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from admin.models import AuditEntry, Operator, OperatorProject

ID_NUMBER = "41042319500101001X"


def _valid_id():
    from tests.admin.conftest import make_id

    return make_id(42)


def listed(c, **params):
    return set(re.findall(r'<a href="/operators/\d+">([^<]+)</a>', c.get("/operators", params=params).text))


def test_list_filters_by_role_region_and_active(user_client, county_admin, get_csrf, batch_db):
    c = user_client("county_admin")
    everyone = listed(c)
    assert "clerk2" in everyone and "auditor" in everyone
    assert "outsider" not in everyone and "other_auditor" not in everyone  # another county
    assert "admin" not in everyone  # the province's admin is above the county
    assert listed(c, role="township_clerk") == {"clerk", "clerk2"}
    assert listed(c, region="410423100") == {"clerk"}
    with batch_db.session() as s:
        s.execute(select(Operator).where(Operator.username == "clerk")).scalar_one().active = False
    assert listed(c, active="no") == {"clerk"}
    assert "clerk" not in listed(c, active="yes")


def test_create_keeps_id_encrypted_shows_last4_and_audits_without_id(user_client, county_admin, get_csrf,
                                                                     batch_db, seeded):
    c = user_client("county_admin")
    id_number = _valid_id()
    token = get_csrf(c, "/operators")
    r = c.post("/operators", data={"username": "newop", "name": "李四", "role": "department_operator",
                                   "region_code": "410423", "department_code": "MZ410423", "id_number": id_number,
                                   "phone": "13800138000", "unit": "民政局", "project_id": [str(seeded["project"])],
                                   "csrf_token": token})
    assert r.status_code == 200
    temporary = re.search(r'id="temporary-password">([^<]+)<', r.text).group(1)
    listing = c.get("/operators").text
    assert id_number not in listing and "****" + id_number[-4:] in listing
    with batch_db.session() as s:
        op = s.execute(select(Operator).where(Operator.username == "newop")).scalar_one()
        assert op.id_number_enc and id_number not in op.id_number_enc and op.must_change_password
        assert [p for p in s.execute(select(OperatorProject.project_id).where(
            OperatorProject.operator_id == op.id)).scalars()] == [seeded["project"]]
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "operator.create")
                          .order_by(AuditEntry.id.desc())).scalars().first()
        dumped = json.dumps([entry.before, entry.after], ensure_ascii=False)
        assert id_number not in dumped and temporary not in dumped and "argon2" not in dumped
    detail = c.get(f"/operators/{op.id}").text
    assert "****" + id_number[-4:] in detail and id_number not in detail
    # the temporary password works once, then must be changed
    fresh = user_client("newop", temporary)
    assert fresh.get("/batches", follow_redirects=False).headers["location"] == "/password"


def test_create_outside_own_county_is_refused(user_client, county_admin, get_csrf, batch_db, seeded):
    c = user_client("county_admin")
    token = get_csrf(c, "/operators")
    r = c.post("/operators", data={"username": "far", "name": "王五", "role": "auditor", "region_code": "410482",
                                   "csrf_token": token})
    assert "只能为您管辖区域内" in r.text
    with batch_db.session() as s:
        assert s.execute(select(Operator).where(Operator.username == "far")).first() is None


def test_edit_role_region_projects_is_audited(user_client, county_admin, get_csrf, batch_db, seeded):
    c = user_client("county_admin")
    clerk = seeded["users"]["clerk"]
    token = get_csrf(c, f"/operators/{clerk}")
    r = c.post(f"/operators/{clerk}", data={"role": "department_operator", "region_code": "410423",
                                            "department_code": "NY410423", "project_id": [str(seeded["project2"])],
                                            "csrf_token": token}, follow_redirects=True)
    assert "已保存" in r.text
    with batch_db.session() as s:
        op = s.get(Operator, clerk)
        assert (op.role, op.region_code) == ("department_operator", "410423")
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "operator.update")).scalar_one()
        assert entry.before["role"] == "township_clerk" and entry.after["projects"] == [seeded["project2"]]
        assert entry.actor == "county_admin"
    # a region outside the admin's county, or a project outside its scope, is refused
    r = c.post(f"/operators/{clerk}", data={"role": "auditor", "region_code": "41", "csrf_token": token},
               follow_redirects=True)
    assert "管辖区域之内" in r.text
    with batch_db.session() as s:
        assert s.get(Operator, clerk).role == "department_operator"


def test_other_county_operator_neither_readable_nor_changeable(user_client, county_admin, get_csrf, batch_db,
                                                              unchanged):
    c = user_client("county_admin")
    outsider = county_admin["outsider"]
    token = get_csrf(c, "/operators")
    assert c.get(f"/operators/{outsider}").status_code == 404
    with unchanged():
        for path, data in ((f"/operators/{outsider}", {"role": "auditor", "region_code": "410423"}),
                           (f"/operators/{outsider}/active", {"active": "no"}),
                           (f"/operators/{outsider}/reset-password", {}),
                           (f"/operators/{outsider}/unlock", {})):
            assert c.post(path, data={**data, "csrf_token": token}).status_code == 404, path
    with batch_db.session() as s:
        op = s.get(Operator, outsider)
        assert op.active and op.role == "township_clerk"
        assert s.execute(select(AuditEntry).where(AuditEntry.object_id == str(outsider),
                                                  AuditEntry.action != "operator.create")).first() is None


def test_non_admins_cannot_manage_operators(user_client, seeded, get_csrf, unchanged):
    clerk2 = seeded["users"]["clerk2"]
    for username in ("clerk", "auditor", "civil_op"):
        c = user_client(username)
        assert c.get("/operators").status_code == 403
        token = get_csrf(c, "/batches")
        with unchanged():
            for path, data in (("/operators", {"username": "sneaky", "name": "李四", "role": "system_admin",
                                               "region_code": "41"}),
                               (f"/operators/{clerk2}/active", {"active": "no"}),
                               (f"/operators/{clerk2}", {"role": "system_admin", "region_code": "41"}),
                               (f"/operators/{clerk2}/reset-password", {}),
                               (f"/operators/{clerk2}/unlock", {})):
                assert c.post(path, data={**data, "csrf_token": token}).status_code == 403, (username, path)


def test_deactivate_reactivate_reset_and_unlock(user_client, county_admin, get_csrf, batch_db, seeded, login):
    c = user_client("county_admin")
    clerk = seeded["users"]["clerk2"]
    victim = user_client("clerk2")
    token = get_csrf(c, f"/operators/{clerk}")
    c.post(f"/operators/{clerk}/active", data={"active": "no", "csrf_token": token})
    assert victim.get("/batches", follow_redirects=False).headers["location"].startswith("/login")
    c.post(f"/operators/{clerk}/active", data={"active": "yes", "csrf_token": token})
    # lock the account by five wrong passwords, then unlock
    from starlette.testclient import TestClient

    with TestClient(c.app) as anon:
        for _ in range(5):
            login(anon, "clerk2", "wrong")
        assert "锁定" in login(anon, "clerk2").text
        assert "已锁定" in c.get(f"/operators/{clerk}").text
        c.post(f"/operators/{clerk}/unlock", data={"csrf_token": token})
        assert login(anon, "clerk2").status_code == 303
    # reset: shown once, forced change at next login
    r = c.post(f"/operators/{clerk}/reset-password", data={"csrf_token": token})
    temporary = re.search(r'id="temporary-password">([^<]+)<', r.text).group(1)
    assert temporary not in c.get(f"/operators/{clerk}").text
    fresh = user_client("clerk2", temporary)
    assert fresh.get("/", follow_redirects=False).headers["location"] == "/password"
    with batch_db.session() as s:
        actions = [e.action for e in s.execute(select(AuditEntry).where(AuditEntry.object_id == str(clerk))
                                                .order_by(AuditEntry.id)).scalars()]
        for action in ("operator.deactivate", "operator.activate", "operator.locked", "operator.unlock",
                       "operator.password_reset"):
            assert action in actions
        dumped = json.dumps([[e.before, e.after] for e in s.execute(select(AuditEntry)).scalars()], ensure_ascii=False)
        assert temporary not in dumped


def test_admin_cannot_deactivate_itself(user_client, county_admin, get_csrf, batch_db):
    c = user_client("county_admin")
    me = county_admin["county_admin"]
    token = get_csrf(c, f"/operators/{me}")
    assert "不能停用自己的账号" in c.post(f"/operators/{me}/active", data={"active": "no", "csrf_token": token}).text
    with batch_db.session() as s:
        assert s.get(Operator, me).active
