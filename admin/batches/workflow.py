"""The approval chain of a batch (审批流程): the one module that moves a batch from state to state.

States are those of :class:`admin.models.BatchState`. The actions, the states they start from,
where they lead and who may take them (the permission is checked by :func:`admin.access.roles.can`,
which also applies the region and project scope)::

    action             from → to                                   permission: roles
    submit             draft, returned → submitted                 batch.submit: township clerk, department operator
    review_pass        submitted (not yet passed) → submitted      batch.review: department reviewer        [SoD]
    return             submitted, approval → returned              batch.review: department reviewer        [SoD]
    return             finance_check → returned                    batch.finance: finance reviewer          [SoD]
    publicity_open     submitted (review passed) → publicity       batch.publicity: department operator, reviewer
    objection          publicity → publicity                       batch.publicity
    publicity_close    publicity (from its earliest end) → approval batch.publicity
    approve            approval → finance_check                    batch.review                             [SoD]
    finance_pass       finance_check (not yet passed) → same       batch.finance                            [SoD]
    payment_request    finance_check (finance passed) → bank       batch.finance                            [SoD]
    cancel             draft … finance_check, returned → cancelled batch.cancel: department operator
    publicity_posting  publicity, approval → same                  batch.posting: clerk, department roles
    bank_export        bank, paid, published → same (GET, a file)  batch.bank_export: bank operator, finance
    bank_import        bank → paid (every line has its result),    batch.bank_import: bank operator
                       else → same; paid, published → same
    correct_failed     bank, paid, published → same                batch.correct: clerk, department operator
    reissue            bank, paid, published → same (补发)          batch.reissue: department operator
    return_unpaid      bank, paid, published → same (退回)          batch.return_unpaid: department operator
    publish            paid → published                            batch.publish: department operator, reviewer

Money out and back (admin/bank): ``bank_export``, ``bank_import``, ``correct_failed``, ``reissue``
and ``return_unpaid`` have no handler here (``run`` is None): they need the configuration (field
key) or a file, so their services (:mod:`admin.bank.service`, :mod:`admin.bank.results`) take
them through :func:`perform` with their own ``run`` (or :func:`require` for the export, which
changes no state), and their ``url`` is the bank pages' own. A failed line is to be corrected
within the correction limit (``PaymentLine.correction_due_on``); overdue corrections are on
:func:`due_work` as the step ``correction`` of a paid or published batch. ``publish`` queues one
arrival SMS per paid line (:mod:`admin.sms`) in the same transaction.

Decisions worth knowing:

- ``return`` always leads to ``returned`` (已退回修改), whoever returns: the batch is then editable
  by the township clerk and the department operator again (``roles.EDITABLE_BATCH_STATES``), must be
  corrected within the correction limit (3 working days), and is re-submitted with ``submit``; it
  then goes through the whole chain again (first review, publicity, approval, finance check), as
  the seeds want corrected data re-publicised. A first-review or approval return may carry
  per-line remarks ("行号：说明", one a line): each becomes a ``RETURNED`` check issue on the line,
  which blocks re-submission until the line is fixed (``batches.update_line`` clears it) or removed.
  A finance return carries only its reason: finance never writes to a line.
- ``review_pass`` and ``finance_pass`` record a decision without changing the state; the next
  action of that step (``publicity_open``, ``payment_request``) moves the batch. So ``publicity``
  always means "the list is public" and the indexer needs no extra flag. Whether the pass was given
  is read from the batch's latest :class:`WorkflowEvent` (its ``action`` column).
- Separation of duties [SoD]: whoever created the batch, entered, changed or corrected one of its
  lines (audit ``roster.import``/``line.create``/``line.update``/``line.correct``) or submitted it
  cannot take a review decision on it (``separation_of_duties``, HTTP 403).
- Publicity: the place and, optionally, who takes objections and their phone (``contact``, printed
  on the village list, admin/batches/publicity.py) are entered with the period. The start may be backdated (village boards are often posted before the entry is made;
  the audit entry says so) but not before the first review passed, nor in the future. The earliest
  close is the minimum (3 working days, ``core.deadlines``) counted from the start, or from the last
  correction of a line after an objection; a later announced end is kept. ``publicity_end`` always
  holds the earliest day the publicity may close, and ``step_due_on`` the same.
- Lines withdrawn at first review, approval (field ``withdraw_lines``) or after an objection keep
  ``state = withdrawn``, ``failure_code`` (``WITHDRAWN_REVIEW``/``WITHDRAWN_APPROVAL``/
  ``WITHDRAWN_OBJECTION``/``BATCH_CANCELLED``), the reason in ``failure_reason`` and what the person
  can do next in ``advice``.
- Forward moves refuse an empty batch (``empty_batch``) and lines with open check issues
  (``failing_lines``): roster checks, lines flagged for re-check, lines returned with a remark.
- Due dates: entering a state starts its step (``STEP_OF_STATE``) on the action's day;
  ``step_due_on`` is :func:`core.deadlines.due_date` under the deployment's overrides (table
  ``deadline_overrides``, edited by a system admin through :func:`set_deadline_override`). An
  override applies to steps begun after it is saved.
- Outbox: every state change outside draft/cancelled changes what the public side shows (the
  person's own query shows the stage of a pending line, publicity shows the 公示名单), so it emits
  ``batch``; so do objections that withdraw or correct a line.

Every action commits, in the caller's transaction (``Database.session()``/``Database.run``), the
state change, one :class:`WorkflowEvent`, its audit entry (hash chain), the next due date and the
outbox entry. A refusal raises :class:`WorkflowError` before anything is written.

Error codes (``WorkflowError.code``; ``.status`` is the HTTP status a view answers with):

- 404 ``not_found``, ``unknown_action``
- 403 ``forbidden`` (role or scope), ``separation_of_duties``, ``line_out_of_scope``
- 409 ``wrong_state``, ``empty_batch``, ``failing_lines``, ``review_pending``, ``already_done``,
  ``publicity_not_over``, ``finance_pending``, ``no_card_account``, ``no_bank_file``,
  ``no_failed_lines``, ``no_corrections``
- 400 (``.field`` names the form field) ``missing_field``, ``too_long``, ``bad_date``,
  ``bad_number``, ``bad_option``, ``bad_line_notes``, ``unknown_line``, ``future_date``,
  ``start_before_review``, ``publicity_too_short``, ``end_before_start``, ``amount_out_of_range``,
  ``same_amount``, ``bad_days``, ``bad_project``, ``bad_region`` (the last three: deadline overrides),
  ``bad_card``, ``same_card``, ``closed_card``, ``bad_name``, ``same_name`` (``correct_failed``,
  admin/bank/results.py)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import String, Text, and_, cast, func, or_, select, update
from sqlalchemy.orm import Session

from admin import outbox
from admin.actions import Action, Field, WorkflowError, validate
from admin.audit import trail
from admin.bank import ledger
from admin.sms import messages as sms
from admin.models import (
    BATCH_STATE_LABELS,
    AuditEntry,
    Batch,
    BatchState,
    CardAccount,
    DeadlineOverride,
    Department,
    LineState,
    Objection,
    Operator,
    PaymentLine,
    PaymentRequest,
    PaymentRequestBank,
    Project,
    PublicityPosting,
    Region,
    WorkflowEvent,
)
from admin.access.roles import ROLE_LABELS, Actor, as_actor, can, region_inside, region_overlaps, scope_batches
from core.deadlines import DEFAULT_RULES, Step, due_date, rule_for
from core.timeutil import format_date_zh, local, moment_on
from core.workdays import add_workdays, workdays_between
from core.workdays import today as today_shanghai

__all__ = [
    "Action",
    "ActionResult",
    "Context",
    "DEADLINE_FIELDS",
    "DueItem",
    "Field",
    "Outcome",
    "STEP_LABELS",
    "STEP_OF_STATE",
    "StepInfo",
    "WorkflowError",
    "available_actions",
    "blocked_actions",
    "deadline_overrides",
    "delete_deadline_override",
    "due_work",
    "entrants",
    "list_deadline_overrides",
    "payment_plan",
    "perform",
    "postings",
    "record_posting",
    "require",
    "set_deadline_override",
    "step_info",
]

S = BatchState
WITHDRAWN = LineState.withdrawn.value
PENDING = LineState.pending.value
NO_BANK_LABEL = "未登记开户银行"
TWO_PLACES = Decimal("0.01")

STEP_OF_STATE: dict[str, Step] = {
    S.submitted.value: Step.FIRST_VERIFICATION,
    S.publicity.value: Step.PUBLICITY,
    S.approval.value: Step.APPROVAL,
    S.finance_check.value: Step.FINANCE_CHECK,
    S.bank.value: Step.BANK_CREDITING,
    S.paid.value: Step.RESULTS_PUBLICATION,
    S.returned.value: Step.CORRECTION,
}
STEP_LABELS: dict[str, str] = {
    Step.FIRST_VERIFICATION.value: "初审",
    Step.PUBLICITY.value: "公示",
    Step.APPROVAL.value: "审批",
    Step.FINANCE_CHECK.value: "财政复核",
    Step.BANK_CREDITING.value: "银行兑付",
    Step.RETURN_UNPAYABLE.value: "无法发放资金退回",
    Step.CORRECTION.value: "退回更正",
    Step.RESULTS_PUBLICATION.value: "发放结果公开",
    Step.COMPLAINT_ANSWER.value: "投诉举报答复",
    Step.DISCLOSURE_REQUEST.value: "依申请公开答复",
    Step.RECTIFICATION.value: "抽查问题整改",
}
# Who acts next in each state (for the batch page's "待谁办理").
NEXT_ROLES: dict[str, tuple[str, ...]] = {
    S.draft.value: ("township_clerk", "department_operator"),
    S.submitted.value: ("department_reviewer",),
    S.publicity.value: ("department_operator", "department_reviewer"),
    S.approval.value: ("department_reviewer",),
    S.finance_check.value: ("finance_reviewer",),
    S.bank.value: ("bank_operator",),
    S.paid.value: ("department_operator",),
    S.returned.value: ("township_clerk", "department_operator"),
}
# The public side shows nothing of a batch in these states (indexer.documents.NO_PAYMENT_STATES).
_NOT_PUBLIC = frozenset({S.draft.value, S.cancelled.value})

# Entries of the audit trail that make their actor one of the people who entered a batch.
_ENTRY_BATCH_ACTIONS = ("batch.create", "roster.import")
_ENTRY_LINE_ACTIONS = ("line.create", "line.update", "line.correct")

WITHDRAWAL_ADVICE: dict[str, str] = {
    "WITHDRAWN_REVIEW": "经初审核实，本期不符合发放条件。如有疑问，请携带身份证到村（社区）或乡镇（街道）咨询；"
                        "情况有变化的，可重新申请。",
    "WITHDRAWN_OBJECTION": "公示期间收到异议，经核实本期不予发放。如有不同意见，请携带相关证明材料到乡镇（街道）"
                           "或主管部门申请复核。",
    "WITHDRAWN_APPROVAL": "主管部门审批未通过，本期不予发放。如有疑问，请携带身份证到主管部门咨询，可申请复核。",
    "BATCH_CANCELLED": "本批次已撤销，如仍符合条件将另行安排发放。如有疑问，请咨询主管部门。",
}


@dataclass(frozen=True)
class ActionResult:
    batch_id: int
    action: str
    from_state: str
    to_state: str
    message: str  # Chinese, for the flash message
    event_id: int
    due_on: date | None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "action": self.action, "from_state": self.from_state,
                "state": self.to_state, "state_label": BATCH_STATE_LABELS.get(self.to_state, self.to_state),
                "message": self.message, "due_on": self.due_on.isoformat() if self.due_on else None,
                **self.details}


COMMENT = Field("comment", "说明", "textarea")
LINE_NOTES_HINT = "每行一条，格式：行号：原因（例如 3：已死亡）"


# --- the specification of each action ---------------------------------------------------------


@dataclass
class _Ctx:
    session: Session
    actor: Actor
    batch: Batch
    today: date
    _overrides: list[dict[str, Any]] | None = None
    _entrants: set[str] | None = None

    @property
    def overrides(self) -> list[dict[str, Any]]:
        if self._overrides is None:
            self._overrides = deadline_overrides(self.session)
        return self._overrides

    @property
    def entrants(self) -> set[str]:
        if self._entrants is None:
            self._entrants = entrants(self.session, self.batch)
        return self._entrants

    def due(self, step: str, start: date) -> date:
        return due_date(step, start, self.batch.project.code, self.batch.region_code, self.overrides)


@dataclass(frozen=True)
class _Spec:
    name: str
    labels: Mapping[str, str]          # state → label (the states it starts from)
    permissions: Mapping[str, str]     # state → permission (admin.roles)
    fields: Callable[[_Ctx], tuple[Field, ...]]
    check: Callable[[_Ctx], None]      # preconditions knowable without the form
    run: Callable[[_Ctx, dict[str, Any]], "_Outcome"] | None  # None: its service passes its own
    decision: bool = False             # a review decision: separation of duties applies
    url: Callable[[int], str] | None = None  # batch id → where the form goes (default: the action route)
    method: str = "POST"


@dataclass
class _Outcome:
    to_state: str
    comment: str
    audit_after: dict[str, Any]
    message: str
    emit: bool | None = None  # None: emit when the state changes outside draft/cancelled
    details: dict[str, Any] = field(default_factory=dict)
    step_start: date | None = None  # set when the step restarts without a state change


# The handler interface, for the services that take their actions through :func:`perform` with
# their own ``run`` (admin/bank): ``run(ctx: Context, values) -> Outcome``.
Context = _Ctx
Outcome = _Outcome


# --- small helpers -----------------------------------------------------------------------------


def _state_label(state: str) -> str:
    return BATCH_STATE_LABELS.get(state, state)


def _live_lines(batch_id: int) -> Any:
    return and_(PaymentLine.batch_id == batch_id, PaymentLine.state != WITHDRAWN)


def _line_count(session: Session, batch: Batch) -> int:
    return session.execute(select(func.count(PaymentLine.id)).where(_live_lines(batch.id))).scalar_one()


def _require_lines(ctx: _Ctx, withdrawing: Sequence[int] = ()) -> None:
    """Forward moves: at least one line, and no line with open check issues (lines being withdrawn
    by the same action left out)."""
    live = _live_lines(ctx.batch.id)
    if withdrawing:
        live = and_(live, PaymentLine.id.notin_(list(withdrawing)))
    if ctx.session.execute(select(func.count(PaymentLine.id)).where(live)).scalar_one() == 0:
        raise WorkflowError("empty_batch", "批次中没有（有效的）发放明细，不能继续办理；如不再发放，请撤销批次。")
    failing = and_(live, cast(PaymentLine.check_issues, Text) != "[]")
    count = ctx.session.execute(select(func.count(PaymentLine.id)).where(failing)).scalar_one()
    if count:
        nos = ctx.session.scalars(select(PaymentLine.line_no).where(failing).order_by(PaymentLine.line_no).limit(10))
        shown = "、".join(str(n) for n in nos) + ("等" if count > 10 else "")
        raise WorkflowError("failing_lines", f"有 {count} 行校验未通过或待复核（第 {shown} 行），"
                                             "请先更正或删除这些行；已提交的批次请退回修改，或撤回这些行。")


def _latest_event(session: Session, batch: Batch) -> WorkflowEvent | None:
    return session.execute(select(WorkflowEvent).where(WorkflowEvent.batch_id == batch.id)
                           .order_by(WorkflowEvent.id.desc()).limit(1)).scalar_one_or_none()


def _passed(session: Session, batch: Batch, action: str) -> WorkflowEvent | None:
    """The pass event when the batch's latest event is that pass (``review_pass``/``finance_pass``)."""
    event = _latest_event(session, batch)
    return event if event is not None and event.action == action else None


def entrants(session: Session, batch: Batch) -> set[str]:
    """Usernames of everyone who created, entered, changed or corrected lines of, or submitted the batch."""
    names = {batch.created_by}
    names.update(session.scalars(select(WorkflowEvent.actor).where(
        WorkflowEvent.batch_id == batch.id, WorkflowEvent.to_state == S.submitted.value,
        WorkflowEvent.from_state != S.submitted.value)))
    line_ids = select(cast(PaymentLine.id, String)).where(PaymentLine.batch_id == batch.id)
    names.update(session.scalars(select(AuditEntry.actor).distinct().where(or_(
        and_(AuditEntry.object_type == "batch", AuditEntry.object_id == str(batch.id),
             AuditEntry.action.in_(_ENTRY_BATCH_ACTIONS)),
        and_(AuditEntry.object_type == "payment_line", AuditEntry.action.in_(_ENTRY_LINE_ACTIONS),
             AuditEntry.object_id.in_(line_ids)),
    ))))
    return names


_NOTE_LINE = re.compile(r"^\s*第?\s*(\d{1,9})\s*行?\s*[:：、,，.。\s]\s*(\S.*?)\s*$")


def _line_notes(ctx: _Ctx, text: str | None, f: Field) -> list[tuple[PaymentLine, str]]:
    """Parse "行号：说明" lines and find the (live) lines they name, inside the actor's region."""
    if not text:
        return []
    notes: dict[int, str] = {}
    for row_no, row in enumerate(text.splitlines(), start=1):
        if not row.strip():
            continue
        match = _NOTE_LINE.match(row)
        if match is None:
            raise WorkflowError("bad_line_notes", f"「{f.label}」第 {row_no} 行格式不对：{LINE_NOTES_HINT}。", field=f.name)
        line_no, note = int(match[1]), match[2][:200]
        if line_no in notes:
            raise WorkflowError("bad_line_notes", f"「{f.label}」中第 {line_no} 行重复出现。", field=f.name)
        notes[line_no] = note
    lines = {line.line_no: line for line in ctx.session.scalars(select(PaymentLine).where(
        _live_lines(ctx.batch.id), PaymentLine.line_no.in_(sorted(notes))))}
    out = []
    for line_no, note in notes.items():
        line = lines.get(line_no)
        if line is None:
            raise WorkflowError("unknown_line", f"第 {line_no} 行不在本批次中，或已撤回。", field=f.name)
        if not region_inside(line.village_code, ctx.actor.region_code):
            raise WorkflowError("line_out_of_scope", f"第 {line_no} 行不在您负责的区域内。", field=f.name)
        out.append((line, note))
    return out


def _line_snapshot(line: PaymentLine) -> dict[str, Any]:
    return {"batch_id": line.batch_id, "line_no": line.line_no, "amount": str(line.amount), "state": line.state,
            "failure_code": line.failure_code, "failure_reason": line.failure_reason}


def _withdraw(ctx: _Ctx, line: PaymentLine, code: str, reason: str) -> None:
    before = _line_snapshot(line)
    line.state = WITHDRAWN
    line.failure_code = code
    line.failure_reason = reason[:200]
    line.advice = WITHDRAWAL_ADVICE[code]
    trail.record(ctx.session, actor=ctx.actor.username, action="line.withdraw", object_type="payment_line",
                 object_id=line.id, region_code=line.village_code, before=before, after=_line_snapshot(line))


# --- the actions -------------------------------------------------------------------------------


def _no_check(ctx: _Ctx) -> None:
    return None


def _fields(*fields: Field) -> Callable[[_Ctx], tuple[Field, ...]]:
    return lambda ctx: fields


def _check_lines(ctx: _Ctx) -> None:
    _require_lines(ctx)


def _run_submit(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    again = ctx.batch.state == S.returned.value
    comment = v["comment"] or ("已更正，重新提交初审" if again else "花名册录入完成，提交初审")
    return _Outcome(S.submitted.value, comment, {"lines": _line_count(ctx.session, ctx.batch)},
                    "已重新提交初审。" if again else "已提交初审。")


WITHDRAW_FIELD = Field("withdraw_lines", "撤回不符合条件的行（每行一条：行号：原因）", "textarea")


def _check_not_empty(ctx: _Ctx) -> None:
    """Decisions that may withdraw lines: the failing lines are checked once the form is known."""
    if _line_count(ctx.session, ctx.batch) == 0:
        raise WorkflowError("empty_batch", "批次中没有（有效的）发放明细，不能继续办理；如不再发放，请撤销批次。")


def _check_review_pass(ctx: _Ctx) -> None:
    if _passed(ctx.session, ctx.batch, "review_pass"):
        raise WorkflowError("already_done", "初审已通过，请开始公示。")
    _check_not_empty(ctx)


def _withdraw_and_require(ctx: _Ctx, v: dict[str, Any], code: str) -> list[PaymentLine]:
    notes = _line_notes(ctx, v.get("withdraw_lines"), WITHDRAW_FIELD)
    _require_lines(ctx, [line.id for line, _ in notes])
    for line, reason in notes:
        _withdraw(ctx, line, code, reason)
    return [line for line, _ in notes]


def _run_review_pass(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    withdrawn = _withdraw_and_require(ctx, v, "WITHDRAWN_REVIEW")
    after = {"withdrawn_lines": [line.line_no for line in withdrawn]}
    extra = f"撤回 {len(withdrawn)} 行，" if withdrawn else ""
    return _Outcome(S.submitted.value, v["comment"] or "初审通过", after, f"初审通过，{extra}请开始公示。",
                    emit=bool(withdrawn))


RETURN_REASON = Field("reason", "退回原因", "textarea", required=True)
LINE_REMARKS_FIELD = Field("line_remarks", "需更正的行（每行一条：行号：说明）", "textarea")


def _return_fields(ctx: _Ctx) -> tuple[Field, ...]:
    if ctx.batch.state == S.finance_check.value:
        return (RETURN_REASON,)  # finance never writes to a line
    return (RETURN_REASON, LINE_REMARKS_FIELD)


def _run_return(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    remarks = _line_notes(ctx, v.get("line_remarks"), LINE_REMARKS_FIELD)
    by = {S.submitted.value: "初审退回", S.approval.value: "审批退回", S.finance_check.value: "财政退回"}[ctx.batch.state]
    for line, remark in remarks:
        before = _line_snapshot(line)
        line.check_issues = [*(line.check_issues or []), {"code": "RETURNED", "message": f"{by}：{remark}"}]
        trail.record(ctx.session, actor=ctx.actor.username, action="line.remark", object_type="payment_line",
                     object_id=line.id, region_code=line.village_code, before=before,
                     after={**_line_snapshot(line), "remark": remark})
    after = {"reason": v["reason"], "line_remarks": {str(line.line_no): remark for line, remark in remarks}}
    return _Outcome(S.returned.value, f"{by}：{v['reason']}", after,
                    f"已退回修改{f'（{len(remarks)} 行附有说明）' if remarks else ''}。")


def _check_publicity_open(ctx: _Ctx) -> None:
    if not _passed(ctx.session, ctx.batch, "review_pass"):
        raise WorkflowError("review_pending", "初审通过后才能开始公示。")
    _require_lines(ctx)


def _publicity_fields(ctx: _Ctx) -> tuple[Field, ...]:
    days = rule_for(Step.PUBLICITY, ctx.batch.project.code, ctx.batch.region_code, ctx.overrides).days
    return (Field("start", "公示开始日期（可早于今天）", "date", required=True),
            Field("end", f"公示结束日期（不少于{days}个工作日）", "date", required=True),
            Field("place", "公示地点", "text", required=True),
            Field("contact", "异议受理单位及电话（印在公示名单上）", "text"), COMMENT)


def _run_publicity_open(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    start, end = v["start"], v["end"]
    passed = _passed(ctx.session, ctx.batch, "review_pass")
    passed_on = local(passed.at).date() if passed is not None else ctx.today
    if start > ctx.today:
        raise WorkflowError("future_date", "公示开始日期不能晚于今天：请在公示开始当天或之后登记。", field="start")
    if start < passed_on:
        raise WorkflowError("start_before_review", f"公示开始日期不能早于初审通过日期（{format_date_zh(passed_on)}）。",
                            field="start")
    earliest = ctx.due(Step.PUBLICITY, start)
    if end < earliest:
        days = rule_for(Step.PUBLICITY, ctx.batch.project.code, ctx.batch.region_code, ctx.overrides).days
        raise WorkflowError("publicity_too_short", f"公示期不少于{days}个工作日：从{format_date_zh(start)}开始，"
                                                   f"最早于{format_date_zh(earliest)}结束。", field="end")
    batch = ctx.batch
    batch.publicity_start, batch.publicity_end, batch.publicity_place = start, end, v["place"]
    batch.publicity_contact = v["contact"] or ""
    after = {"publicity_start": start.isoformat(), "publicity_end": end.isoformat(), "publicity_place": v["place"],
             "publicity_contact": batch.publicity_contact, "backdated": start < ctx.today,
             "entered_on": ctx.today.isoformat()}
    comment = v["comment"] or f"在{v['place']}公示，{format_date_zh(start)}至{format_date_zh(end)}"
    return _Outcome(S.publicity.value, comment, after,
                    f"已开始公示，{format_date_zh(end)}起可结束公示。", step_start=start)


OBJECTION_OUTCOMES = (("withdraw", "核实后撤回该行（不予发放）"), ("correct", "核实后更正金额并重新公示"),
                      ("dismiss", "异议不成立，维持原公示"))


def _objection_fields(ctx: _Ctx) -> tuple[Field, ...]:
    return (Field("line_no", "行号", "number", required=True),
            Field("outcome", "处理结果", "select", required=True, options=OBJECTION_OUTCOMES),
            Field("reason", "异议内容及核实情况", "textarea", required=True),
            Field("amount", "更正后金额（元，仅更正时填写）", "number"),
            Field("received_on", "收到异议日期", "date"))


def _run_objection(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    number = v["line_no"]
    if number != number.to_integral_value() or not 0 < number < 10**9:
        raise WorkflowError("unknown_line", "行号应为正整数。", field="line_no")
    line = ctx.session.execute(select(PaymentLine).where(
        _live_lines(ctx.batch.id), PaymentLine.line_no == int(number))).scalar_one_or_none()
    if line is None:
        raise WorkflowError("unknown_line", f"第 {int(number)} 行不在本批次中，或已撤回。", field="line_no")
    if not region_inside(line.village_code, ctx.actor.region_code):
        raise WorkflowError("line_out_of_scope", f"第 {line.line_no} 行不在您负责的区域内。", field="line_no")
    received = v["received_on"] or ctx.today
    if received > ctx.today:
        raise WorkflowError("future_date", "收到异议日期不能晚于今天。", field="received_on")
    outcome, reason, batch = v["outcome"], v["reason"], ctx.batch
    record = Objection(batch_id=batch.id, line_id=line.id, received_on=received, outcome=outcome, reason=reason,
                       amount_before=line.amount, recorded_by=ctx.actor.username)
    after: dict[str, Any] = {"line_no": line.line_no, "outcome": outcome, "reason": reason,
                             "received_on": received.isoformat()}
    step_start = None
    if outcome == "withdraw":
        _withdraw(ctx, line, "WITHDRAWN_OBJECTION", reason)
        message = f"已登记异议，第 {line.line_no} 行已撤回。"
    elif outcome == "correct":
        amount = v["amount"]
        if amount is None:
            raise WorkflowError("missing_field", "更正金额时请填写「更正后金额」。", field="amount")
        project = batch.project
        if amount != amount.quantize(TWO_PLACES) or not project.amount_min <= amount <= project.amount_max:
            raise WorkflowError("amount_out_of_range", f"金额应在 {project.amount_min:.2f} 至 {project.amount_max:.2f} "
                                                       "元之间，最多两位小数。", field="amount")
        if amount == line.amount:
            raise WorkflowError("same_amount", "更正后金额与原金额相同。", field="amount")
        before = _line_snapshot(line)
        line.amount = amount.quantize(TWO_PLACES)
        record.amount_after = line.amount
        trail.record(ctx.session, actor=ctx.actor.username, action="line.correct", object_type="payment_line",
                     object_id=line.id, region_code=line.village_code, before=before, after=_line_snapshot(line))
        earliest = ctx.due(Step.PUBLICITY, ctx.today)
        batch.publicity_end = max(batch.publicity_end or earliest, earliest)
        after.update(amount_before=str(record.amount_before), amount_after=str(line.amount),
                     publicity_end=batch.publicity_end.isoformat())
        step_start = ctx.today
        message = (f"已登记异议，第 {line.line_no} 行金额已更正并重新公示，"
                   f"{format_date_zh(batch.publicity_end)}起可结束公示。")
    else:
        message = f"已登记异议（第 {line.line_no} 行），维持原公示。"
    ctx.session.add(record)
    label = dict(OBJECTION_OUTCOMES)[outcome]
    return _Outcome(S.publicity.value, f"第 {line.line_no} 行异议：{reason}（{label}）", after, message,
                    emit=outcome != "dismiss", step_start=step_start)


def _check_publicity_close(ctx: _Ctx) -> None:
    end = ctx.batch.publicity_end
    if end is None or ctx.today < end:
        shown = format_date_zh(end) if end else "公示期满"
        raise WorkflowError("publicity_not_over", f"公示期未满，{shown}起才能结束公示。")
    _require_lines(ctx)


def _run_publicity_close(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    objections = ctx.session.execute(select(func.count(Objection.id)).where(Objection.batch_id == ctx.batch.id)
                                     ).scalar_one()
    comment = v["comment"] or ("公示期满，异议已处理" if objections else "公示期满，无异议")
    return _Outcome(S.approval.value, comment, {"objections": objections, "closed_on": ctx.today.isoformat()},
                    "公示已结束，批次进入审批。")


def _run_approve(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    withdrawn = _withdraw_and_require(ctx, v, "WITHDRAWN_APPROVAL")
    extra = f"（撤回 {len(withdrawn)} 行）" if withdrawn else ""
    return _Outcome(S.finance_check.value, v["comment"] or "审批通过，报财政部门复核",
                    {"withdrawn_lines": [line.line_no for line in withdrawn]}, f"审批通过{extra}，已报财政部门复核。")


def _check_finance_pass(ctx: _Ctx) -> None:
    if _passed(ctx.session, ctx.batch, "finance_pass"):
        raise WorkflowError("already_done", "财政复核已通过，请生成资金支付申请。")
    _require_lines(ctx)


def _run_finance_pass(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    return _Outcome(S.finance_check.value, v["comment"] or "复核通过，发放数据与预算指标相符", {},
                    "财政复核通过，请生成资金支付申请。")


def _check_payment_request(ctx: _Ctx) -> None:
    if not _passed(ctx.session, ctx.batch, "finance_pass"):
        raise WorkflowError("finance_pending", "财政复核通过后才能生成资金支付申请。")
    _require_lines(ctx)
    no_card = ctx.session.execute(select(func.count(PaymentLine.id)).where(
        _live_lines(ctx.batch.id), PaymentLine.card_account_id.is_(None))).scalar_one()
    if no_card:
        raise WorkflowError("no_card_account", f"有 {no_card} 行没有社会保障卡账户，不能生成支付申请，请退回更正。")


def payment_plan(session: Session, batch: Batch) -> list[dict[str, Any]]:
    """The batch's live lines by disbursing bank (the card account's bank): bank, label, count, total."""
    bank = func.coalesce(CardAccount.bank_name, "")
    rows = session.execute(
        select(bank, func.count(PaymentLine.id), func.sum(PaymentLine.amount))
        .select_from(PaymentLine).join(CardAccount, PaymentLine.card_account_id == CardAccount.id)
        .where(_live_lines(batch.id)).group_by(bank).order_by(bank)).all()
    return [{"bank": name, "label": name or NO_BANK_LABEL, "count": count,
             "total": Decimal(str(total or 0)).quantize(TWO_PLACES)} for name, count, total in rows]


def _run_payment_request(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    plan = payment_plan(ctx.session, ctx.batch)
    total = sum((row["total"] for row in plan), Decimal("0.00"))
    count = sum(row["count"] for row in plan)
    request = PaymentRequest(batch_id=ctx.batch.id, requested_by=ctx.actor.username, requested_on=ctx.today,
                             line_count=count, total=total)
    request.banks = [PaymentRequestBank(bank_name=row["bank"], line_count=row["count"], total=row["total"])
                     for row in plan]
    ctx.session.add(request)
    ctx.session.flush()
    ctx.session.execute(update(PaymentLine).where(_live_lines(ctx.batch.id)).values(payment_request_id=request.id)
                        .execution_options(synchronize_session=False))
    banks = [{"bank": row["bank"], "label": row["label"], "count": row["count"], "total": str(row["total"])}
             for row in plan]
    after = {"payment_request_id": request.id, "lines": count, "total": str(total), "banks": banks}
    comment = v["comment"] or f"生成资金支付申请：{count} 笔，合计 {total:.2f} 元"
    return _Outcome(S.bank.value, comment, after, f"已生成资金支付申请：{count} 笔，合计 {total:.2f} 元，送代发银行。",
                    details={"payment_request_id": request.id, "lines": count, "total": str(total), "banks": banks})


def _run_cancel(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    reason = v["reason"]
    withdrawn = ctx.session.execute(
        update(PaymentLine).where(PaymentLine.batch_id == ctx.batch.id, PaymentLine.state == PENDING)
        .values(state=WITHDRAWN, failure_code="BATCH_CANCELLED", failure_reason=f"批次已撤销：{reason}"[:200],
                advice=WITHDRAWAL_ADVICE["BATCH_CANCELLED"])).rowcount
    return _Outcome(S.cancelled.value, f"撤销批次：{reason}", {"reason": reason, "withdrawn_lines": withdrawn},
                    "批次已撤销。")


def _posting_villages(ctx: _Ctx) -> tuple[tuple[str, str], ...]:
    codes = ctx.session.scalars(select(PaymentLine.village_code).distinct().where(
        PaymentLine.batch_id == ctx.batch.id, PaymentLine.village_code.startswith(ctx.actor.region_code)))
    codes = sorted(codes)
    names = dict(ctx.session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all())
    return tuple((code, names.get(code, code)) for code in codes)


def _posting_fields(ctx: _Ctx) -> tuple[Field, ...]:
    return (Field("village", "村（社区）", "select", required=True, options=_posting_villages(ctx)),
            Field("place", "张贴地点", "text", required=True),
            Field("posted_on", "张贴日期", "date", required=True),
            Field("removed_on", "撤下日期", "date"),
            Field("photo", "现场照片", "file"),
            Field("note", "备注", "textarea"))


def _check_posting(ctx: _Ctx) -> None:
    if ctx.batch.publicity_start is None:
        raise WorkflowError("wrong_state", "批次尚未开始公示。")
    if not _posting_villages(ctx):
        raise WorkflowError("line_out_of_scope", "本批次没有您负责区域内的村（社区）。")


def _run_posting(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    posted_on, removed_on = v["posted_on"], v["removed_on"]
    if posted_on > ctx.today:
        raise WorkflowError("future_date", "张贴日期不能晚于今天。", field="posted_on")
    if removed_on is not None and removed_on > ctx.today:
        raise WorkflowError("future_date", "撤下日期不能晚于今天。", field="removed_on")
    if removed_on is not None and removed_on < posted_on:
        raise WorkflowError("end_before_start", "撤下日期不能早于张贴日期。", field="removed_on")
    posting = PublicityPosting(batch_id=ctx.batch.id, village_code=v["village"], place=v["place"],
                               posted_on=posted_on, removed_on=removed_on, photo_ref=v["photo"] or "",
                               note=v["note"] or "", recorded_by=ctx.actor.username)
    ctx.session.add(posting)
    ctx.session.flush()
    after = {"posting_id": posting.id, "village_code": posting.village_code, "place": posting.place,
             "posted_on": posted_on.isoformat(), "removed_on": removed_on.isoformat() if removed_on else None,
             "photo_ref": posting.photo_ref}
    village = dict(_posting_villages(ctx)).get(posting.village_code, posting.village_code)
    return _Outcome(ctx.batch.state, f"{village}村务公开栏张贴：{posting.place}，{format_date_zh(posted_on)}",
                    after, f"已登记{village}的村务公开栏张贴记录。", emit=False)


# --- money out and back: bank files, results, failed lines, publication (admin/bank) -------------

_AT_BANK = (S.bank.value, S.paid.value, S.published.value)


def _at_bank(label: str, permission: str) -> tuple[dict[str, str], dict[str, str]]:
    return {state: label for state in _AT_BANK}, {state: permission for state in _AT_BANK}


def _bank_url(path: str) -> Callable[[int], str]:
    return lambda batch_id: f"/batches/{batch_id}/{path}"


def _check_open_files(ctx: _Ctx) -> None:
    if not ledger.open_bank_files(ctx.session, ctx.batch.id):
        raise WorkflowError("no_bank_file", "没有等待银行处理结果的代发文件。")


def _export_fields(ctx: _Ctx) -> tuple[Field, ...]:
    files = tuple((str(f.id), f.label) for f in ledger.open_bank_files(ctx.session, ctx.batch.id))
    return (Field("file", "代发文件", "select", required=True, options=files),
            Field("format", "文件格式", "select", required=True, options=(("xlsx", "Excel（.xlsx）"), ("csv", "CSV"))))


IMPORT_FIELDS = (Field("file", "银行回盘文件（导出的代发文件加“处理结果”“失败原因”两列）", "file", required=True),)


def _failed_options(ctx: _Ctx, corrected: bool | None) -> tuple[tuple[str, str], ...]:
    lines = ledger.failed_lines(ctx.session, ctx.batch.id, ctx.actor.region_code, corrected=corrected)
    return tuple((str(line.line_no), f"第 {line.line_no} 行 {line.person.name}（{line.failure_reason or '发放失败'}）")
                 for line in lines)


def _check_to_correct(ctx: _Ctx) -> None:
    if not ledger.failed_lines(ctx.session, ctx.batch.id, ctx.actor.region_code, corrected=False):
        raise WorkflowError("no_failed_lines", "没有待更正的发放失败明细。")


def _correct_fields(ctx: _Ctx) -> tuple[Field, ...]:
    return (Field("line", "发放失败的行", "select", required=True, options=_failed_options(ctx, False)),
            Field("card_number", "新的社会保障卡号（换卡时填写）"),
            Field("bank_name", "新卡的开户银行（换卡时填写）"),
            Field("name", "更正后的姓名（户名不符时填写）"),
            Field("note", "核实情况（如：已到银行激活，按原账户重新发放）", "textarea", required=True))


def _check_to_reissue(ctx: _Ctx) -> None:
    if not ledger.corrections_to_reissue(ctx.session, ctx.batch.id):
        raise WorkflowError("no_corrections", "没有已更正、待补发的明细。")


def _check_to_return(ctx: _Ctx) -> None:
    if not ledger.failed_lines(ctx.session, ctx.batch.id, ctx.actor.region_code):
        raise WorkflowError("no_failed_lines", "没有发放失败的明细。")


def _return_unpaid_fields(ctx: _Ctx) -> tuple[Field, ...]:
    return (Field("line", "无法发放的行", "select", required=True, options=_failed_options(ctx, None)),
            Field("reason", "无法发放的原因（如：补贴对象已死亡，资金退回国库）", "textarea", required=True))


def _run_publish(ctx: _Ctx, v: dict[str, Any]) -> _Outcome:
    batch = ctx.batch
    batch.published_on = ctx.today
    queued = sms.queue_paid(ctx.session, batch)
    money = ledger.balance(ctx.session, batch.id)
    after = {"published_on": ctx.today.isoformat(), "sms_queued": queued, "paid": str(money.paid),
             "failed": str(money.failed), "returned": str(money.returned), "pending": str(money.pending)}
    return _Outcome(S.published.value, v["comment"] or "发放结果已公开", after,
                    f"发放结果已公开，公开门户将在同步后显示；已安排 {queued} 条到账短信。")


_DECISIONS = {S.submitted.value: "batch.review", S.approval.value: "batch.review",
              S.finance_check.value: "batch.finance"}
_CANCELLABLE = (S.draft.value, S.submitted.value, S.publicity.value, S.approval.value, S.finance_check.value,
                S.returned.value)

SPECS: dict[str, _Spec] = {spec.name: spec for spec in (
    _Spec("submit", {S.draft.value: "提交初审", S.returned.value: "重新提交初审"},
          {S.draft.value: "batch.submit", S.returned.value: "batch.submit"}, _fields(COMMENT), _check_lines,
          _run_submit),
    _Spec("review_pass", {S.submitted.value: "初审通过"}, {S.submitted.value: "batch.review"},
          _fields(WITHDRAW_FIELD, COMMENT), _check_review_pass, _run_review_pass, decision=True),
    _Spec("return", {S.submitted.value: "初审退回", S.approval.value: "审批退回", S.finance_check.value: "财政退回"},
          _DECISIONS, _return_fields, _no_check, _run_return, decision=True),
    _Spec("publicity_open", {S.submitted.value: "开始公示"}, {S.submitted.value: "batch.publicity"},
          _publicity_fields, _check_publicity_open, _run_publicity_open),
    _Spec("objection", {S.publicity.value: "登记公示异议"}, {S.publicity.value: "batch.publicity"},
          _objection_fields, _no_check, _run_objection),
    _Spec("publicity_close", {S.publicity.value: "结束公示"}, {S.publicity.value: "batch.publicity"},
          _fields(COMMENT), _check_publicity_close, _run_publicity_close),
    _Spec("approve", {S.approval.value: "审批通过"}, {S.approval.value: "batch.review"},
          _fields(WITHDRAW_FIELD, COMMENT), _check_not_empty, _run_approve, decision=True),
    _Spec("finance_pass", {S.finance_check.value: "财政复核通过"}, {S.finance_check.value: "batch.finance"},
          _fields(COMMENT), _check_finance_pass, _run_finance_pass, decision=True),
    _Spec("payment_request", {S.finance_check.value: "生成资金支付申请"}, {S.finance_check.value: "batch.finance"},
          _fields(COMMENT), _check_payment_request, _run_payment_request, decision=True),
    _Spec("cancel", {state: "撤销批次" for state in _CANCELLABLE}, {state: "batch.cancel" for state in _CANCELLABLE},
          _fields(Field("reason", "撤销原因", "textarea", required=True)), _no_check, _run_cancel),
    _Spec("publicity_posting", {S.publicity.value: "登记村务公开栏张贴", S.approval.value: "登记村务公开栏张贴"},
          {S.publicity.value: "batch.posting", S.approval.value: "batch.posting"}, _posting_fields, _check_posting,
          _run_posting),
    _Spec("bank_export", *_at_bank("导出代发文件", "batch.bank_export"), _export_fields, _check_open_files, None,
          url=_bank_url("bank/export"), method="GET"),
    _Spec("bank_import", *_at_bank("导入银行处理结果", "batch.bank_import"), _fields(*IMPORT_FIELDS),
          _check_open_files, None, url=_bank_url("bank/import")),
    _Spec("correct_failed", *_at_bank("更正发放失败信息", "batch.correct"), _correct_fields, _check_to_correct, None,
          url=_bank_url("results/correct")),
    _Spec("reissue", *_at_bank("补发已更正的明细", "batch.reissue"), _fields(COMMENT), _check_to_reissue, None,
          url=_bank_url("results/reissue")),
    _Spec("return_unpaid", *_at_bank("确认无法发放（资金退回）", "batch.return_unpaid"), _return_unpaid_fields,
          _check_to_return, None, url=_bank_url("results/return")),
    _Spec("publish", {S.paid.value: "公开发放结果"}, {S.paid.value: "batch.publish"}, _fields(COMMENT), _no_check,
          _run_publish),
)}


# --- the two entry points: what may I do now, and do it ----------------------------------------


def _permit(ctx: _Ctx, spec: _Spec) -> None:
    """Role, scope, state and separation of duties (raises WorkflowError)."""
    batch, actor = ctx.batch, ctx.actor
    label = spec.labels.get(batch.state) or next(iter(spec.labels.values()))
    if not any(can(actor, permission, batch) for permission in set(spec.permissions.values())):
        raise WorkflowError("forbidden", f"您（{actor.role_label}）不能对此批次办理「{label}」：不在您的职责或管辖范围内。")
    if batch.state not in spec.permissions:
        raise WorkflowError("wrong_state", f"批次当前为「{_state_label(batch.state)}」，不能办理「{label}」。")
    if not can(actor, spec.permissions[batch.state], batch):
        raise WorkflowError("forbidden", f"您（{actor.role_label}）不能对此批次办理「{label}」：不在您的职责或管辖范围内。")
    if spec.decision and actor.username in ctx.entrants:
        raise WorkflowError("separation_of_duties",
                            f"您创建、录入、更正或提交过此批次，按不相容岗位相分离的要求，不能办理「{label}」。")



def _url(batch_id: int, name: str) -> str:
    return f"/batches/{batch_id}/actions/{name}"


def available_actions(session: Session, operator: Actor | Operator, batch: Batch, *,
                      today: date | None = None) -> list[Action]:
    """The actions this operator may take on the batch now (state, role, scope, separation of
    duties and the preconditions knowable before the form is filled in). The batch page renders
    its buttons and forms from this list and its JSON twin returns ``[a.as_dict() for a in …]``."""
    ctx = _Ctx(session, as_actor(session, operator), batch, today or today_shanghai())
    out: list[Action] = []
    for spec in SPECS.values():
        try:
            _permit(ctx, spec)
            spec.check(ctx)
        except WorkflowError:
            continue
        url = spec.url(batch.id) if spec.url else _url(batch.id, spec.name)
        out.append(Action(spec.name, spec.labels[batch.state], url, spec.fields(ctx), spec.method))
    return out


def blocked_actions(session: Session, operator: Actor | Operator, batch: Batch, *,
                    today: date | None = None) -> list[dict[str, str]]:
    """Actions this operator could take in this state but not yet, and why (e.g. 公示期未满): for a
    line of text on the batch page. ``[{name, label, code, message}]``."""
    ctx = _Ctx(session, as_actor(session, operator), batch, today or today_shanghai())
    out: list[dict[str, str]] = []
    for spec in SPECS.values():
        try:
            _permit(ctx, spec)
        except WorkflowError:
            continue
        try:
            spec.check(ctx)
        except WorkflowError as error:
            out.append({"name": spec.name, "label": spec.labels[batch.state], "code": error.code,
                        "message": error.message})
    return out


def require(session: Session, operator: Actor | Operator, batch_id: int, name: str, today: date) -> _Ctx:
    """Refuse (WorkflowError) unless the operator may take action ``name`` on the batch now; the
    batch row is locked for the caller's transaction. For an action that changes no state (the
    bank file export), its service acts on the returned context itself."""
    spec = SPECS.get(name)
    if spec is None:
        raise WorkflowError("unknown_action", "没有这个办理事项。")
    batch = session.execute(select(Batch).where(Batch.id == batch_id).with_for_update()
                            .execution_options(populate_existing=True)).scalar_one_or_none()
    if batch is None:
        raise WorkflowError("not_found", "批次不存在。")
    ctx = _Ctx(session, as_actor(session, operator), batch, today)
    _permit(ctx, spec)
    spec.check(ctx)  # the handlers rely on it: they only check what depends on the form
    return ctx


def perform(session: Session, operator: Actor | Operator, batch_id: int, name: str, form: Mapping[str, Any],
            today: date, *, run: Callable[[_Ctx, dict[str, Any]], _Outcome] | None = None) -> ActionResult:
    """Take action ``name`` on the batch with the submitted ``form`` (field name → text; for a
    ``file`` field the view stores the upload and passes its reference). Re-checks everything
    :func:`available_actions` checks, validates the fields, then writes the state, the event, the
    audit entry, the next due date and the outbox entry into the caller's transaction.
    ``run`` is the handler of an action whose service takes it (admin/bank), else the spec's."""
    spec = SPECS.get(name)
    if spec is None:
        raise WorkflowError("unknown_action", "没有这个办理事项。")
    ctx = require(session, operator, batch_id, name, today)
    handler = run or spec.run
    if handler is None:
        raise WorkflowError("unknown_action", f"「{spec.labels[ctx.batch.state]}」请在批次页面的对应表单办理。")
    actor, batch = ctx.actor, ctx.batch
    values = validate(spec.fields(ctx), form)
    from_state, due_before = batch.state, batch.step_due_on
    outcome = handler(ctx, values)
    to_state = outcome.to_state
    changed = to_state != from_state
    if changed or outcome.step_start is not None:
        start = outcome.step_start or today
        step = STEP_OF_STATE.get(to_state)
        batch.step_started_on = start
        if step is None:
            batch.step_due_on = None
        elif step == Step.PUBLICITY:
            batch.step_due_on = batch.publicity_end  # the earliest day publicity may close
        else:
            batch.step_due_on = ctx.due(step, start)
    batch.state = to_state
    event = WorkflowEvent(batch_id=batch.id, from_state=from_state, to_state=to_state, actor=actor.username,
                          at=moment_on(today), comment=outcome.comment, due_on=batch.step_due_on, action=name)
    session.add(event)
    trail.record(session, actor=actor.username, action=f"workflow.{name}", object_type="batch", object_id=batch.id,
                 region_code=batch.region_code,
                 before={"state": from_state, "step_due_on": due_before.isoformat() if due_before else None},
                 after={"state": to_state, "step_due_on": batch.step_due_on.isoformat() if batch.step_due_on else None,
                        "comment": outcome.comment, **outcome.audit_after})
    emit = outcome.emit
    if emit is None:
        emit = changed and not (from_state in _NOT_PUBLIC and to_state in _NOT_PUBLIC)
    if emit:
        outbox.emit(session, "batch", batch.id)
    session.flush()
    message = outcome.message
    if changed and batch.step_due_on and to_state != S.publicity.value:
        message += f"下一环节（{STEP_LABELS[STEP_OF_STATE[to_state]]}）应于{format_date_zh(batch.step_due_on)}前完成。"
    return ActionResult(batch.id, name, from_state, to_state, message, event.id, batch.step_due_on, outcome.details)


# --- where a batch stands ----------------------------------------------------------------------


@dataclass(frozen=True)
class StepInfo:
    state: str
    state_label: str
    step: str | None
    step_label: str
    started_on: date | None
    due_on: date | None
    days_left: int | None  # working days from today to the due date (negative: overdue by)
    overdue: bool
    next_roles: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "state_label": self.state_label, "step": self.step, "step_label": self.step_label,
                "started_on": self.started_on.isoformat() if self.started_on else None,
                "due_on": self.due_on.isoformat() if self.due_on else None, "days_left": self.days_left,
                "overdue": self.overdue, "next_roles": list(self.next_roles),
                "next_role_labels": [ROLE_LABELS[r] for r in self.next_roles]}


def step_info(batch: Batch, today: date | None = None) -> StepInfo:
    """The current step, its due date, working days left (or overdue) and who acts next."""
    today = today or today_shanghai()
    step = STEP_OF_STATE.get(batch.state)
    due = batch.step_due_on if step else None
    days_left = workdays_between(today, due) if due else None
    overdue = bool(due) and step != Step.PUBLICITY and today > due  # type: ignore[operator]
    return StepInfo(batch.state, _state_label(batch.state), step.value if step else None,
                    STEP_LABELS[step.value] if step else "", batch.step_started_on, due, days_left, overdue,
                    NEXT_ROLES.get(batch.state, ()))


# --- village notice boards (村务公开栏) ---------------------------------------------------------


def record_posting(session: Session, operator: Actor | Operator, batch_id: int, *, village_code: str, place: str,
                   posted_on: date, today: date, removed_on: date | None = None, photo_ref: str = "",
                   note: str = "") -> ActionResult:
    """Record that the list was posted on a village board (the ``publicity_posting`` action)."""
    form = {"village": village_code, "place": place, "posted_on": posted_on.isoformat(),
            "removed_on": removed_on.isoformat() if removed_on else "", "photo": photo_ref, "note": note}
    return perform(session, operator, batch_id, "publicity_posting", form, today)


def postings(session: Session, batch_id: int) -> list[PublicityPosting]:
    return list(session.scalars(select(PublicityPosting).where(PublicityPosting.batch_id == batch_id)
                                .order_by(PublicityPosting.village_code, PublicityPosting.posted_on)))


# --- deadline overrides (per project and region, by a system admin) ----------------------------

DEADLINE_FIELDS: tuple[Field, ...] = (
    Field("step", "环节", "select", required=True,
          options=tuple((step, STEP_LABELS[step]) for step in DEFAULT_RULES)),
    Field("days", "时限（工作日）", "number", required=True),
    Field("region_code", "适用区划代码（含下级）", "text", required=True),
    Field("project_code", "适用项目代码（留空为全部项目）", "text"),
    Field("source", "依据（文件名称、文号）", "text"),
)
MAX_DEADLINE_DAYS = 60


def deadline_overrides(session: Session) -> list[dict[str, Any]]:
    """Every override row, in the form :mod:`core.deadlines` takes (later rows win among equals)."""
    return [{"step": o.step, "days": o.days, "project_code": o.project_code, "region_code": o.region_code,
             "source": o.source} for o in session.scalars(select(DeadlineOverride).order_by(DeadlineOverride.id))]


def list_deadline_overrides(session: Session, operator: Actor | Operator) -> list[DeadlineOverride]:
    actor = as_actor(session, operator)
    rows = session.scalars(select(DeadlineOverride).order_by(DeadlineOverride.step, DeadlineOverride.region_code,
                                                             DeadlineOverride.id))
    return [o for o in rows if region_overlaps(o.region_code or "", actor.region_code) or not o.region_code]


def _override_snapshot(o: DeadlineOverride) -> dict[str, Any]:
    return {"step": o.step, "days": o.days, "project_code": o.project_code, "region_code": o.region_code,
            "source": o.source}


def set_deadline_override(session: Session, operator: Actor | Operator, form: Mapping[str, Any]) -> DeadlineOverride:
    """Add or change the time limit of a step for a region (and optionally one project); audited."""
    actor = as_actor(session, operator)
    if not can(actor, "deadline.edit"):
        raise WorkflowError("forbidden", "只有系统管理员可以调整办理时限。")
    v = validate(DEADLINE_FIELDS, form)
    step, days, region = v["step"], v["days"], v["region_code"]
    rule = DEFAULT_RULES[step]
    if days != days.to_integral_value() or not 0 < days <= MAX_DEADLINE_DAYS:
        raise WorkflowError("bad_days", f"时限应为 1 至 {MAX_DEADLINE_DAYS} 之间的整数（工作日）。", field="days")
    if rule.kind == "min" and days < rule.days:
        raise WorkflowError("bad_days", f"{STEP_LABELS[step]}不得少于{rule.days}个工作日（{rule.source}）。", field="days")
    if not (region.isascii() and region.isdigit() and 2 <= len(region) <= 12):
        raise WorkflowError("bad_region", "区划代码应为 2 至 12 位数字。", field="region_code")
    if not can(actor, "deadline.edit", region):
        raise WorkflowError("forbidden", "该区划不在您的管辖范围内。")
    project_code = v["project_code"]
    if project_code is not None:
        project = session.execute(select(Project).where(Project.code == project_code)).scalar_one_or_none()
        if project is None or not region_overlaps(project.region_code, region):
            raise WorkflowError("bad_project", f"项目 {project_code} 不存在，或不在该区划实施。", field="project_code")
    row = session.execute(select(DeadlineOverride).where(
        DeadlineOverride.step == step, DeadlineOverride.region_code == region,
        DeadlineOverride.project_code == project_code if project_code else DeadlineOverride.project_code.is_(None))
        .order_by(DeadlineOverride.id.desc()).limit(1)).scalar_one_or_none()
    before = _override_snapshot(row) if row is not None else None
    if row is None:
        row = DeadlineOverride(step=step, region_code=region, project_code=project_code)
        session.add(row)
    row.days, row.source = int(days), v["source"] or ""
    session.flush()
    trail.record(session, actor=actor.username, action="deadline.set", object_type="deadline_override",
                 object_id=row.id, region_code=region, before=before, after=_override_snapshot(row))
    return row


def delete_deadline_override(session: Session, operator: Actor | Operator, override_id: int) -> None:
    """Remove an override (the built-in rule, or a wider override, applies again); audited."""
    actor = as_actor(session, operator)
    row = session.get(DeadlineOverride, override_id)
    if row is None:
        raise WorkflowError("not_found", "没有这条时限设置。")
    if not can(actor, "deadline.edit", row.region_code or ""):
        raise WorkflowError("forbidden", "只有该区划的系统管理员可以删除这条时限设置。")
    trail.record(session, actor=actor.username, action="deadline.delete", object_type="deadline_override",
                 object_id=row.id, region_code=row.region_code or "", before=_override_snapshot(row))
    session.delete(row)
    session.flush()


# --- overdue work --------------------------------------------------------------------------------

# States whose step has a maximum (publicity is a minimum: never overdue).
DUE_STATES = tuple(state for state, step in STEP_OF_STATE.items() if DEFAULT_RULES[step].kind == "max")


@dataclass(frozen=True)
class DueItem:
    batch_id: int
    batch_code: str
    title: str
    state: str
    state_label: str
    step: str
    step_label: str
    department_id: int
    department: str
    project_code: str
    project_name: str
    region_code: str
    started_on: date | None
    due_on: date
    days_left: int  # working days left (0: due today; negative: overdue by that many)
    overdue: bool

    def as_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "batch_code": self.batch_code, "title": self.title, "state": self.state,
                "state_label": self.state_label, "step": self.step, "step_label": self.step_label,
                "department_id": self.department_id, "department": self.department,
                "project_code": self.project_code, "project_name": self.project_name,
                "region_code": self.region_code,
                "started_on": self.started_on.isoformat() if self.started_on else None,
                "due_on": self.due_on.isoformat(), "days_left": self.days_left, "overdue": self.overdue}


def due_work(session: Session, operator: Actor | Operator, today: date | None = None, *, within: int = 1,
             acting_only: bool = False) -> list[DueItem]:
    """Batches in the operator's scope whose current step is overdue or due within ``within``
    working days, ordered by step, department (by id) and due date. ``acting_only`` keeps the steps the
    operator's role acts on (a role's home page); supervisors leave it off."""
    actor = as_actor(session, operator)
    today = today or today_shanghai()
    states = [s for s in DUE_STATES if not acting_only or actor.role in NEXT_ROLES.get(s, ())]
    stmt = (select(Batch, Project, Department).join(Project, Batch.project_id == Project.id)
            .join(Department, Project.department_id == Department.id)
            .where(Batch.state.in_(states), Batch.step_due_on.is_not(None),
                   Batch.step_due_on <= add_workdays(today, within)))
    items = []
    for batch, project, department in session.execute(scope_batches(stmt, actor)).all():
        step = STEP_OF_STATE[batch.state]
        items.append(DueItem(batch.id, batch.code, batch.title, batch.state, _state_label(batch.state), step.value,
                             STEP_LABELS[step.value], department.id, department.name, project.code, project.name,
                             batch.region_code, batch.step_started_on, batch.step_due_on,
                             workdays_between(today, batch.step_due_on), today > batch.step_due_on))
    if not acting_only or actor.role in CORRECTION_ROLES:
        items.extend(_correction_items(session, actor, today, add_workdays(today, within)))
    items.sort(key=lambda i: (_STEP_ORDER_BY_STEP[i.step], i.department_id, i.due_on, i.batch_code))
    return items


_STEP_ORDER_BY_STEP = {step.value: i for i, step in enumerate(STEP_OF_STATE.values())}
CORRECTION_ROLES = ("township_clerk", "department_operator")
FAILED_CORRECTION_LABEL = "发放失败更正"


def _correction_items(session: Session, actor: Actor, today: date, horizon: date) -> list[DueItem]:
    """Batches with failed lines (inside the actor's region) to be corrected by ``horizon`` or overdue:
    the step ``correction``, due on the earliest line's day."""
    due = func.min(PaymentLine.correction_due_on).label("due")
    failing = (select(PaymentLine.batch_id, due)
               .where(PaymentLine.state == LineState.failed.value, PaymentLine.correction_due_on.is_not(None),
                      PaymentLine.village_code.startswith(actor.region_code))
               .group_by(PaymentLine.batch_id).having(due <= horizon).subquery())
    stmt = (select(Batch, Project, Department, failing.c.due).join(failing, failing.c.batch_id == Batch.id)
            .join(Project, Batch.project_id == Project.id).join(Department, Project.department_id == Department.id))
    return [DueItem(batch.id, batch.code, batch.title, batch.state, _state_label(batch.state), Step.CORRECTION.value,
                    FAILED_CORRECTION_LABEL, department.id, department.name, project.code, project.name,
                    batch.region_code, batch.paid_on, due_on, workdays_between(today, due_on), today > due_on)
            for batch, project, department, due_on in session.execute(scope_batches(stmt, actor)).all()]
