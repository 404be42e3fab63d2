"""The approval chain (admin/batches/workflow.py) on a real database: one township batch walked through
submit → return → resubmit → first review → publicity (objections) → approval → finance check →
payment request by one operator per role; every other operator is refused and changes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from admin.access import operators, roles
from admin.audit import trail as audit
from admin.batches import service as batches, workflow
from admin.models import (
    AuditEntry,
    Batch,
    CardAccount,
    Objection,
    OutboxEntry,
    PaymentLine,
    PaymentRequest,
    Project,
    PublicityPosting,
    WorkflowEvent,
)
from admin.actions import FIELD_TYPES, WorkflowError
from tests.admin.conftest import COUNTY, TEST_PASSWORD, TOWNSHIP
from tests.admin.conftest import test_password_hash as password_hash
from tests.admin.conftest import act, operator

BANK_A, BANK_B = "鲁山农商银行", "中国邮政储蓄银行"
# line no → (village, card bank)
LINES = {1: ("王庄村", BANK_A), 2: ("李湾村", BANK_A), 3: ("王庄村", BANK_B), 4: ("李湾村", BANK_B), 5: ("王庄村", "")}


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def chain(seeded, batch_db, config, roster) -> dict[str, Any]:
    """A draft batch of the clerk's township with five clean lines entered by the clerk, plus a second
    reviewer of the department, a reviewer of another department and a finance reviewer of another county."""
    with batch_db.session() as s:
        for username, role, region, dept, projects in (
            ("civil_rev2", "department_reviewer", COUNTY, "MZ410423", [seeded["project"]]),
            ("agri_rev", "department_reviewer", COUNTY, "NY410423", [seeded["project2"]]),
            ("far_finance", "finance_reviewer", "410482", None, []),
        ):
            operators.create_operator(s, config, actor="seed", username=username, name="测试员", role=role,
                                      region_code=region, password=TEST_PASSWORD, department_code=dept,
                                      project_ids=projects, must_change_password=False,
                                      password_hash=password_hash())
        project = s.get(Project, seeded["project"])
        year = date.today().year
        batch = batches.create_batch(s, actor="civil_op", project=project, region_code=TOWNSHIP, year=year,
                                     period=f"{year}-09", title="鲁阳街道高龄津贴9月")
        for i, (village, bank) in LINES.items():
            line, result = batches.add_line(s, config, batch, dict(zip(roster.header, roster.row(i, village=village))),
                                            actor="clerk", scope_region=TOWNSHIP)
            assert result.ok, result.issues
            s.flush()
            s.get(CardAccount, line.card_account_id).bank_name = bank  # as registered by the person import
        batch_id = batch.id
    return {"batch": batch_id}
def refused(batch_db, username: str, batch_id: int, name: str, today: date, **form: Any) -> WorkflowError:
    before = snapshot(batch_db, batch_id)
    with pytest.raises(WorkflowError) as info:
        act(batch_db, username, batch_id, name, today, **form)
    assert snapshot(batch_db, batch_id) == before
    return info.value


def names(batch_db, username: str, batch_id: int, today: date) -> set[str]:
    with batch_db.session() as s:
        return {a.name for a in workflow.available_actions(s, operator(s, username), s.get(Batch, batch_id), today=today)}


def count(s, model) -> int:
    return s.execute(select(func.count()).select_from(model)).scalar_one()


def snapshot(batch_db, batch_id: int) -> tuple:
    """Everything an action may change."""
    with batch_db.session() as s:
        b = s.get(Batch, batch_id)
        lines = tuple(s.execute(select(PaymentLine.id, PaymentLine.state, PaymentLine.amount, PaymentLine.check_issues,
                                       PaymentLine.failure_code, PaymentLine.failure_reason)
                                .where(PaymentLine.batch_id == batch_id).order_by(PaymentLine.id)).all())
        return (b.state, b.step_started_on, b.step_due_on, b.publicity_start, b.publicity_end, b.publicity_place,
                count(s, WorkflowEvent), count(s, AuditEntry), count(s, OutboxEntry), count(s, Objection),
                count(s, PublicityPosting), count(s, PaymentRequest), lines)


def batch_row(batch_db, batch_id: int) -> Batch:
    with batch_db.session() as s:
        return s.get(Batch, batch_id)


def line(batch_db, batch_id: int, line_no: int) -> PaymentLine:
    with batch_db.session() as s:
        return s.execute(select(PaymentLine).where(PaymentLine.batch_id == batch_id,
                                                   PaymentLine.line_no == line_no)).scalar_one()


USERS = ("admin", "clerk", "clerk2", "civil_op", "civil_rev", "civil_rev2", "agri_op", "agri_rev", "finance",
         "far_finance", "bank", "auditor", "other_auditor")
# who has the role and the scope for each action on the township batch of the civil department
ROLE_SCOPE: dict[str, set[str]] = {
    "submit": {"clerk", "civil_op"},
    "review_pass": {"civil_rev", "civil_rev2"},
    "return": {"civil_rev", "civil_rev2", "finance"},
    "publicity_open": {"civil_op", "civil_rev", "civil_rev2"},
    "objection": {"civil_op", "civil_rev", "civil_rev2"},
    "publicity_close": {"civil_op", "civil_rev", "civil_rev2"},
    "approve": {"civil_rev", "civil_rev2"},
    "finance_pass": {"finance"},
    "payment_request": {"finance"},
    "cancel": {"civil_op"},
    "publicity_posting": {"clerk", "civil_op", "civil_rev", "civil_rev2"},
    # money out and back (admin/bank, tests/admin/bank)
    "bank_export": {"bank", "finance"},
    "bank_import": {"bank"},
    "correct_failed": {"clerk", "civil_op"},
    "reissue": {"civil_op"},
    "return_unpaid": {"civil_op"},
    "publish": {"civil_op", "civil_rev", "civil_rev2"},
}


def role_scope(name: str, state: str) -> set[str]:
    if name == "return" and state in ("submitted", "approval"):
        return {"civil_rev", "civil_rev2"}
    if name == "return" and state == "finance_check":
        return {"finance"}
    return ROLE_SCOPE[name]  # in other states: 403 for the wrong roles, 409 (wrong state) for the others


def plausible_form(name: str, today: date) -> dict[str, Any]:
    return {"return": {"reason": "请核实"}, "cancel": {"reason": "重复建立"},
            "publicity_open": {"start": today, "end": date(today.year, 12, 31), "place": "村务公开栏"},
            "objection": {"line_no": 1, "outcome": "dismiss", "reason": "经核实无误"},
            "publicity_posting": {"village": "410423100001", "place": "王庄村村委会公开栏", "posted_on": today},
            }.get(name, {})


def assert_only(batch_db, batch_id: int, today: date, expected: dict[str, set[str]]) -> None:
    """Exactly the expected operators see each action; everyone else is refused when trying it,
    with 403 when role or scope is wrong, and nothing changes."""
    for username in USERS:
        mine = {name for name, users in expected.items() if username in users}
        assert names(batch_db, username, batch_id, today) == mine, username
    before = snapshot(batch_db, batch_id)
    state = before[0]
    for username in USERS:
        for name in workflow.SPECS:
            if username in expected.get(name, set()):
                continue
            with pytest.raises(WorkflowError) as info:
                act(batch_db, username, batch_id, name, today, **plausible_form(name, today))
            if username not in role_scope(name, state):
                assert info.value.status == 403 and info.value.code == "forbidden", (username, name, info.value.code)
            else:
                assert info.value.status in (400, 409), (username, name, info.value.code)
    assert snapshot(batch_db, batch_id) == before


# --- the whole chain ------------------------------------------------------------------------------


def test_one_batch_through_the_whole_chain(chain, batch_db, config, roster):
    b = chain["batch"]
    poster = {"clerk", "civil_op", "civil_rev", "civil_rev2"}

    # draft: the township clerk (or the department operator) submits
    assert_only(batch_db, b, date(2025, 9, 22), {"submit": {"clerk", "civil_op"}, "cancel": {"civil_op"}})
    result = act(batch_db, "clerk", b, "submit", date(2025, 9, 22))
    assert (result.from_state, result.to_state, result.due_on) == ("draft", "submitted", date(2025, 9, 25))
    assert "初审" in result.message and "2025年9月25日" in result.message

    # first review returns it, with a remark on line 2
    assert_only(batch_db, b, date(2025, 9, 23), {"review_pass": {"civil_rev", "civil_rev2"},
                                                 "return": {"civil_rev", "civil_rev2"}, "cancel": {"civil_op"}})
    result = act(batch_db, "civil_rev", b, "return", date(2025, 9, 23), reason="部分人员信息有误",
                 line_remarks="2：姓名与社会保障卡登记不一致")
    assert (result.to_state, result.due_on) == ("returned", date(2025, 9, 26))
    assert line(batch_db, b, 2).check_issues == [{"code": "RETURNED", "message": "初审退回：姓名与社会保障卡登记不一致"}]

    # back with the clerk: the remarked line blocks re-submission until it is fixed
    assert_only(batch_db, b, date(2025, 9, 24), {"cancel": {"civil_op"}})
    assert refused(batch_db, "clerk", b, "submit", date(2025, 9, 24)).code == "failing_lines"
    with batch_db.session() as s:
        blocked = workflow.blocked_actions(s, operator(s, "clerk"), s.get(Batch, b), today=date(2025, 9, 24))
        assert [(x["name"], x["code"]) for x in blocked] == [("submit", "failing_lines")]
        assert "第 2 行" in blocked[0]["message"]
        fixed = s.execute(select(PaymentLine).where(PaymentLine.batch_id == b, PaymentLine.line_no == 2)).scalar_one()
        outcome = batches.update_line(s, config, fixed, dict(zip(roster.header, roster.row(2, amount="130.00",
                                                                                          village="李湾村"))),
                                      actor="clerk", scope_region=TOWNSHIP)
        assert outcome.ok
    result = act(batch_db, "clerk", b, "submit", date(2025, 9, 24))
    assert (result.from_state, result.to_state, result.due_on) == ("returned", "submitted", date(2025, 9, 28))

    # first review passes; then publicity is opened (the start backdated by a day)
    act(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 25))
    assert batch_row(batch_db, b).state == "submitted"
    assert_only(batch_db, b, date(2025, 9, 26), {"publicity_open": {"civil_op", "civil_rev", "civil_rev2"},
                                                 "return": {"civil_rev", "civil_rev2"}, "cancel": {"civil_op"}})
    for form, code in (({"start": date(2025, 9, 25), "end": date(2025, 9, 28)}, "publicity_too_short"),
                       ({"start": date(2025, 9, 24), "end": date(2025, 10, 9)}, "start_before_review"),
                       ({"start": date(2025, 9, 27), "end": date(2025, 10, 9)}, "future_date"),
                       ({"start": "2025-02-30", "end": date(2025, 10, 9)}, "bad_date")):
        error = refused(batch_db, "civil_op", b, "publicity_open", date(2025, 9, 26), place="各村村务公开栏", **form)
        assert error.code == code and error.status == 400
    # 25 Sep + 3 working days: 26 Sep, Sunday 28 Sep (a make-up working day before National Day), 29 Sep
    error = refused(batch_db, "civil_op", b, "publicity_open", date(2025, 9, 26), place="各村村务公开栏",
                    start=date(2025, 9, 25), end=date(2025, 9, 28))
    assert "最早于2025年9月29日结束" in error.message
    result = act(batch_db, "civil_op", b, "publicity_open", date(2025, 9, 26), start=date(2025, 9, 25),
                 end=date(2025, 9, 29), place="各村村务公开栏、街道办事处公告栏")
    assert (result.to_state, result.due_on) == ("publicity", date(2025, 9, 29))
    with batch_db.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "workflow.publicity_open")).scalar_one()
        assert entry.after["backdated"] is True and entry.after["entered_on"] == "2025-09-26"
        assert entry.after["publicity_start"] == "2025-09-25"

    assert_only(batch_db, b, date(2025, 9, 26), {"objection": {"civil_op", "civil_rev", "civil_rev2"},
                                                 "publicity_posting": poster, "cancel": {"civil_op"}})
    # an objection withdraws line 3
    act(batch_db, "civil_op", b, "objection", date(2025, 9, 26), line_no=3, outcome="withdraw",
        reason="村民反映该对象已于8月去世，经核实属实", received_on=date(2025, 9, 26))
    withdrawn = line(batch_db, b, 3)
    assert withdrawn.state == "withdrawn" and withdrawn.failure_code == "WITHDRAWN_OBJECTION"
    assert withdrawn.failure_reason == "村民反映该对象已于8月去世，经核实属实" and "复核" in withdrawn.advice
    assert refused(batch_db, "civil_op", b, "objection", date(2025, 9, 26), line_no=3, outcome="withdraw",
                   reason="重复").code == "unknown_line"
    # the village board posting is recorded with the batch
    with batch_db.session() as s:
        posted = workflow.record_posting(s, operator(s, "clerk"), b, village_code="410423100001",
                                         place="王庄村村委会村务公开栏", posted_on=date(2025, 9, 25),
                                         photo_ref="uploads/posting-1.jpg", today=date(2025, 9, 26))
    assert (posted.action, posted.to_state) == ("publicity_posting", "publicity") and "王庄村" in posted.message
    # a correction of line 1 on 30 Sep restarts the minimum: 9, 10 and Saturday 11 Oct (make-up day)
    assert refused(batch_db, "civil_op", b, "objection", date(2025, 9, 30), line_no=1, outcome="correct",
                   reason="金额有误", amount="900").code == "amount_out_of_range"
    result = act(batch_db, "civil_op", b, "objection", date(2025, 9, 30), line_no=1, outcome="correct",
                 reason="按实际月份核减", amount="150.00")
    assert result.due_on == date(2025, 10, 11) and batch_row(batch_db, b).publicity_end == date(2025, 10, 11)
    assert line(batch_db, b, 1).amount == Decimal("150.00")
    assert refused(batch_db, "civil_rev", b, "publicity_close", date(2025, 10, 10)).code == "publicity_not_over"
    result = act(batch_db, "civil_rev", b, "publicity_close", date(2025, 10, 11))
    assert (result.to_state, result.due_on) == ("approval", date(2025, 10, 24))

    # approval, then the finance check and the payment request
    assert_only(batch_db, b, date(2025, 10, 13), {"approve": {"civil_rev", "civil_rev2"},
                                                  "return": {"civil_rev", "civil_rev2"},
                                                  "publicity_posting": poster, "cancel": {"civil_op"}})
    result = act(batch_db, "civil_rev", b, "approve", date(2025, 10, 13))
    assert (result.to_state, result.due_on) == ("finance_check", date(2025, 10, 20))
    assert_only(batch_db, b, date(2025, 10, 14), {"finance_pass": {"finance"}, "return": {"finance"},
                                                  "cancel": {"civil_op"}})
    act(batch_db, "finance", b, "finance_pass", date(2025, 10, 14))
    assert_only(batch_db, b, date(2025, 10, 15), {"payment_request": {"finance"}, "return": {"finance"},
                                                  "cancel": {"civil_op"}})
    result = act(batch_db, "finance", b, "payment_request", date(2025, 10, 15))
    assert (result.to_state, result.due_on) == ("bank", date(2025, 10, 17))
    assert result.details["lines"] == 4 and result.details["total"] == "521.00"
    assert {r["bank"]: r["label"] for r in result.details["banks"]} == {BANK_A: BANK_A, BANK_B: BANK_B,
                                                                       "": "未登记开户银行"}
    assert {r["bank"]: (r["count"], r["total"]) for r in result.details["banks"]} == {
        BANK_A: (2, "280.00"), BANK_B: (1, "120.50"), "": (1, "120.50")}
    # at the bank: the bank (and finance) export the bank files, the bank imports the results
    assert_only(batch_db, b, date(2025, 10, 16), {"bank_export": {"bank", "finance"}, "bank_import": {"bank"}})

    with batch_db.session() as s:
        request = s.execute(select(PaymentRequest).where(PaymentRequest.batch_id == b)).scalar_one()
        assert (request.line_count, request.total, request.requested_by) == (4, Decimal("521.00"), "finance")
        assert {x.bank_name: (x.line_count, x.total) for x in request.banks} == {
            BANK_A: (2, Decimal("280.00")), BANK_B: (1, Decimal("120.50")), "": (1, Decimal("120.50"))}
        events = s.execute(select(WorkflowEvent.action, WorkflowEvent.from_state, WorkflowEvent.to_state,
                                  WorkflowEvent.actor).where(WorkflowEvent.batch_id == b)
                           .order_by(WorkflowEvent.id)).all()
        assert [tuple(e) for e in events] == [
            (None, None, "draft", "civil_op"),
            ("submit", "draft", "submitted", "clerk"),
            ("return", "submitted", "returned", "civil_rev"),
            ("submit", "returned", "submitted", "clerk"),
            ("review_pass", "submitted", "submitted", "civil_rev"),
            ("publicity_open", "submitted", "publicity", "civil_op"),
            ("objection", "publicity", "publicity", "civil_op"),
            ("publicity_posting", "publicity", "publicity", "clerk"),
            ("objection", "publicity", "publicity", "civil_op"),
            ("publicity_close", "publicity", "approval", "civil_rev"),
            ("approve", "approval", "finance_check", "civil_rev"),
            ("finance_pass", "finance_check", "finance_check", "finance"),
            ("payment_request", "finance_check", "bank", "finance"),
        ]
        # each action has its audit entry, and the chain holds
        workflow_audits = s.execute(select(func.count(AuditEntry.id)).where(AuditEntry.action.like("workflow.%"))
                                    ).scalar_one()
        assert workflow_audits == 12 and audit.verify_chain(s) is None
        # the public side is told whenever what it shows changes (not for the review/finance passes,
        # nor for the posting record)
        assert s.execute(select(func.count(OutboxEntry.id)).where(OutboxEntry.topic == "batch",
                                                                  OutboxEntry.key == str(b))).scalar_one() == 9
        posting = workflow.postings(s, b)[0]
        assert (posting.village_code, posting.posted_on, posting.photo_ref) == (
            "410423100001", date(2025, 9, 25), "uploads/posting-1.jpg")
        objections = s.scalars(select(Objection).order_by(Objection.id)).all()
        assert [(o.outcome, o.amount_before, o.amount_after) for o in objections] == [
            ("withdraw", Decimal("120.50"), None), ("correct", Decimal("120.50"), Decimal("150.00"))]


# --- separation of duties ---------------------------------------------------------------------------


def test_who_entered_or_submitted_a_batch_cannot_review_or_approve_it(chain, seeded, batch_db, config):
    b = chain["batch"]
    act(batch_db, "civil_op", b, "submit", date(2025, 9, 22))
    # the operator who submitted it is later made a reviewer of the department
    with batch_db.session() as s:
        operators.update_operator(s, operator(s, "civil_op"), actor="admin", role="department_reviewer",
                                  region_code=COUNTY, department_code="MZ410423", project_ids=[seeded["project"]])
    assert names(batch_db, "civil_op", b, date(2025, 9, 23)) == set()
    for name, form in (("review_pass", {}), ("return", {"reason": "自己退回"})):
        error = refused(batch_db, "civil_op", b, name, date(2025, 9, 23), **form)
        assert (error.code, error.status) == ("separation_of_duties", 403)
        assert "不相容" in error.message
    # the clerk who entered the lines likewise (were the clerk made a reviewer)
    with batch_db.session() as s:
        assert {"clerk", "civil_op"} <= workflow.entrants(s, s.get(Batch, b))
    # a reviewer who corrected a line during publicity cannot approve it either; a colleague can
    act(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 23))
    act(batch_db, "civil_rev2", b, "publicity_open", date(2025, 9, 23), start=date(2025, 9, 23),
        end=date(2025, 9, 26), place="村务公开栏")
    act(batch_db, "civil_rev2", b, "objection", date(2025, 9, 24), line_no=2, outcome="correct",
        reason="金额按实际月份核定", amount="100.00")
    act(batch_db, "civil_rev", b, "publicity_close", date(2025, 9, 29))
    assert "approve" not in names(batch_db, "civil_rev2", b, date(2025, 9, 30))
    assert refused(batch_db, "civil_rev2", b, "approve", date(2025, 9, 30)).code == "separation_of_duties"
    assert act(batch_db, "civil_rev", b, "approve", date(2025, 9, 30)).to_state == "finance_check"


def test_finance_never_edits_a_line(chain, batch_db):
    b = chain["batch"]
    for username, name, today, form in (
        ("clerk", "submit", date(2025, 9, 22), {}), ("civil_rev", "review_pass", date(2025, 9, 23), {}),
        ("civil_op", "publicity_open", date(2025, 9, 23), {"start": date(2025, 9, 23), "end": date(2025, 9, 26),
                                                           "place": "村务公开栏"}),
        ("civil_op", "publicity_close", date(2025, 9, 26), {}), ("civil_rev", "approve", date(2025, 9, 29), {}),
    ):
        act(batch_db, username, b, name, today, **form)
    with batch_db.session() as s:
        actions = workflow.available_actions(s, operator(s, "finance"), s.get(Batch, b), today=date(2025, 9, 30))
        finance_return = next(a for a in actions if a.name == "return")
        assert [f.name for f in finance_return.fields] == ["reason"]  # no per-line remarks
        a_line = s.execute(select(PaymentLine).where(PaymentLine.batch_id == b)).scalars().first()
        finance = roles.actor_of(s, operator(s, "finance"))
        assert not roles.can(finance, "line.edit", a_line) and not roles.can(finance, "line.flag", a_line)
    lines_before = snapshot(batch_db, b)[-1]
    result = act(batch_db, "finance", b, "return", date(2025, 9, 30), reason="与预算指标不符",
                 line_remarks="1：金额过高")  # an extra field is ignored: finance writes nothing to a line
    assert result.to_state == "returned"
    assert snapshot(batch_db, b)[-1] == lines_before


# --- preconditions and refusals -------------------------------------------------------------------


def test_an_empty_batch_cannot_move_but_can_be_cancelled(seeded, batch_db):
    b = seeded["batch"]  # the seeded county batch has no lines
    assert names(batch_db, "civil_op", b, date(2025, 3, 3)) == {"cancel"}
    with batch_db.session() as s:
        blocked = workflow.blocked_actions(s, operator(s, "civil_op"), s.get(Batch, b), today=date(2025, 3, 3))
    assert [(x["name"], x["code"]) for x in blocked] == [("submit", "empty_batch")]
    error = refused(batch_db, "civil_op", b, "submit", date(2025, 3, 3))
    assert (error.code, error.status) == ("empty_batch", 409)
    # the county batch is not the township clerk's to submit
    assert refused(batch_db, "clerk", b, "submit", date(2025, 3, 3)).code == "forbidden"
    assert refused(batch_db, "civil_op", b, "cancel", date(2025, 3, 3)).code == "missing_field"
    with batch_db.session() as s:
        outbox_before = count(s, OutboxEntry)
    result = act(batch_db, "civil_op", b, "cancel", date(2025, 3, 3), reason="建错项目，重新建立")
    assert (result.to_state, result.due_on) == ("cancelled", None)
    with batch_db.session() as s:
        assert count(s, OutboxEntry) == outbox_before  # a draft was never public
    assert names(batch_db, "civil_op", b, date(2025, 3, 3)) == set()


def test_a_line_with_failing_checks_cannot_be_submitted(chain, batch_db):
    b = chain["batch"]
    with batch_db.session() as s:
        flagged = s.execute(select(PaymentLine).where(PaymentLine.batch_id == b, PaymentLine.line_no == 4)).scalar_one()
        batches.mark_for_recheck(s, flagged, actor="civil_rev")
    assert names(batch_db, "clerk", b, date(2025, 9, 22)) == set()
    error = refused(batch_db, "clerk", b, "submit", date(2025, 9, 22))
    assert error.code == "failing_lines" and "第 4 行" in error.message


def test_first_review_can_withdraw_a_line_with_a_reason(chain, batch_db):
    b = chain["batch"]
    act(batch_db, "clerk", b, "submit", date(2025, 9, 22))
    with batch_db.session() as s:
        flagged = s.execute(select(PaymentLine).where(PaymentLine.batch_id == b, PaymentLine.line_no == 5)).scalar_one()
        batches.mark_for_recheck(s, flagged, actor="civil_rev")
    assert refused(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 23)).code == "failing_lines"
    assert refused(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 23),
                   withdraw_lines="第九行 不符合").code == "bad_line_notes"
    assert refused(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 23),
                   withdraw_lines="9：不在本批次").code == "unknown_line"
    with batch_db.session() as s:
        outbox_before = count(s, OutboxEntry)
    act(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 23), withdraw_lines="5：享受特困供养，不重复发放")
    withdrawn = line(batch_db, b, 5)
    assert (withdrawn.state, withdrawn.failure_code, withdrawn.failure_reason) == (
        "withdrawn", "WITHDRAWN_REVIEW", "享受特困供养，不重复发放")
    assert withdrawn.advice.startswith("经初审核实")
    with batch_db.session() as s:
        assert count(s, OutboxEntry) == outbox_before + 1  # the withdrawn line leaves the public side
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "line.withdraw")).scalar_one().actor == "civil_rev"
    assert refused(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 23)).code == "already_done"


def test_bad_input_is_refused_with_a_field_and_a_chinese_message(chain, batch_db):
    b = chain["batch"]
    act(batch_db, "clerk", b, "submit", date(2025, 9, 22))
    error = refused(batch_db, "civil_rev", b, "return", date(2025, 9, 23), reason="  ")
    assert (error.code, error.field, error.status, error.message) == ("missing_field", "reason", 400, "请填写「退回原因」。")
    assert refused(batch_db, "civil_rev", b, "return", date(2025, 9, 23), reason="x" * 2001).code == "too_long"
    assert refused(batch_db, "civil_rev", b, "return", date(2025, 9, 23), reason="请核实",
                   line_remarks="1：重复\n1：又一次").code == "bad_line_notes"
    assert refused(batch_db, "civil_rev", b, "publicity_open", date(2025, 9, 23), start="2025-09-23",
                   end="2025-09-30", place="公开栏").code == "review_pending"
    error = refused(batch_db, "civil_rev", b, "no_such_action", date(2025, 9, 23))
    assert (error.code, error.status) == ("unknown_action", 404)
    error = refused(batch_db, "civil_rev", b, "approve", date(2025, 9, 23))
    assert (error.code, error.status) == ("wrong_state", 409) and "待初审" in error.message
    with pytest.raises(WorkflowError) as info:
        act(batch_db, "civil_rev", 10**9, "approve", date(2025, 9, 23))
    assert (info.value.code, info.value.status) == ("not_found", 404)
    act(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 23))
    act(batch_db, "civil_op", b, "publicity_open", date(2025, 9, 23), start="2025-09-23", end="2025-09-26",
        place="公开栏")
    for form, code in (({"line_no": "abc", "outcome": "dismiss", "reason": "x"}, "bad_number"),
                       ({"line_no": "1.5", "outcome": "dismiss", "reason": "x"}, "unknown_line"),
                       ({"line_no": "99999999999", "outcome": "dismiss", "reason": "x"}, "unknown_line"),
                       ({"line_no": "1", "outcome": "ignore", "reason": "x"}, "bad_option"),
                       ({"line_no": "1", "outcome": "correct", "reason": "x"}, "missing_field"),
                       ({"line_no": "1", "outcome": "correct", "reason": "x", "amount": "120.50"}, "same_amount"),
                       ({"line_no": "1", "outcome": "correct", "reason": "x", "amount": "100.001"},
                        "amount_out_of_range"),
                       ({"line_no": "1", "outcome": "dismiss", "reason": "x", "received_on": "2025-09-24"},
                        "future_date")):
        assert refused(batch_db, "civil_op", b, "objection", date(2025, 9, 23), **form).code == code, form
    for form, code in (({"posted_on": "2025-09-24"}, "future_date"),
                       ({"posted_on": "2025-09-23", "removed_on": "2025-09-22"}, "end_before_start"),
                       ({"posted_on": "2025-09-23", "village": "410423101001"}, "bad_option")):
        full = {"village": "410423100001", "place": "公开栏", **form}
        assert refused(batch_db, "clerk", b, "publicity_posting", date(2025, 9, 23), **full).code == code, form
    # dismissing an objection is recorded, changes no line and restarts nothing
    before = snapshot(batch_db, b)
    result = act(batch_db, "civil_op", b, "objection", date(2025, 9, 23), line_no="1", outcome="dismiss",
                 reason="反映金额偏低，经核实标准无误")
    after = snapshot(batch_db, b)
    assert result.due_on == date(2025, 9, 26) and after[-1] == before[-1] and after[8] == before[8]
    assert after[9] == before[9] + 1


def test_cancel_of_a_publicised_batch_withdraws_its_lines_and_tells_the_public_side(chain, batch_db):
    b = chain["batch"]
    act(batch_db, "clerk", b, "submit", date(2025, 9, 22))
    act(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 23))
    act(batch_db, "civil_op", b, "publicity_open", date(2025, 9, 23), start="2025-09-23", end="2025-09-26",
        place="公开栏")
    with batch_db.session() as s:
        outbox_before = count(s, OutboxEntry)
    result = act(batch_db, "civil_op", b, "cancel", date(2025, 9, 24), reason="政策调整，本期停发")
    assert result.to_state == "cancelled"
    with batch_db.session() as s:
        assert count(s, OutboxEntry) == outbox_before + 1
        states = set(s.execute(select(PaymentLine.state, PaymentLine.failure_code)
                               .where(PaymentLine.batch_id == b)).all())
        assert states == {("withdrawn", "BATCH_CANCELLED")}
    assert names(batch_db, "civil_op", b, date(2025, 9, 24)) == set()


def test_actions_as_the_json_twin_lists_them(chain, batch_db):
    b = chain["batch"]
    act(batch_db, "clerk", b, "submit", date(2025, 9, 22))
    act(batch_db, "civil_rev", b, "review_pass", date(2025, 9, 23))
    with batch_db.session() as s:
        actions = workflow.available_actions(s, operator(s, "civil_op"), s.get(Batch, b), today=date(2025, 9, 23))
        listed = [a.as_dict() for a in actions]
    opened = next(a for a in listed if a["name"] == "publicity_open")
    assert opened["label"] == "开始公示" and opened["method"] == "POST"
    assert opened["url"] == f"/batches/{b}/actions/publicity_open"
    assert [(f["name"], f["type"], f["required"]) for f in opened["fields"]] == [
        ("start", "date", True), ("end", "date", True), ("place", "text", True), ("contact", "text", False),
        ("comment", "textarea", False)]
    assert all(set(f) == {"name", "label", "type", "required"} for f in opened["fields"])
    cancel = next(a for a in listed if a["name"] == "cancel")
    assert cancel["fields"] == [{"name": "reason", "label": "撤销原因", "type": "textarea", "required": True}]
    for a in listed:
        for f in a["fields"]:
            assert f["type"] in FIELD_TYPES
    act(batch_db, "civil_op", b, "publicity_open", date(2025, 9, 23), start="2025-09-23", end="2025-09-26",
        place="公开栏")
    with batch_db.session() as s:
        actions = workflow.available_actions(s, operator(s, "civil_op"), s.get(Batch, b), today=date(2025, 9, 23))
        objection = next(a.as_dict() for a in actions if a.name == "objection")
        posting = next(a.as_dict() for a in actions if a.name == "publicity_posting")
        clerk_posting = next(a.as_dict() for a in workflow.available_actions(
            s, operator(s, "clerk"), s.get(Batch, b), today=date(2025, 9, 23)) if a.name == "publicity_posting")
    outcome = next(f for f in objection["fields"] if f["name"] == "outcome")
    assert [o["value"] for o in outcome["options"]] == ["withdraw", "correct", "dismiss"]
    village = next(f for f in posting["fields"] if f["name"] == "village")
    assert village["options"] == [{"value": "410423100001", "label": "王庄村"},
                                  {"value": "410423100002", "label": "李湾村"}]
    assert next(f for f in posting["fields"] if f["name"] == "photo")["type"] == "file"
    assert clerk_posting["name"] == "publicity_posting"


def test_step_info_says_where_the_batch_stands(chain, batch_db):
    b = chain["batch"]
    act(batch_db, "clerk", b, "submit", date(2025, 9, 22))
    batch = batch_row(batch_db, b)
    info = workflow.step_info(batch, date(2025, 9, 24))
    assert (info.step, info.step_label, info.due_on, info.days_left, info.overdue) == (
        "first_verification", "初审", date(2025, 9, 25), 1, False)
    assert info.as_dict()["next_role_labels"] == ["主管部门审核员"]
    # overdue by two working days: Friday 26 and Sunday 28 September (a make-up working day)
    late = workflow.step_info(batch, date(2025, 9, 28))
    assert (late.days_left, late.overdue) == (-2, True)
