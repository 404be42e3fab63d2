"""The complaint workflow as a service: holder, states, deadlines in working days, statistics."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from admin.access.roles import actor_of
from admin.audit import trail
from admin.actions import WorkflowError
from admin.complaints import workflow
from admin.complaints.workflow import Limits
from admin.models import AuditEntry, Complaint, ComplaintEvent, DeadlineOverride, Operator, OutboxEntry
from core.workdays import add_workdays, workdays_between

# National Day 2024: 10-01 … 10-07 off, Sunday 09-29 and Saturday 10-12 are make-up working days.
BEFORE_HOLIDAY = date(2024, 9, 30)


def actor(s, username):
    return actor_of(s, s.scalars(select(Operator).where(Operator.username == username)).one())


def act(batch_db, username, case_id, name, today=BEFORE_HOLIDAY, limits=Limits(), **form):
    with batch_db.session() as s:
        return workflow.perform(s, actor(s, username), case_id, name, form, today, limits)


def names(batch_db, username, case_id):
    with batch_db.session() as s:
        return [a.name for a in workflow.available_actions(s, actor(s, username), s.get(Complaint, case_id))]


def test_the_answer_deadline_counts_working_days_around_national_day(seeded, batch_db, take_in) -> None:
    complaint = take_in(BEFORE_HOLIDAY)
    request = take_in(BEFORE_HOLIDAY, kind="disclosure_request", days=20)
    with batch_db.session() as s:
        case, disclosure = s.get(Complaint, complaint), s.get(Complaint, request)
        # 15 working days after 9-30: the holiday week is skipped, the make-up Saturday 10-12 counts
        assert case.due_on == date(2024, 10, 25)
        assert disclosure.due_on == date(2024, 11, 1)
        info = workflow.case_info(case, today=date(2024, 10, 7))  # last day of the holiday: none used yet
        assert info.days_left == 15 and not info.overdue
        assert workflow.case_info(case, today=date(2024, 10, 28)).overdue
        assert workflow.case_info(case, today=date(2024, 10, 25)).due_soon
    assert workdays_between(BEFORE_HOLIDAY, date(2024, 10, 25)) == 15


def test_an_override_for_the_region_wins_and_reopening_starts_a_fresh_period(seeded, batch_db, take_in) -> None:
    with batch_db.session() as s:
        s.add(DeadlineOverride(step="complaint_answer", days=10, region_code="410423", source="鲁山县投诉办理规定"))
    case_id = take_in(BEFORE_HOLIDAY)
    other = take_in(BEFORE_HOLIDAY, region_code="410482100001", project_code=None)
    with batch_db.session() as s:
        assert s.get(Complaint, case_id).due_on == add_workdays(BEFORE_HOLIDAY, 10) == date(2024, 10, 18)
        assert s.get(Complaint, other).due_on == date(2024, 10, 25)  # another county: what filing promised
    for name, form in (("accept", {}), ("start", {}), ("answer", {"answer": "已补发。"})):
        act(batch_db, "civil_op", case_id, name, **form)
    # the complainant disputes the answer on the Friday before the holiday: 10 fresh working days
    result = act(batch_db, "civil_op", case_id, "reopen", today=date(2024, 9, 27), limits=Limits(15, 20),
                 reason="反映人来电，对答复有异议")
    assert result.to_state == "in_progress" and result.due_on == add_workdays(date(2024, 9, 27), 10)
    assert result.due_on == date(2024, 10, 16)  # 9-29 (Sunday) and 10-12 (Saturday) are make-up days; 10-1…10-7 off


def test_the_configured_default_applies_when_no_override_matches(seeded, batch_db, take_in) -> None:
    case_id = take_in(BEFORE_HOLIDAY)
    for name, form in (("accept", {}), ("start", {}), ("answer", {"answer": "答复"})):
        act(batch_db, "civil_op", case_id, name, **form)
    result = act(batch_db, "civil_op", case_id, "reopen", limits=Limits(complaint_days=5), reason="有异议")
    assert result.due_on == add_workdays(BEFORE_HOLIDAY, 5) == date(2024, 10, 12)  # the make-up Saturday


def test_each_step_writes_its_event_audit_entry_and_outbox_entry(seeded, batch_db, take_in) -> None:
    case_id = take_in()
    with batch_db.session() as s:
        case = s.get(Complaint, case_id)
        assert case.department_id == seeded["civil"] and case.status == "received"
        code = case.tracking_code
    assert names(batch_db, "civil_op", case_id) == ["accept", "reject", "assign"]
    assert names(batch_db, "agri_op", case_id) == []  # another department's case
    assert names(batch_db, "auditor", case_id) == []  # read only
    act(batch_db, "civil_op", case_id, "accept", comment="已登记")
    assert names(batch_db, "civil_rev", case_id) == ["assign", "start"]
    act(batch_db, "civil_rev", case_id, "start")
    result = act(batch_db, "civil_rev", case_id, "answer", answer="经核实，3月高龄津贴已于4月2日补发到社保卡。",
                 comment="电话告知")
    assert result.to_state == "answered"
    act(batch_db, "civil_op", case_id, "close")
    with batch_db.session() as s:
        case = s.get(Complaint, case_id)
        assert case.status == "closed" and case.answer_unit == "鲁山县民政局" and case.answered_by == "civil_rev"
        events = list(s.scalars(select(ComplaintEvent).where(ComplaintEvent.complaint_id == case_id)
                                .order_by(ComplaintEvent.id)))
        assert [(e.action, e.actor, e.to_state) for e in events] == [
            ("receive", "portal", "received"), ("accept", "civil_op", "accepted"), ("start", "civil_rev", "in_progress"),
            ("answer", "civil_rev", "answered"), ("close", "civil_op", "closed")]
        audit = list(s.scalars(select(AuditEntry).where(AuditEntry.object_type == "complaint").order_by(AuditEntry.id)))
        assert [a.action for a in audit] == ["complaint.receive", "complaint.accept", "complaint.start",
                                             "complaint.answer", "complaint.close"]
        assert audit[1].after["comment"] == "已登记" and audit[3].after["answer_unit"] == "鲁山县民政局"
        assert trail.verify_chain(s) is None
        assert s.scalars(select(OutboxEntry.key).where(OutboxEntry.topic == "complaint")).all() == [code] * 4


def test_referral_moves_the_case_to_another_department_or_level(seeded, batch_db, take_in) -> None:
    case_id = take_in()
    act(batch_db, "civil_op", case_id, "accept")
    with pytest.raises(WorkflowError) as refused:
        act(batch_db, "civil_op", case_id, "assign", department=str(seeded["civil"]), comment="转办")
    assert refused.value.code == "same_holder" and refused.value.status == 400
    with pytest.raises(WorkflowError) as refused:
        act(batch_db, "civil_op", case_id, "assign", department=str(seeded["agri"]))
    assert refused.value.code == "missing_field" and refused.value.field == "comment"
    result = act(batch_db, "civil_op", case_id, "assign", department=str(seeded["agri"]),
                 comment="反映的是耕地补贴，转农业农村局")
    assert result.to_state == "received" and "鲁山县农业农村局" in result.message
    assert names(batch_db, "civil_op", case_id) == []
    assert names(batch_db, "agri_op", case_id) == ["accept", "reject", "assign"]
    # to the township level: the township's clerk holds it, no department does
    act(batch_db, "agri_op", case_id, "assign", department="", region="410423100", comment="请乡镇核实")
    assert names(batch_db, "agri_op", case_id) == []
    assert names(batch_db, "clerk2", case_id) == []
    assert names(batch_db, "clerk", case_id) == ["accept", "reject", "assign"]
    act(batch_db, "clerk", case_id, "accept")
    act(batch_db, "clerk", case_id, "start")
    act(batch_db, "clerk", case_id, "answer", answer="已核实并补发。")
    with batch_db.session() as s:
        assert s.get(Complaint, case_id).answer_unit == "鲁阳街道"  # the clerk's region: never a person


def test_refusals_say_why_and_change_nothing(seeded, batch_db, take_in, unchanged) -> None:
    case_id = take_in()
    with unchanged():
        for username, name, code in (("civil_op", "answer", "wrong_state"), ("agri_op", "accept", "forbidden"),
                                     ("auditor", "accept", "forbidden"), ("bank", "accept", "forbidden"),
                                     ("civil_op", "promote", "unknown_action"), ("civil_op", "reject", "missing_field")):
            with pytest.raises(WorkflowError) as refused:
                act(batch_db, username, case_id, name)
            assert refused.value.code == code, (username, name)
        with pytest.raises(WorkflowError) as refused:
            act(batch_db, "civil_op", 99999, "accept")
        assert refused.value.status == 404


def test_an_unrouted_case_is_taken_by_the_department_that_accepts_it(seeded, batch_db, take_in) -> None:
    case_id = take_in(project_code=None)
    assert names(batch_db, "agri_op", case_id) == ["accept", "reject", "assign"]
    assert names(batch_db, "clerk", case_id) == ["accept", "reject", "assign"]  # the place's township
    assert names(batch_db, "clerk2", case_id) == []
    act(batch_db, "agri_op", case_id, "accept")
    assert names(batch_db, "civil_op", case_id) == [] and names(batch_db, "clerk", case_id) == []
    with batch_db.session() as s:
        assert s.get(Complaint, case_id).department_id == seeded["agri"]


def test_confidential_tipoffs_are_held_by_the_supervisor_only(seeded, batch_db, take_in, supervisor) -> None:
    case_id = take_in(kind="tipoff", confidential=True)
    not_a_tipoff = take_in(kind="complaint", confidential=True)
    with batch_db.session() as s:
        assert s.get(Complaint, not_a_tipoff).confidential is False  # only a tip-off can be confidential
        assert s.get(Complaint, case_id).department_id == seeded["civil"]  # the department it names
    for username in ("civil_op", "civil_rev", "admin", "auditor", "other_supervisor"):
        assert names(batch_db, username, case_id) == [], username
    assert names(batch_db, "supervisor", case_id) == ["accept", "reject", "assign"]
    act(batch_db, "supervisor", case_id, "accept", comment="纪检受理，举报人信息保密")
    act(batch_db, "supervisor", case_id, "start")
    act(batch_db, "supervisor", case_id, "answer", answer="经调查，反映问题属实，已责令整改并追回资金。")
    with batch_db.session() as s:
        case = s.get(Complaint, case_id)
        assert case.answer_unit == "鲁山县纪委监委"
        accept = s.scalars(select(AuditEntry).where(AuditEntry.action == "complaint.accept")).one()
        assert "comment" not in accept.after and len(accept.after["comment_sha256"]) == 64
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.object_type == "complaint",
                                                          AuditEntry.object_id == str(case_id))))
        assert len(entries) == 4  # receive, accept, start, answer
        for entry in entries:  # system admins read the audit trail: never the department it names
            assert "department_id" not in (entry.before or {}) and "department_id" not in (entry.after or {})


def test_statistics_per_unit_and_kind(seeded, batch_db, take_in, supervisor) -> None:
    on_time = take_in(BEFORE_HOLIDAY)
    late = take_in(BEFORE_HOLIDAY)
    enquiry = take_in(BEFORE_HOLIDAY, kind="enquiry")
    take_in(BEFORE_HOLIDAY)  # still open, overdue by 11-01
    tipoff = take_in(BEFORE_HOLIDAY, kind="tipoff", confidential=True)
    for case_id, day in ((on_time, date(2024, 10, 10)), (late, date(2024, 10, 31)), (enquiry, date(2024, 10, 8))):
        for name, form in (("accept", {}), ("start", {}), ("answer", {"answer": "答复"})):
            act(batch_db, "civil_op", case_id, name, today=day, **form)
    act(batch_db, "supervisor", tipoff, "reject", today=date(2024, 10, 9), reason="不属于补贴资金问题")
    with batch_db.session() as s:
        rows = {(r.unit, r.kind): r.as_dict() for r in workflow.statistics(s, actor(s, "civil_op"),
                                                                            today=date(2024, 11, 1))}
        assert set(rows) == {("鲁山县民政局", "complaint"), ("鲁山县民政局", "enquiry")}  # no tip-off to its name
        complaints = rows[("鲁山县民政局", "complaint")]
        assert (complaints["received"], complaints["finished"], complaints["on_time"]) == (3, 2, 1)
        assert complaints["on_time_rate"] == 0.5 and complaints["open"] == 1 and complaints["overdue_open"] == 1
        # 9-30 → 10-10: 3 working days (10-8, 10-9, 10-10); 9-30 → 10-31: 19 (with the make-up Saturday 10-12)
        assert complaints["average_days"] == 11.0 and complaints["max_days"] == 19
        seen = {(r.unit, r.kind) for r in workflow.statistics(s, actor(s, "supervisor"), today=date(2024, 11, 1))}
        assert ("纪检监察机构", "tipoff") in seen
        assert workflow.statistics(s, actor(s, "civil_op"), year=2023) == []
