"""The admin app through HTTP: login, CSRF, lockout, scoping per role, roster import and fixes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from admin.models import AuditEntry, OutboxEntry, PaymentLine


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
    from admin import operators

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


def add_line(c, get_csrf, batch_id, values):
    token = get_csrf(c, f"/batches/{batch_id}")
    return c.post(f"/batches/{batch_id}/lines", data={**values, "csrf_token": token}, follow_redirects=False)


def test_clerk_enters_a_line_with_flash_and_audit(user_client, seeded, get_csrf, roster, batch_db):
    c = user_client("clerk")
    response = add_line(c, get_csrf, seeded["batch"], dict(zip(roster.header, roster.row(1, amount="100"))))
    assert response.status_code == 303
    page = c.get(f"/batches/{seeded['batch']}")
    assert "已录入" in page.text and roster.make_name(1) in page.text
    assert roster.make_id(1) not in page.text  # only the last 4 digits
    with batch_db.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "line.create")).scalar_one()
        assert entry.actor == "clerk" and entry.after["amount"] == "100.00"


def test_line_entry_reasons_in_chinese_and_nothing_stored(user_client, seeded, get_csrf, roster, batch_db):
    c = user_client("clerk")
    values = dict(zip(roster.header, roster.row(1, amount="1000", village="张店村")))
    response = add_line(c, get_csrf, seeded["batch"], values)
    assert response.status_code == 400
    assert "超过本项目标准上限300.00元" in response.text
    assert "不属于您负责的乡镇" in response.text
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 0


def seed_lines(config, batch_db, seeded, roster):
    """Two lines in the clerk's township and one in the other township, in the civil batch."""
    from admin import batches
    from admin.models import Batch

    with batch_db.session() as s:
        batch = s.get(Batch, seeded["batch"])
        for i, village in ((1, "王庄村"), (2, "李湾村"), (3, "张店村")):
            line, result = batches.add_line(s, config, batch, dict(zip(roster.header, roster.row(i, village=village))),
                                            actor="seed", scope_region=None)
            assert result.ok, result.issues
    with batch_db.session() as s:
        return {n: id_ for n, id_ in s.execute(select(PaymentLine.line_no, PaymentLine.id))}


def test_township_clerk_sees_and_edits_only_own_township(user_client, seeded, config, batch_db, roster, get_csrf):
    ids = seed_lines(config, batch_db, seeded, roster)
    c = user_client("clerk")
    page = c.get(f"/batches/{seeded['batch']}")
    assert roster.make_name(1) in page.text and roster.make_name(3) not in page.text
    assert "明细 2 行" in page.text
    export = c.get(f"/batches/{seeded['batch']}/export.xlsx")
    from openpyxl import load_workbook
    import io
    names = [row[1] for row in load_workbook(io.BytesIO(export.content)).active.iter_rows(min_row=3, values_only=True)]
    assert sorted(names) == sorted([roster.make_name(1), roster.make_name(2)])
    # the other township's line: neither readable nor changeable
    assert c.get(f"/batches/{seeded['batch']}/lines/{ids[3]}").status_code == 404
    token = get_csrf(c, f"/batches/{seeded['batch']}")
    r = c.post(f"/batches/{seeded['batch']}/lines/{ids[3]}", data={**dict(zip(roster.header, roster.row(3, amount="60"))),
                                                                  "csrf_token": token})
    assert r.status_code == 404
    r = c.post(f"/batches/{seeded['batch']}/lines/delete", data={"line_id": [str(ids[3])], "confirm": "yes",
                                                                 "csrf_token": token})
    assert r.status_code == 404
    with batch_db.session() as s:
        assert s.get(PaymentLine, ids[3]) is not None


def test_department_sees_only_its_projects(user_client, seeded, config, batch_db, roster):
    seed_lines(config, batch_db, seeded, roster)
    agri = user_client("agri_op")
    listing = agri.get("/batches")
    assert seeded["batch_code"] not in listing.text
    assert agri.get(f"/batches/{seeded['batch']}").status_code == 404
    assert agri.get(f"/batches/{seeded['batch']}/export.xlsx").status_code == 404
    civil = user_client("civil_op")
    assert seeded["batch_code"] in civil.get("/batches").text
    assert "明细 3 行" in civil.get(f"/batches/{seeded['batch']}").text


def test_auditor_reads_everything_in_region_and_changes_nothing(user_client, seeded, config, batch_db, roster, get_csrf,
                                                                unchanged):
    ids = seed_lines(config, batch_db, seeded, roster)
    auditor = user_client("auditor")
    assert "明细 3 行" in auditor.get(f"/batches/{seeded['batch']}").text
    assert auditor.get("/audit").status_code == 200
    token = get_csrf(auditor, f"/batches/{seeded['batch']}")
    with unchanged():
        r = auditor.post(f"/batches/{seeded['batch']}/lines/delete", data={"line_id": [str(ids[1])], "confirm": "yes",
                                                                           "csrf_token": token})
        assert r.status_code == 403
        assert auditor.get(f"/batches/{seeded['batch']}/lines/{ids[1]}").status_code == 403
    other = user_client("other_auditor")
    assert other.get(f"/batches/{seeded['batch']}").status_code == 404
    assert seeded["batch_code"] not in other.get("/batches").text
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 3


def test_finance_and_bank_cannot_edit_rosters(user_client, seeded, get_csrf, roster, unchanged):
    for username in ("finance", "bank"):
        c = user_client(username)
        token = get_csrf(c, "/batches")
        with unchanged():
            r = c.post(f"/batches/{seeded['batch']}/lines", data={**dict(zip(roster.header, roster.row(1))),
                                                                  "csrf_token": token})
            assert r.status_code == 403


def test_import_mixed_file_is_staged_fixed_and_committed(user_client, seeded, get_csrf, roster, batch_db):
    c = user_client("clerk")
    bad = roster.row(3, amount="999")
    data = roster.csv([roster.row(1), roster.row(2, village="李湾村"), bad])
    token = get_csrf(c, f"/batches/{seeded['batch']}")
    r = c.post(f"/batches/{seeded['batch']}/import", data={"csrf_token": token},
               files={"file": ("花名册.csv", data, "text/csv")}, follow_redirects=False)
    staged_url = r.headers["location"]
    assert "/imports/" in staged_url
    page = c.get(staged_url)
    assert "1 行有问题" in page.text and "超过本项目标准上限" in page.text
    assert re.search(r"<td>4</td>", page.text)  # spreadsheet line 4
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 0
    report = c.get(staged_url + "/report.xlsx")
    from openpyxl import load_workbook
    import io
    rows = list(load_workbook(io.BytesIO(report.content)).active.iter_rows(values_only=True))
    assert rows[1][0] == 4 and "标准上限" in rows[1][-1]
    fixed = dict(zip(roster.header, roster.row(3, amount="200")))
    r = c.post(staged_url + "/lines/4", data={**fixed, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    r = c.post(staged_url + "/commit", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert "已导入 3 行" in c.get(r.headers["location"]).text
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 3
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "roster.import")).scalar_one().after["lines"] == 3


def test_import_wrong_columns_is_explained(user_client, seeded, get_csrf, roster):
    c = user_client("clerk")
    token = get_csrf(c, f"/batches/{seeded['batch']}")
    r = c.post(f"/batches/{seeded['batch']}/import", data={"csrf_token": token},
               files={"file": ("x.csv", roster.csv([["a"]], header=["姓名"]), "text/csv")})
    assert "表头缺少以下列" in r.text


def test_batch_only_for_published_policy_of_this_year(user_client, seeded, batch_db, get_csrf):
    from admin.models import Policy
    from core.timeutil import today

    c = user_client("civil_op")
    token = get_csrf(c, "/batches/new")
    form = {"project_id": str(seeded["project"]), "region_code": "410423", "year": str(today().year),
            "period": f"{today().year}-02", "title": "二月", "csrf_token": token}
    r = c.post("/batches", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/batches/")
    with batch_db.session() as s:
        s.get(Policy, seeded["policy"]).status = "draft"
    r = c.post("/batches", data={**form, "period": f"{today().year}-03"})
    assert "不在" in r.text and "政策清单" in r.text
    # a project of another department
    r = c.post("/batches", data={**form, "project_id": str(seeded["project2"])})
    assert "请选择您负责的补贴项目" in r.text


def test_policy_change_review_and_publication_through_outbox(user_client, seeded, get_csrf, batch_db, unchanged):
    op = user_client("civil_op")
    token = get_csrf(op, f"/policies/{seeded['policy']}")
    r = op.post(f"/policies/{seeded['policy']}/changes", data={"summary": "提高标准", "standard": "每人每月200元",
                                                                 "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    # the agriculture department may not touch it
    agri = user_client("agri_op")
    t2 = get_csrf(agri, "/policies")
    with unchanged():
        assert agri.post(f"/policies/{seeded['policy']}/changes", data={"summary": "x", "standard": "y",
                                                                         "csrf_token": t2}).status_code == 403
    reviewer = user_client("civil_rev")
    page = reviewer.get(f"/policies/{seeded['policy']}")
    change_id = re.search(r"/policy-changes/(\d+)/review", page.text).group(1)
    t3 = get_csrf(reviewer, f"/policies/{seeded['policy']}")
    reviewer.post(f"/policy-changes/{change_id}/review", data={"decision": "approve", "csrf_token": t3})
    with batch_db.session() as s:
        from admin.models import Policy
        assert s.get(Policy, seeded["policy"]).standard == "每人每月200元"
        topics = [(e.topic, e.key) for e in s.execute(select(OutboxEntry)).scalars()]
        assert ("policy", str(seeded["policy"])) in topics


def test_persons_import_search_and_card_history(user_client, seeded, get_csrf, roster, batch_db, config):
    c = user_client("civil_op")
    header = ["姓名", "身份证号", "社保卡号", "区划代码", "开户银行"]
    first = roster.csv([[roster.make_name(5), roster.make_id(5), roster.make_card(5), "410423100001", "农商银行"]],
                       header=header)
    token = get_csrf(c, "/persons")
    r = c.post("/persons/import", data={"csrf_token": token}, files={"file": ("p.csv", first, "text/csv")})
    assert "新增 1 人" in r.text
    second = roster.csv([[roster.make_name(5), roster.make_id(5), roster.make_card(6), "410423100001", "农商银行"]],
                        header=header)
    r = c.post("/persons/import", data={"csrf_token": token}, files={"file": ("p.csv", second, "text/csv")})
    assert "新登记社保卡 1 张" in r.text
    found = c.get("/persons", params={"q": roster.make_id(5)})
    person_url = re.search(r'href="(/persons/\d+)"', found.text).group(1)
    detail = c.get(person_url)
    assert "已注销" in detail.text and roster.make_card(6)[-4:] in detail.text
    # another township's clerk finds nothing
    other = user_client("clerk2")
    assert "没有找到" in other.get("/persons", params={"q": roster.make_id(5)}).text
    assert other.get(person_url).status_code == 404
    # a roster line with the old card is now refused
    clerk = user_client("clerk")
    r = add_line(clerk, get_csrf, seeded["batch"], dict(zip(roster.header, roster.row(5))))
    assert "卡号不一致" in r.text or "已注销" in r.text


def test_reference_list_blocks_a_line(user_client, seeded, get_csrf, roster):
    c = user_client("civil_op")
    token = get_csrf(c, "/persons")
    data = roster.csv([[roster.make_id(7), "2024-05-01"]], header=["身份证号", "死亡日期"])
    r = c.post("/references/import", data={"csrf_token": token, "list_kind": "deceased", "region_code": "410423"},
               files={"file": ("d.csv", data, "text/csv")})
    assert "新增 1 人" in r.text
    clerk = user_client("clerk")
    r = add_line(clerk, get_csrf, seeded["batch"], dict(zip(roster.header, roster.row(7))))
    assert r.status_code == 400 and "死亡人员" in r.text


def test_bad_page_number_is_a_clear_400(user_client):
    c = user_client("clerk")
    r = c.get("/batches", params={"page": "abc"})
    assert r.status_code == 400 and "页码" in r.text
