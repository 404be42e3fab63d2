"""Supervision reports (监督：统计报表): timeliness of each step per department, failed payments and
crediting time per disbursing bank, the half-yearly evaluation per department, complaints per
project and region. Read-only; every figure is computed over what the operator may see.

Who sees them (``report.view``): auditor, supervisor and system admin over their region; the
department roles (operator, reviewer) over their own department only (the department filter is
forced to theirs). Township clerks, finance reviewers and bank operators do not (403).

Filters (:class:`Filters`): a period (a year, a half-year ``2025H1``/``2025H2``, or a date range),
a region inside the operator's region (batch figures: batches whose region overlaps it, as
:func:`admin.access.roles.scope_batches` does; line figures: lines whose village lies inside it),
and a department.

How each figure is counted (working days by :mod:`core.workdays`; the start day is not counted):

- Timeliness: a step is the time a batch spends in a state of
  :data:`admin.batches.workflow.STEP_OF_STATE` (初审, 公示, 审批, 财政复核, 银行兑付, 退回更正, 发放结果公开),
  from the :class:`WorkflowEvent` that entered the state to the one that left it (dates in
  Asia/Shanghai). Its due date is the one recorded on the events while the batch was in the state
  (the rule in force when the step began, overrides included; an objection's correction moves the
  publicity end). A step ends when the batch leaves the state (the first review, say, when the
  publicity opens or the batch is returned: the workflow's own notion, as on ``/overdue``); a step
  left by cancelling the batch is not counted. A step counts in the period in which it finished.
  On time: finished on or
  before its due date (a ``max`` rule), or not before it (publicity, a ``min`` rule). Open: the
  batch is in that state now; overdue: today is after its due date (publicity never). Events are a
  handful per batch (not per line), read for the batches in scope.
- Banks: lines sent to a bank (``payment_request_id``) by payment requests dated in the period,
  with the bank's result: paid; failed (``failed``, and ``reissued``/``returned``, which were
  failed first). Failure rate = failed ÷ lines with a result; reasons by ``failure_code``
  (:mod:`admin.bank.reasons`). The bank is the card account's (``CardAccount.bank_name``), as the
  bank files are cut (:mod:`admin.bank.ledger`). Crediting time: working days from the payment
  request's date to the line's ``paid_on``, paid lines only: average, 90th percentile (nearest
  rank), maximum, and the share within the limit (2 working days, seed 002 第二十一条). All of it is
  SQL ``GROUP BY`` (bank × state × reason; bank × request day × paid day), never a row per line.
- Evaluation: one row per department for a half-year; the components and the score are
  documented in :data:`SCORE_WEIGHTS` and :func:`evaluation`.
- Complaints: cases filed in the period that the operator may see
  (:func:`admin.access.roles.scope_complaints`: a confidential tip-off only for the supervision
  roles), per project and per region: received, finished, answered on time (the complaint
  module's own :func:`admin.complaints.workflow.case_info`), open, open and overdue. The per-unit
  and per-kind statistics stay on ``/complaints/statistics``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from admin.access.roles import (
    SUPERVISION_ROLES,
    Actor,
    allowed,
    overlaps_clause,
    region_inside,
    scope_batches,
    scope_complaints,
    scope_lines,
    scope_projects,
)
from admin.bank.ledger import bank_label
from admin.bank.reasons import REASONS, UNKNOWN
from admin.batches.workflow import STEP_LABELS, STEP_OF_STATE
from admin.complaints.workflow import FINISHED_STATES, CaseInfo, case_info
from admin.models import (
    Batch,
    BatchState,
    CardAccount,
    Complaint,
    Department,
    LineCorrection,
    LineState,
    PaymentLine,
    PaymentRequest,
    Project,
    Region,
    WorkflowEvent,
)
from core.deadlines import DEFAULT_RULES, Step
from core.timeutil import local
from core.workdays import workdays_between

__all__ = [
    "HALF_LABELS",
    "REPORT_PERMISSION",
    "SCORE_WEIGHTS",
    "Filters",
    "Period",
    "ReportError",
    "bank_report",
    "complaint_report",
    "departments_in_scope",
    "crediting",
    "evaluation",
    "half_of",
    "half_year",
    "half_year_options",
    "make_filters",
    "parse_period",
    "step_spans",
    "timeliness",
]

REPORT_PERMISSION = "report.view"
HALF_LABELS = {1: "上半年", 2: "下半年"}
STEP_ORDER = tuple(dict.fromkeys(STEP_OF_STATE.values()))
BANK_LIMIT = DEFAULT_RULES[Step.BANK_CREDITING.value].days
_PAID, _FAILED = LineState.paid.value, LineState.failed.value
CANCELLED = BatchState.cancelled.value
FAILED_STATES = (_FAILED, LineState.reissued.value, LineState.returned.value)
RESULT_STATES = (_PAID, *FAILED_STATES)
REASON_LABELS = {r.code: r.label for r in (*REASONS, UNKNOWN)}


class ReportError(Exception):
    """Bad filter input: a Chinese message and a stable code (the views answer 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# --- filters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    label: str
    key: str  # "2025", "2025H1", "2025-01-01~2025-03-31"

    @property
    def half(self) -> tuple[int, int] | None:
        """(year, 1 or 2) when the period is exactly a half-year."""
        for h in (1, 2):
            if (self.start, self.end) == _half_bounds(self.start.year, h):
                return self.start.year, h
        return None

    def holds(self, day: date | None) -> bool:
        return day is not None and self.start <= day <= self.end

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "start": self.start.isoformat(), "end": self.end.isoformat()}


def _half_bounds(year: int, half: int) -> tuple[date, date]:
    return (date(year, 1, 1), date(year, 6, 30)) if half == 1 else (date(year, 7, 1), date(year, 12, 31))


def half_year(year: int, half: int) -> Period:
    start, end = _half_bounds(year, half)
    return Period(start, end, f"{year}年{HALF_LABELS[half]}", f"{year}H{half}")


def half_of(day: date) -> Period:
    return half_year(day.year, 1 if day.month <= 6 else 2)


def half_year_options(today: date, years: int = 4) -> list[Period]:
    """The half-years to pick from (the evaluation's select): the current one first, going back."""
    out, current = [], half_of(today)
    year, half = current.start.year, 1 if current.start.month == 1 else 2
    for _ in range(years * 2):
        out.append(half_year(year, half))
        year, half = (year, 1) if half == 2 else (year - 1, 2)
    return out


def _parse_day(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ReportError("bad_date", f"{name}应为日期，格式如 2025-07-01。") from None


def parse_period(period: str | None, start: str | None, end: str | None, today: date) -> Period:
    """``start``/``end`` (both, ISO dates) win; else ``period`` = ``2025`` or ``2025H1``/``2025H2``;
    else the current year."""
    start, end, period = (start or "").strip(), (end or "").strip(), (period or "").strip().upper()
    if start or end:
        if not (start and end):
            raise ReportError("bad_period", "按日期统计时请同时填写起止日期。")
        a, b = _parse_day(start, "开始日期"), _parse_day(end, "结束日期")
        if b < a:
            raise ReportError("bad_period", "结束日期不能早于开始日期。")
        if (b - a).days > 366 * 5:
            raise ReportError("bad_period", "统计期间不能超过五年。")
        return Period(a, b, f"{a.isoformat()} 至 {b.isoformat()}", f"{a.isoformat()}~{b.isoformat()}")
    if not period:
        return Period(date(today.year, 1, 1), date(today.year, 12, 31), f"{today.year}年", str(today.year))
    year_text, _, half_text = period.partition("H")
    if not (year_text.isascii() and year_text.isdigit() and len(year_text) == 4 and 2000 <= int(year_text) <= 2100
            and half_text in ("", "1", "2")):
        raise ReportError("bad_period", "统计期间应为年度（如 2025）或半年（如 2025H1 上半年、2025H2 下半年）。")
    year = int(year_text)
    if half_text:
        return half_year(year, int(half_text))
    return Period(date(year, 1, 1), date(year, 12, 31), f"{year}年", str(year))


@dataclass(frozen=True)
class Filters:
    period: Period
    region: str  # inside the operator's region (the operator's region when not narrowed)
    department_id: int | None  # forced to their own for department roles

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period.as_dict(), "region": self.region, "department_id": self.department_id}


def make_filters(actor: Actor, period: Period, region: str | None, department_id: int | None) -> Filters:
    """Apply the operator's scope: the region must lie inside theirs (else ``PermissionError``), a
    department role always sees its own department."""
    if not allowed(actor, REPORT_PERMISSION):
        raise PermissionError(REPORT_PERMISSION)
    region = (region or "").strip() or actor.region_code
    if not (region.isascii() and region.isdigit() and 2 <= len(region) <= 12):
        raise ReportError("bad_region", "区划代码应为 2 至 12 位数字。")
    if not region_inside(region, actor.region_code):
        raise PermissionError(region)
    if actor.is_department:
        department_id = actor.department_id if actor.department_id is not None else -1
    return Filters(period, region, department_id)


def departments_in_scope(session: Session, actor: Actor) -> list[Department]:
    """The departments the operator may pick: their own for a department role, else those of the
    projects in their region."""
    stmt = select(Department).where(Department.id.in_(
        scope_projects(select(Project.department_id), actor).scalar_subquery())).order_by(Department.code)
    if actor.is_department:
        stmt = stmt.where(Department.id == (actor.department_id or -1))
    return list(session.scalars(stmt))


def _batches(stmt: Select, actor: Actor, f: Filters) -> Select:
    """Batch-level scope: the operator's, the region filter (overlap), the department filter."""
    stmt = scope_batches(stmt, actor).where(overlaps_clause(Batch.region_code, f.region))
    if f.department_id is not None:
        stmt = stmt.where(Project.department_id == f.department_id)
    return stmt


def _lines(stmt: Select, actor: Actor, f: Filters) -> Select:
    """Line-level scope: the operator's lines, villages inside the region filter, the department."""
    stmt = scope_lines(stmt, actor).where(PaymentLine.village_code.startswith(f.region))
    if f.department_id is not None:
        stmt = stmt.where(Project.department_id == f.department_id)
    return stmt


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- 1. timeliness ------------------------------------------------------------------------------


@dataclass
class StepRow:
    department_id: int
    department: str
    step: str
    finished: int = 0
    on_time: int = 0
    late: int = 0
    days: list[int] = field(default_factory=list)
    open: int = 0
    overdue: int = 0

    @property
    def label(self) -> str:
        return STEP_LABELS[self.step]

    @property
    def limit(self) -> str:
        rule = DEFAULT_RULES[self.step]
        return f"{'不少于' if rule.kind == 'min' else '不超过'}{rule.days}个工作日"

    def as_dict(self) -> dict[str, Any]:
        return {"department_id": self.department_id, "department": self.department, "step": self.step,
                "step_label": self.label, "limit": self.limit, "finished": self.finished, "on_time": self.on_time,
                "late": self.late, "on_time_rate": _rate(self.on_time, self.finished),
                "average_days": round(sum(self.days) / len(self.days), 2) if self.days else None,
                "max_days": max(self.days) if self.days else None, "open": self.open, "overdue": self.overdue}


@dataclass(frozen=True)
class StepSpan:
    """One batch's stay in one step."""

    batch_id: int
    department_id: int
    step: str
    started_on: date
    due_on: date | None
    finished_on: date | None  # None: still in it

    def on_time(self) -> bool:
        if self.finished_on is None or self.due_on is None:
            return True
        if DEFAULT_RULES[self.step].kind == "min":
            return self.finished_on >= self.due_on
        return self.finished_on <= self.due_on


def step_spans(session: Session, actor: Actor, f: Filters) -> list[StepSpan]:
    """Every stay in a step of a batch in scope that moved since the period began or is in a step
    now, from its workflow events (a few per batch; the order they were written in)."""
    since = datetime.combine(f.period.start - timedelta(days=1), datetime.min.time())  # loose: exact in Python
    moved = select(WorkflowEvent.id).where(WorkflowEvent.batch_id == Batch.id, WorkflowEvent.at >= since).exists()
    batch_ids = _batches(select(Batch.id).join(Project, Project.id == Batch.project_id)
                         .where(moved | Batch.state.in_(list(STEP_OF_STATE))), actor, f)
    stmt = (select(WorkflowEvent.batch_id, WorkflowEvent.from_state, WorkflowEvent.to_state, WorkflowEvent.at,
                   WorkflowEvent.due_on, Project.department_id)
            .join(Batch, Batch.id == WorkflowEvent.batch_id).join(Project, Project.id == Batch.project_id)
            .where(WorkflowEvent.batch_id.in_(batch_ids.scalar_subquery()))
            .order_by(WorkflowEvent.batch_id, WorkflowEvent.id))
    spans: list[StepSpan] = []
    current: dict[str, Any] | None = None
    last_batch = None
    for batch_id, _from_state, to_state, at, due_on, department_id in session.execute(stmt):
        if batch_id != last_batch:
            if current is not None:
                spans.append(_span(**current, finished_on=None))
            current, last_batch = None, batch_id
        day = local(at).date()
        if current is not None and to_state == current["state_"]:
            current["due_on"] = due_on  # still in the step (a decision, an objection, a posting …)
            continue
        if current is not None and to_state != CANCELLED:  # a cancelled batch's step is not done, just dropped
            spans.append(_span(**current, finished_on=day))
        current = None
        step = STEP_OF_STATE.get(to_state)
        if step is not None:
            current = {"batch_id": batch_id, "department_id": department_id, "step": step.value, "started_on": day,
                       "due_on": due_on, "state_": to_state}
    if current is not None:
        spans.append(_span(**current, finished_on=None))
    return spans


def _span(**kwargs: Any) -> StepSpan:
    kwargs.pop("state_", None)
    return StepSpan(**kwargs)


def _department_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(ids))
    return dict(session.execute(select(Department.id, Department.name).where(Department.id.in_(ids))).all()) \
        if ids else {}


def timeliness(session: Session, actor: Actor, f: Filters, today: date) -> list[StepRow]:
    """Per department and step: finished in the period, on time, late, working days taken (average,
    maximum); open now and overdue (steps begun by the end of the period)."""
    rows: dict[tuple[int, str], StepRow] = {}
    spans = step_spans(session, actor, f)
    names = _department_names(session, (s.department_id for s in spans))
    for span in spans:
        if span.finished_on is not None and not f.period.holds(span.finished_on):
            continue
        if span.finished_on is None and span.started_on > f.period.end:
            continue
        key = (span.department_id, span.step)
        row = rows.setdefault(key, StepRow(span.department_id, names.get(span.department_id, ""), span.step))
        if span.finished_on is None:
            row.open += 1
            row.overdue += (DEFAULT_RULES[span.step].kind == "max" and span.due_on is not None
                            and today > span.due_on)
            continue
        row.finished += 1
        if span.on_time():
            row.on_time += 1
        else:
            row.late += 1
        row.days.append(workdays_between(span.started_on, span.finished_on))
    order = {step.value: i for i, step in enumerate(STEP_ORDER)}
    return sorted(rows.values(), key=lambda r: (r.department, r.department_id, order[r.step]))


# --- 2. failed payments and crediting time per bank -----------------------------------------------


@dataclass
class BankRow:
    bank_name: str
    sent: int = 0  # lines with a result
    paid: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    credit_days: dict[int, int] = field(default_factory=dict)  # working days → paid lines

    def as_dict(self) -> dict[str, Any]:
        return {"bank": self.bank_name, "bank_label": bank_label(self.bank_name), "sent": self.sent,
                "paid": self.paid, "failed": self.failed, "failure_rate": _rate(self.failed, self.sent),
                "reasons": [{"code": code, "label": REASON_LABELS.get(code, code), "lines": n}
                            for code, n in sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))],
                **crediting(self.credit_days)}


def crediting(days: dict[int, int]) -> dict[str, Any]:
    """Average, 90th percentile (nearest rank), maximum working days and the share within the limit,
    over a distribution {working days: lines}."""
    total = sum(days.values())
    if not total:
        return {"credited": 0, "average_days": None, "p90_days": None, "max_days": None, "within_limit": 0,
                "within_limit_share": None, "limit_days": BANK_LIMIT}
    rank, seen, p90 = math.ceil(0.9 * total), 0, None
    for d in sorted(days):
        seen += days[d]
        if seen >= rank:
            p90 = d
            break
    within = sum(n for d, n in days.items() if d <= BANK_LIMIT)
    return {"credited": total, "average_days": round(sum(d * n for d, n in days.items()) / total, 2),
            "p90_days": p90, "max_days": max(days), "within_limit": within,
            "within_limit_share": _rate(within, total), "limit_days": BANK_LIMIT}


def _sent_lines(columns: Sequence[Any], actor: Actor, f: Filters, states: Sequence[str] = RESULT_STATES) -> Select:
    """Lines in ``states`` sent by payment requests dated in the period, in scope, with their bank
    (the card account's, "" unregistered) and ``columns``, counted per group (``GROUP BY``)."""
    bank = func.coalesce(CardAccount.bank_name, "")
    stmt = (select(bank, *columns, func.count(PaymentLine.id)).select_from(PaymentLine)
            .join(PaymentRequest, PaymentRequest.id == PaymentLine.payment_request_id)
            .join(Batch, Batch.id == PaymentLine.batch_id).join(Project, Project.id == Batch.project_id)
            .outerjoin(CardAccount, CardAccount.id == PaymentLine.card_account_id)
            .where(PaymentLine.state.in_(list(states)), PaymentRequest.requested_on >= f.period.start,
                   PaymentRequest.requested_on <= f.period.end))
    return _lines(stmt, actor, f).group_by(bank, *columns)


def bank_outcomes(session: Session, actor: Actor, f: Filters) -> list[tuple[str, int, str, str | None, int]]:
    """(bank, department, state, failure code, lines): one SQL ``GROUP BY``."""
    stmt = _sent_lines((Project.department_id, PaymentLine.state, PaymentLine.failure_code), actor, f)
    return [(bank, dept, state, code, n) for bank, dept, state, code, n in session.execute(stmt)]


def bank_report(session: Session, actor: Actor, f: Filters) -> list[BankRow]:
    rows: dict[str, BankRow] = {}
    for bank, _dept, state, code, n in bank_outcomes(session, actor, f):
        row = rows.setdefault(bank, BankRow(bank))
        row.sent += n
        if state == _PAID:
            row.paid += n
        else:
            row.failed += n
            key = code or UNKNOWN.code
            row.reasons[key] = row.reasons.get(key, 0) + n
    # crediting time: one working-day count per (bank, request day, paid day), weighted by its lines
    paid = _sent_lines((PaymentRequest.requested_on, PaymentLine.paid_on), actor, f, (_PAID,))
    for bank, requested_on, paid_on, n in session.execute(paid.where(PaymentLine.paid_on.is_not(None))):
        row = rows.setdefault(bank, BankRow(bank))
        days = workdays_between(requested_on, paid_on)
        row.credit_days[days] = row.credit_days.get(days, 0) + n
    return sorted(rows.values(), key=lambda r: (r.bank_name == "", r.bank_name))


# --- 4. complaints per project and region ---------------------------------------------------------


@dataclass
class ComplaintRow:
    key: str
    name: str
    received: int = 0
    confidential: int = 0
    finished: int = 0
    on_time: int = 0
    open: int = 0
    overdue: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.key, "name": self.name, "received": self.received, "confidential": self.confidential,
                "finished": self.finished, "on_time": self.on_time, "on_time_rate": _rate(self.on_time, self.finished),
                "open": self.open, "overdue": self.overdue}


def _filed_day(case: Complaint) -> date:
    return local(case.filed_at).date()


def complaints_in(session: Session, actor: Actor, f: Filters) -> list[Complaint]:
    """Cases the operator may see (scope_complaints), filed in the period, in the region filter
    (where filed, or referred to), of the department filter."""
    stmt = scope_complaints(select(Complaint), actor)
    if f.region != actor.region_code:
        stmt = stmt.where(func.coalesce(Complaint.region_code, "").startswith(f.region)
                          | Complaint.handling_region.startswith(f.region))
    if f.department_id is not None:
        stmt = stmt.where(Complaint.department_id == f.department_id)
    # a loose bound in SQL (timestamps are compared per database), the exact day in Python
    stmt = stmt.where(Complaint.filed_at >= datetime.combine(f.period.start - timedelta(days=1), datetime.min.time()))
    return [c for c in session.scalars(stmt.order_by(Complaint.id)) if f.period.holds(_filed_day(c))]


def _count(row: ComplaintRow, case: Complaint, info: CaseInfo) -> None:
    row.received += 1
    row.confidential += bool(case.confidential)
    if case.status in FINISHED_STATES:
        row.finished += 1
        row.on_time += bool(info.on_time)
    else:
        row.open += 1
        row.overdue += info.overdue


def _region_level_below(region: str) -> int:
    """Complaints per region one level below the filter (county → townships, township → villages)."""
    for length in (2, 4, 6, 9, 12):
        if len(region) < length:
            return length
    return 12


def complaint_report(session: Session, actor: Actor, f: Filters, today: date) -> dict[str, Any]:
    cases = complaints_in(session, actor, f)
    projects = dict(session.execute(select(Project.code, Project.name).where(
        Project.code.in_(sorted({c.project_code for c in cases if c.project_code})))).all())
    level = _region_level_below(f.region)
    codes = {(c.region_code or "")[:level] for c in cases}
    regions = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(sorted(codes)))).all()) \
        if codes else {}
    by_project: dict[str, ComplaintRow] = {}
    by_region: dict[str, ComplaintRow] = {}
    total = ComplaintRow("", "合计")
    for case in cases:
        info = case_info(case, today)
        code = case.project_code or ""
        _count(by_project.setdefault(code, ComplaintRow(code, projects.get(code, code) if code else "未指明项目")),
               case, info)
        region = (case.region_code or "")[:level] if case.region_code and len(case.region_code) >= level else ""
        _count(by_region.setdefault(region, ComplaintRow(region, regions.get(region, region) if region
                                                         else "未指明地区（或上级）")), case, info)
        _count(total, case, info)
    key = lambda r: (r.key == "", -r.received, r.key)  # noqa: E731
    return {"by_project": sorted(by_project.values(), key=key), "by_region": sorted(by_region.values(), key=key),
            "total": total, "confidential_counted": actor.role in SUPERVISION_ROLES}


# --- 3. the half-yearly evaluation per department --------------------------------------------------

# The score (0–100) is the weighted average of the components that have something to measure in
# the half-year (a department with no complaints is not scored on complaints), in percent:
# Nothing to evaluate (no step, no bank result, no complaint, no overdue correction): no score.
SCORE_WEIGHTS: dict[str, int] = {
    "on_time_rate": 40,         # 环节按时率: steps finished on time ÷ (finished + open and overdue),
                                # the returned batches' correction left to "correction"
    "success_rate": 20,         # 发放成功率: 1 − failed lines ÷ lines with a bank result
    "complaint_on_time": 20,    # 投诉按期答复率: answered on time ÷ finished (confidential tip-offs excluded)
    "correction": 20,           # 更正及时: 1 − 0.25 per overdue correction (floor 0): 4 overdue → 0
}
CORRECTION_PENALTY = Decimal("0.25")


@dataclass
class EvaluationRow:
    department_id: int
    department: str
    steps_finished: int = 0
    steps_on_time: int = 0
    steps_overdue_open: int = 0
    lines_sent: int = 0
    lines_failed: int = 0
    overdue_corrections: int = 0
    complaints_finished: int = 0
    complaints_on_time: int = 0

    def components(self) -> dict[str, float | None]:
        return {
            "on_time_rate": _rate(self.steps_on_time, self.steps_finished + self.steps_overdue_open),
            "success_rate": _rate(self.lines_sent - self.lines_failed, self.lines_sent),
            "complaint_on_time": _rate(self.complaints_on_time, self.complaints_finished),
            "correction": float(max(Decimal(0), 1 - CORRECTION_PENALTY * self.overdue_corrections)),
        }

    @property
    def measured(self) -> bool:
        """Whether the department had anything to evaluate in the period."""
        return bool(self.steps_finished or self.steps_overdue_open or self.lines_sent or self.complaints_finished
                    or self.overdue_corrections)

    def score(self) -> float | None:
        if not self.measured:
            return None
        parts = [(SCORE_WEIGHTS[k], v) for k, v in self.components().items() if v is not None]
        weight = sum(w for w, _ in parts)
        return round(100 * sum(w * v for w, v in parts) / weight, 1)

    def as_dict(self) -> dict[str, Any]:
        c = self.components()
        return {"department_id": self.department_id, "department": self.department,
                "steps_finished": self.steps_finished, "steps_on_time": self.steps_on_time,
                "on_time_rate": c["on_time_rate"], "steps_overdue_open": self.steps_overdue_open,
                "lines_sent": self.lines_sent, "lines_failed": self.lines_failed,
                "failure_rate": _rate(self.lines_failed, self.lines_sent),
                "overdue_corrections": self.overdue_corrections, "complaints_finished": self.complaints_finished,
                "complaints_on_time": self.complaints_on_time, "complaint_on_time_rate": c["complaint_on_time"],
                "correction_score": c["correction"], "score": self.score()}


def overdue_failed_lines(session: Session, actor: Actor, f: Filters, today: date) -> dict[int, int]:
    """Per department: failed lines not corrected (no correction recorded) whose correction day,
    in the period, has passed (SQL ``GROUP BY``)."""
    corrected = select(LineCorrection.line_id).where(LineCorrection.line_id == PaymentLine.id).exists()
    stmt = (select(Project.department_id, func.count(PaymentLine.id)).select_from(PaymentLine)
            .join(Batch, Batch.id == PaymentLine.batch_id).join(Project, Project.id == Batch.project_id)
            .where(PaymentLine.state == _FAILED, PaymentLine.correction_due_on.is_not(None),
                   PaymentLine.correction_due_on < today, PaymentLine.correction_due_on >= f.period.start,
                   PaymentLine.correction_due_on <= f.period.end, ~corrected))
    return dict(session.execute(_lines(stmt, actor, f).group_by(Project.department_id)).all())


def evaluation(session: Session, actor: Actor, f: Filters, today: date) -> list[EvaluationRow]:
    """One row per department in scope for the period (meant for a half-year, seed 000 第二十一条:
    每半年评价通报一次): steps finished on time, overdue open steps, failure rate, overdue corrections
    (returned batches corrected late or still overdue, failed lines whose correction is overdue),
    complaints answered on time; and the score (:data:`SCORE_WEIGHTS`). The steps here leave out
    the returned batches' correction (退回更正), which counts under the overdue corrections."""
    departments = departments_in_scope(session, actor)
    if f.department_id is not None:
        departments = [d for d in departments if d.id == f.department_id]
    rows = {d.id: EvaluationRow(d.id, d.name) for d in departments}
    for step in timeliness(session, actor, f, today):
        row = rows.get(step.department_id)
        if row is None:
            continue
        if step.step == Step.CORRECTION.value:  # scored once, under the corrections
            row.overdue_corrections += step.late + step.overdue
            continue
        row.steps_finished += step.finished
        row.steps_on_time += step.on_time
        row.steps_overdue_open += step.overdue
    for _bank, dept, state, _code, n in bank_outcomes(session, actor, f):
        if dept in rows:
            rows[dept].lines_sent += n
            rows[dept].lines_failed += n if state != _PAID else 0
    for dept, n in overdue_failed_lines(session, actor, f, today).items():
        if dept in rows:
            rows[dept].overdue_corrections += n
    for case in complaints_in(session, actor, f):
        if case.confidential or case.department_id not in rows or case.status not in FINISHED_STATES:
            continue
        rows[case.department_id].complaints_finished += 1
        rows[case.department_id].complaints_on_time += bool(case_info(case, today).on_time)
    return sorted(rows.values(), key=lambda r: (r.score() is None, -(r.score() or 0), r.department))
