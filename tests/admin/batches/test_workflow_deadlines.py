"""Due dates of the approval chain in Chinese working days (holidays and make-up working days),
the deadline overrides a system admin keeps per project and region, and the overdue list."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from admin.batches import service as batches, workflow
from admin.models import AuditEntry, Batch, DeadlineOverride, Project
from admin.actions import WorkflowError
from tests.admin.conftest import TOWNSHIP
from tests.admin.conftest import act, operator
def make_batch(batch_db, config, roster, project_id: int, creator: str, first: int, title: str) -> int:
    with batch_db.session() as s:
        project = s.get(Project, project_id)
        year = date.today().year
        batch = batches.create_batch(s, actor=creator, project=project, region_code=TOWNSHIP, year=year,
                                     period=str(year) if project.period_kind == "year" else f"{year}-01", title=title)
        for i in range(first, first + 2):
            _, result = batches.add_line(s, config, batch, dict(zip(roster.header, roster.row(i))), actor="clerk",
                                         scope_region=TOWNSHIP)
            assert result.ok, result.issues
        return batch.id


@pytest.fixture
def civil_batch(seeded, batch_db, config, roster) -> int:
    return make_batch(batch_db, config, roster, seeded["project"], "civil_op", 1, "高龄津贴")


@pytest.fixture
def agri_batch(seeded, batch_db, config, roster) -> int:
    return make_batch(batch_db, config, roster, seeded["project2"], "agri_op", 11, "耕地地力保护补贴")


def to_approval(batch_db, b: int, submitted: date, publicity: tuple[date, date], closed: date) -> workflow.ActionResult:
    act(batch_db, "clerk", b, "submit", submitted)
    act(batch_db, "civil_rev", b, "review_pass", publicity[0])
    act(batch_db, "civil_op", b, "publicity_open", publicity[0], start=publicity[0], end=publicity[1], place="公开栏")
    return act(batch_db, "civil_op", b, "publicity_close", closed)


def due_names(batch_db, username: str, today: date, **kw: Any) -> list[tuple[str, str, int, bool]]:
    with batch_db.session() as s:
        return [(i.batch_code, i.step, i.days_left, i.overdue)
                for i in workflow.due_work(s, operator(s, username), today, **kw)]


# --- working days -------------------------------------------------------------------------------


def test_first_review_due_across_the_spring_festival(civil_batch, batch_db):
    # Friday 24 Jan 2025 + 3 working days: Sunday 26 Jan (make-up day), Monday 27 Jan, then the
    # holiday 28 Jan – 4 Feb, so Wednesday 5 Feb.
    result = act(batch_db, "clerk", civil_batch, "submit", date(2025, 1, 24))
    assert result.due_on == date(2025, 2, 5)
    with batch_db.session() as s:
        code = s.get(Batch, civil_batch).code
        assert s.get(Batch, civil_batch).step_started_on == date(2025, 1, 24)
    assert due_names(batch_db, "civil_rev", date(2025, 1, 24)) == []
    # on the last working day before the holiday a single working day is left
    assert due_names(batch_db, "civil_rev", date(2025, 1, 27)) == [(code, "first_verification", 1, False)]
    assert due_names(batch_db, "civil_rev", date(2025, 2, 1)) == [(code, "first_verification", 1, False)]
    assert due_names(batch_db, "civil_rev", date(2025, 2, 5)) == [(code, "first_verification", 0, False)]
    assert due_names(batch_db, "civil_rev", date(2025, 2, 6)) == [(code, "first_verification", -1, True)]
    # on Saturday 8 Feb, a make-up working day, it is overdue by three (6, 7 and 8 February)
    assert due_names(batch_db, "civil_rev", date(2025, 2, 8)) == [(code, "first_verification", -3, True)]


def test_publicity_minimum_and_approval_limit_around_national_day(civil_batch, batch_db):
    b = civil_batch
    act(batch_db, "clerk", b, "submit", date(2024, 9, 20))
    act(batch_db, "civil_rev", b, "review_pass", date(2024, 9, 23))
    # publicity from Thursday 26 Sep 2024: 27 Sep, Sunday 29 Sep (make-up), 30 Sep → earliest end 30 Sep
    with pytest.raises(WorkflowError) as info:
        act(batch_db, "civil_op", b, "publicity_open", date(2024, 9, 26), start=date(2024, 9, 26),
            end=date(2024, 9, 29), place="公开栏")
    assert info.value.code == "publicity_too_short" and "2024年9月30日" in info.value.message
    act(batch_db, "civil_op", b, "publicity_open", date(2024, 9, 26), start=date(2024, 9, 26), end=date(2024, 9, 30),
        place="公开栏")
    with pytest.raises(WorkflowError) as info:
        act(batch_db, "civil_op", b, "publicity_close", date(2024, 9, 29))
    assert info.value.code == "publicity_not_over"
    # closed on Monday 30 Sep: approval within 10 working days skips 1–7 October and counts
    # Saturday 12 October (make-up day): 8, 9, 10, 11, 12, 14, 15, 16, 17, 18 October
    result = act(batch_db, "civil_op", b, "publicity_close", date(2024, 9, 30))
    assert (result.to_state, result.due_on) == ("approval", date(2024, 10, 18))
    result = act(batch_db, "civil_rev", b, "approve", date(2024, 10, 8))
    assert result.due_on == date(2024, 10, 14)  # 9, 10, 11, 12 (Saturday, make-up), 14 October


# --- deadline overrides -----------------------------------------------------------------------------


def test_a_system_admin_overrides_a_limit_per_project_and_region_and_it_is_audited(
        civil_batch, county_admin, batch_db):
    with batch_db.session() as s:
        # the province-wide admin sets a region rule, the county admin a tighter rule for one project
        workflow.set_deadline_override(s, operator(s, "admin"), {"step": "approval", "days": "12", "region_code": "41",
                                                                 "source": "省实施细则"})
        row = workflow.set_deadline_override(s, operator(s, "county_admin"), {
            "step": "approval", "days": "7", "region_code": "410423", "project_code": "GLJT-410423",
            "source": "鲁山县实施方案"})
        override_id = row.id
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "deadline.set").order_by(AuditEntry.id)).scalars().all()
        assert [(e.actor, e.after["days"], e.before) for e in entries] == [("admin", 12, None), ("county_admin", 7, None)]
    # the project rule wins: 7 working days from Monday 30 Sep 2024 are 8–12 (Saturday, make-up), 14, 15 Oct
    result = to_approval(batch_db, civil_batch, date(2024, 9, 20), (date(2024, 9, 23), date(2024, 9, 26)),
                         date(2024, 9, 30))
    assert result.due_on == date(2024, 10, 15)
    with batch_db.session() as s:
        # changing it updates the row (one row per step, project and region) and audits before/after
        workflow.set_deadline_override(s, operator(s, "county_admin"), {
            "step": "approval", "days": "8", "region_code": "410423", "project_code": "GLJT-410423"})
        assert s.execute(select(func.count(DeadlineOverride.id))).scalar_one() == 2
        last = s.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
        assert (last.action, last.before["days"], last.after["days"]) == ("deadline.set", 7, 8)
        assert [o.days for o in workflow.list_deadline_overrides(s, operator(s, "county_admin"))] == [12, 8]
        workflow.delete_deadline_override(s, operator(s, "county_admin"), override_id)
        assert s.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one().action == "deadline.delete"
        assert workflow.deadline_overrides(s) == [{"step": "approval", "days": 12, "project_code": None,
                                                   "region_code": "41", "source": "省实施细则"}]


@pytest.mark.parametrize(("username", "form", "code"), [
    ("clerk", {"step": "approval", "days": "7", "region_code": "410423100"}, "forbidden"),
    ("civil_rev", {"step": "approval", "days": "7", "region_code": "410423"}, "forbidden"),
    ("county_admin", {"step": "approval", "days": "7", "region_code": "410482"}, "forbidden"),
    ("county_admin", {"step": "publicity", "days": "2", "region_code": "410423"}, "bad_days"),
    ("county_admin", {"step": "approval", "days": "0", "region_code": "410423"}, "bad_days"),
    ("county_admin", {"step": "approval", "days": "7.5", "region_code": "410423"}, "bad_days"),
    ("county_admin", {"step": "approval", "days": "七", "region_code": "410423"}, "bad_number"),
    ("county_admin", {"step": "approval_x", "days": "7", "region_code": "410423"}, "bad_option"),
    ("county_admin", {"step": "approval", "days": "7", "region_code": "41042A"}, "bad_region"),
    ("county_admin", {"step": "approval", "days": "7", "region_code": "410423", "project_code": "NOPE"}, "bad_project"),
    ("county_admin", {"days": "7", "region_code": "410423"}, "missing_field"),
])
def test_override_refusals_change_nothing(county_admin, batch_db, username, form, code):
    with batch_db.session() as s:
        with pytest.raises(WorkflowError) as info:
            workflow.set_deadline_override(s, operator(s, username), form)
        assert info.value.code == code
    with batch_db.session() as s:
        assert s.execute(select(func.count(DeadlineOverride.id))).scalar_one() == 0
        assert s.execute(select(func.count(AuditEntry.id)).where(AuditEntry.action.like("deadline.%"))).scalar_one() == 0


def test_a_longer_publicity_minimum_set_for_the_county_applies(civil_batch, county_admin, batch_db):
    with batch_db.session() as s:
        workflow.set_deadline_override(s, operator(s, "county_admin"),
                                       {"step": "publicity", "days": "5", "region_code": "410423"})
    act(batch_db, "clerk", civil_batch, "submit", date(2025, 1, 20))
    act(batch_db, "civil_rev", civil_batch, "review_pass", date(2025, 1, 21))
    with pytest.raises(WorkflowError) as info:  # 5 working days from 22 Jan 2025 reach past the Spring Festival
        act(batch_db, "civil_op", civil_batch, "publicity_open", date(2025, 1, 22), start=date(2025, 1, 22),
            end=date(2025, 1, 27), place="公开栏")
    assert "不少于5个工作日" in info.value.message and "2025年2月5日" in info.value.message
    result = act(batch_db, "civil_op", civil_batch, "publicity_open", date(2025, 1, 22), start=date(2025, 1, 22),
                 end=date(2025, 2, 5), place="公开栏")
    assert result.due_on == date(2025, 2, 5)


# --- the overdue list ----------------------------------------------------------------------------


def test_overdue_work_per_step_and_department_in_the_operators_scope(civil_batch, agri_batch, batch_db):
    act(batch_db, "clerk", civil_batch, "submit", date(2025, 3, 3))   # first review due 6 March
    act(batch_db, "agri_op", agri_batch, "submit", date(2025, 3, 5))  # due 10 March
    with batch_db.session() as s:
        civil_code, agri_code = s.get(Batch, civil_batch).code, s.get(Batch, agri_batch).code
    on = date(2025, 3, 7)
    assert due_names(batch_db, "auditor", on) == [(civil_code, "first_verification", -1, True),
                                                 (agri_code, "first_verification", 1, False)]
    with batch_db.session() as s:
        items = workflow.due_work(s, operator(s, "auditor"), on)
        assert [(i.department, i.step_label) for i in items] == [("鲁山县民政局", "初审"), ("鲁山县农业农村局", "初审")]
        assert items[0].as_dict()["due_on"] == "2025-03-06"
    assert due_names(batch_db, "civil_rev", on) == [(civil_code, "first_verification", -1, True)]
    assert due_names(batch_db, "agri_op", on) == [(agri_code, "first_verification", 1, False)]
    assert due_names(batch_db, "other_auditor", on) == []
    assert due_names(batch_db, "clerk2", on) == []
    # a role's own list: only the steps that role acts on
    assert due_names(batch_db, "civil_rev", on, acting_only=True) == [(civil_code, "first_verification", -1, True)]
    assert due_names(batch_db, "finance", on, acting_only=True) == []
    assert due_names(batch_db, "auditor", date(2025, 3, 4)) == []
