"""Overdue work on the web: each role's home page lists what it must act on soon, ``/overdue`` (+ JSON,
Excel) everything due soon or overdue in the operator's scope, per step and department."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook

from admin.batches import service as batches
from admin.models import Project
from tests.admin.conftest import TOWNSHIP, Clock
from tests.admin.conftest import act

EXCEL_FORMULA = '=HYPERLINK("http://example.com","点此核对")'



@pytest.fixture
def clock() -> Clock:
    return Clock(date(2025, 9, 26))


@pytest.fixture
def admin_app(config, seeded, clock):
    from admin.app import create_admin_app

    return create_admin_app(config, today=clock)

def make_batch(batch_db, config, roster, project_id: int, creator: str, first: int, title: str) -> int:
    with batch_db.session() as s:
        project = s.get(Project, project_id)
        year = date.today().year
        batch = batches.create_batch(s, actor=creator, project=project, region_code=TOWNSHIP, year=year,
                                     period=str(year) if project.period_kind == "year" else f"{year}-0{first % 9 + 1}",
                                     title=title)
        for i in range(first, first + 2):
            _, result = batches.add_line(s, config, batch, dict(zip(roster.header, roster.row(i))), actor="clerk",
                                         scope_region=TOWNSHIP)
            assert result.ok, result.issues
        return batch.id


@pytest.fixture
def due(seeded, batch_db, config, roster) -> dict[str, Any]:
    """On Fri 2025-09-26: A (civil) in first review since 9/22, due 9/25 → overdue by 1 working day;
    B (civil) returned on 9/23, correction due 9/26 → due today; C (agri) submitted 9/24, due Sun 9/28
    (a make-up working day) → due in 1 working day."""
    a = make_batch(batch_db, config, roster, seeded["project"], "civil_op", 1, EXCEL_FORMULA + "高龄津贴")
    b = make_batch(batch_db, config, roster, seeded["project"], "civil_op", 11, "高龄津贴（退回）")
    c = make_batch(batch_db, config, roster, seeded["project2"], "agri_op", 21, "耕地地力保护补贴")
    act(batch_db, "civil_op", a, "submit", date(2025, 9, 22))
    act(batch_db, "civil_op", b, "submit", date(2025, 9, 22))
    act(batch_db, "civil_rev", b, "return", date(2025, 9, 23), reason="身份证号有误")
    act(batch_db, "agri_op", c, "submit", date(2025, 9, 24))
    return {"A": a, "B": b, "C": c}


def home_due(client) -> list[int]:
    import re

    page = client.get("/").text
    return [int(n) for n in re.findall(r'<tr class="(?:overdue|due-soon)" data-batch="(\d+)"', page)]


def test_each_home_page_lists_what_its_role_must_act_on(user_client, due):
    a, b = due["A"], due["B"]
    reviewer = user_client("civil_rev")
    assert home_due(reviewer) == [a]
    page = reviewer.get("/").text
    assert "已超期 1 个工作日" in page and "2025年9月25日" in page
    assert home_due(user_client("clerk")) == [b]       # the correction is the clerk's (and the operator's)
    assert home_due(user_client("civil_op")) == [b]
    assert "今天到期" in user_client("civil_op").get("/").text
    for quiet in ("agri_op", "finance", "bank", "auditor"):  # C is the agri reviewer's; auditors act on nothing
        assert home_due(user_client(quiet)) == [], quiet
    assert "目前没有即将到期或已超期" in user_client("finance").get("/").text


def test_overdue_page_per_step_and_department_with_json_and_excel(user_client, due, seeded):
    a, b, c = due["A"], due["B"], due["C"]
    auditor = user_client("auditor")
    body = auditor.get("/overdue.json").json()
    assert (body["today"], body["within"], body["total"], body["overdue"]) == ("2025-09-26", 1, 3, 1)
    assert [(g["step"], g["department"], g["batch_ids"]) for g in body["groups"]] == [
        ("first_verification", "鲁山县民政局", [a]), ("first_verification", "鲁山县农业农村局", [c]),
        ("correction", "鲁山县民政局", [b])]
    items = {i["batch_id"]: i for i in body["items"]}
    assert (items[a]["due_on"], items[a]["days_left"], items[a]["overdue"]) == ("2025-09-25", -1, True)
    assert (items[b]["due_on"], items[b]["days_left"], items[b]["overdue"]) == ("2025-09-26", 0, False)
    assert (items[c]["due_on"], items[c]["days_left"], items[c]["overdue"]) == ("2025-09-28", 1, False)
    assert [i["batch_id"] for i in auditor.get("/overdue.json", params={"within": "0"}).json()["items"]] == [a, b]

    page = auditor.get("/overdue").text
    assert page.index("初审 · 鲁山县民政局") < page.index("初审 · 鲁山县农业农村局") < page.index("退回更正 · 鲁山县民政局")
    assert "共 3 个批次，其中已超期 1 个" in page

    # scope: a department sees its own projects, another county nothing
    assert [i["batch_id"] for i in user_client("agri_op").get("/overdue.json").json()["items"]] == [c]
    assert user_client("other_auditor").get("/overdue.json").json()["items"] == []

    # Excel: one row per batch, text stays text (a title that looks like a formula is not run)
    export = auditor.get("/overdue.xlsx")
    assert export.status_code == 200 and export.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(export.content)).active
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert [(r[0], r[1], r[9], r[10]) for r in rows] == [
        ("初审", "鲁山县民政局", -1, "已超期"), ("初审", "鲁山县农业农村局", 1, "即将到期"),
        ("退回更正", "鲁山县民政局", 0, "即将到期")]
    title_cell = next(row[3] for row in sheet.iter_rows(min_row=3) if row[3].value.startswith("="))
    assert title_cell.data_type == "s" and title_cell.value == EXCEL_FORMULA + "高龄津贴"


def test_overdue_bad_range_is_a_clear_400(user_client, seeded):
    auditor = user_client("auditor")
    for bad in ("abc", "-1", "21", "1.5", "\u00b2"):
        response = auditor.get("/overdue.json", params={"within": bad})
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_within", bad
        assert auditor.get("/overdue", params={"within": bad}).status_code == 400
