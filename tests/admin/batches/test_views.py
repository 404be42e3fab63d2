"""Batch pages through HTTP: line entry, roster import with staged fixes, batch creation, paging."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from admin.models import AuditEntry, PaymentLine
from tests.admin.conftest import add_line


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


def test_bad_page_number_is_a_clear_400(user_client):
    c = user_client("clerk")
    r = c.get("/batches", params={"page": "abc"})
    assert r.status_code == 400 and "页码" in r.text
