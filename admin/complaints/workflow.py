"""Complaints and tip-offs handled inside (投诉举报办理): the one module that moves a case.

A case (:class:`admin.models.Complaint`) comes in from the public store (:func:`receive`, called
by indexer/inbound.py), is handled through the actions below, and every change of what the public
may see goes back out through the outbox (topic ``complaint``, key = tracking code). Who may act
is decided by :func:`admin.access.roles.can` (``complaint.handle``: the case's holder, see the
docstring of roles.py); this module adds the state and the form. Stable action names::

    action   label          from → to                                  fields
    accept   受理            received → accepted                        comment
    reject   不予受理         received → rejected                        reason (told to the complainant)
    assign   转办            received, accepted, in_progress → received department, region, comment
    start    开始办理         accepted → in_progress                     comment
    answer   答复            in_progress → answered                     answer (public), comment (internal)
    close    办结            answered → closed                          comment
    reopen   重新办理         answered, closed → in_progress             reason

Decisions worth knowing:

- ``assign`` (转办) hands the case to another department (``department_id``) or another level
  (``handling_region``: a county or township code), and it waits there to be accepted again; the
  deadline keeps running (the complainant's clock does not restart). A confidential tip-off is
  only referred between supervision levels: no department field.
- ``accept`` by a department role takes an unrouted case into the actor's department.
- Deadlines in working days (:mod:`core.workdays`): ``COMPLAINT_ANSWER`` (complaints, tip-offs,
  enquiries, petitions; 15) or ``DISCLOSURE_REQUEST`` (information-disclosure requests; 20), from
  the filing day. The deployment's defaults are ``COMPLAINT_DEADLINE_DAYS`` /
  ``DISCLOSURE_REQUEST_DEADLINE_DAYS`` (:class:`Limits`), the rows of ``deadline_overrides`` win
  per project and region (:func:`core.deadlines.rule_for`). :func:`receive` keeps the due date the
  public was promised unless an override applies to the case; ``reopen`` starts a fresh period.
- The public sees the answer with its date and the answering unit (``answer_unit``: the
  department, the operator's unit or region, or 纪检监察机构 for a confidential tip-off), never the
  handler's name. A rejection's reason is its answer.
- The complainant's satisfaction (满意/不满意) comes in from the public store by tracking code
  (:func:`record_feedback`) and is recorded with the case; a dispute is handled by ``reopen``.
- Audit: every step (receipt and feedback included) is one :class:`ComplaintEvent` and one audit
  entry (``complaint.<action>``) in the same transaction as the state, the due date and the
  outbox entry. For a confidential tip-off the audit trail holds only the SHA-256 of the comment
  (the audit trail is read by system admins too); the comment stays in the case's events.

Error codes (:class:`admin.actions.WorkflowError`, ``.status`` for the HTTP answer):
404 ``not_found``, ``unknown_action``; 403 ``forbidden``; 409 ``wrong_state``; 400 ``missing_field``,
``too_long``, ``bad_option``, ``same_holder`` (with ``.field``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import outbox
from admin.access.roles import Actor, as_actor, can, overlaps_clause, scope_complaints
from admin.audit import trail
from admin.actions import Action, Field, WorkflowError, validate
from admin.models import Complaint, ComplaintEvent, DeadlineOverride, Department, Operator, Project, Region
from core.complaints import COMPLAINT_KINDS
from core.config import Config
from core.deadlines import DEFAULT_RULES, Step, rule_for
from core.timeutil import format_date_zh, local, moment_on
from core.workdays import add_workdays, workdays_between
from core.workdays import today as today_shanghai

__all__ = [
    "ACTION_LABELS",
    "ACTION_NAMES",
    "COMPLAINT_STATE_LABELS",
    "FINISHED_STATES",
    "OPEN_STATES",
    "CaseInfo",
    "Limits",
    "ActionResult",
    "DueCase",
    "SATISFACTION_LABELS",
    "StatRow",
    "answer_days",
    "can_see_contact",
    "available_actions",
    "case_info",
    "due_cases",
    "holder_label",
    "perform",
    "receive",
    "record_feedback",
    "statistics",
    "step_of",
]

COMPLAINT_STATE_LABELS: dict[str, str] = {
    "received": "待受理",
    "accepted": "已受理",
    "in_progress": "办理中",
    "answered": "已答复",
    "closed": "已办结",
    "rejected": "不予受理",
}
OPEN_STATES = ("received", "accepted", "in_progress")
FINISHED_STATES = ("answered", "closed", "rejected")
SATISFACTION_LABELS = {"satisfied": "满意", "dissatisfied": "不满意"}
RECEIVER = "portal"          # the actor of a receipt: filed on the public side, pulled in by the indexer
COMPLAINANT = "complainant"  # the actor of a satisfaction feedback
SUPERVISION_UNIT = "纪检监察机构"
UNROUTED = "待分派"
DUE_WITHIN = 3  # working days: "due soon" on the home page and the due list


# --- deadlines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """The deployment's default answer deadlines (working days), from its configuration."""

    complaint_days: int = DEFAULT_RULES[Step.COMPLAINT_ANSWER.value].days
    disclosure_request_days: int = DEFAULT_RULES[Step.DISCLOSURE_REQUEST.value].days

    @classmethod
    def of(cls, config: Config) -> "Limits":
        return cls(config.complaint_deadline_days, config.disclosure_request_deadline_days)

    def days(self, step: str) -> int:
        return self.disclosure_request_days if step == Step.DISCLOSURE_REQUEST.value else self.complaint_days


def step_of(kind: str) -> str:
    """The deadline step of a kind: information-disclosure requests have their own."""
    return (Step.DISCLOSURE_REQUEST if kind == "disclosure_request" else Step.COMPLAINT_ANSWER).value


def _overrides(session: Session) -> list[dict[str, Any]]:
    return [{"step": o.step, "days": o.days, "project_code": o.project_code, "region_code": o.region_code,
             "source": o.source} for o in session.scalars(select(DeadlineOverride).order_by(DeadlineOverride.id))]


def answer_days(case: Complaint, overrides: Sequence[Mapping[str, Any]], limits: Limits) -> int:
    """Working days to answer this case: the deployment's default, unless an override matches."""
    step = step_of(case.kind)
    rows = [{"step": step, "days": limits.days(step)}, *overrides]  # the default first: any override beats it
    return rule_for(step, case.project_code, case.region_code, rows).days


def _override_days(case: Complaint, overrides: Sequence[Mapping[str, Any]]) -> int | None:
    step = step_of(case.kind)
    rule = rule_for(step, case.project_code, case.region_code, [o for o in overrides if o["step"] == step])
    return None if rule is DEFAULT_RULES[step] else rule.days


# --- results and where a case stands --------------------------------------------------------------


@dataclass(frozen=True)
class ActionResult:
    complaint_id: int
    tracking_code: str
    action: str
    from_state: str
    to_state: str
    message: str
    event_id: int
    due_on: date

    def as_dict(self) -> dict[str, Any]:
        return {"complaint_id": self.complaint_id, "tracking_code": self.tracking_code, "action": self.action,
                "from_state": self.from_state, "state": self.to_state,
                "state_label": COMPLAINT_STATE_LABELS.get(self.to_state, self.to_state), "message": self.message,
                "due_on": self.due_on.isoformat()}


@dataclass(frozen=True)
class CaseInfo:
    """A case's deadline as a page shows it."""

    due_on: date
    days_left: int | None  # working days to the due date (negative: overdue by); None once finished
    overdue: bool
    due_soon: bool
    handling_days: int | None  # working days from filing to the answer, once answered
    on_time: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {"due_on": self.due_on.isoformat(), "days_left": self.days_left, "overdue": self.overdue,
                "due_soon": self.due_soon, "handling_days": self.handling_days, "on_time": self.on_time}


def case_info(case: Complaint, today: date | None = None) -> CaseInfo:
    today = today or today_shanghai()
    filed_on = local(case.filed_at).date()
    if case.status in OPEN_STATES:
        left = workdays_between(today, case.due_on)
        return CaseInfo(case.due_on, left, today > case.due_on, today <= case.due_on and left <= DUE_WITHIN, None, None)
    answered_on = local(case.answered_at).date() if case.answered_at else None
    return CaseInfo(case.due_on, None, False, False,
                    workdays_between(filed_on, answered_on) if answered_on else None,
                    answered_on <= case.due_on if answered_on else None)


def holder_label(case: Complaint, departments: Mapping[int, str], regions: Mapping[str, str]) -> str:
    """Who holds the case, as a list shows it (a confidential tip-off: the supervision unit)."""
    if case.confidential:
        return SUPERVISION_UNIT
    if case.department_id is not None:
        return departments.get(case.department_id, str(case.department_id))
    if case.handling_region:
        return regions.get(case.handling_region, case.handling_region)
    return UNROUTED


# --- the specification of each action ---------------------------------------------------------


@dataclass
class _Ctx:
    session: Session
    actor: Actor
    case: Complaint
    today: date
    limits: Limits


@dataclass
class _Outcome:
    comment: str
    message: str
    audit_after: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Spec:
    name: str
    label: str
    from_states: tuple[str, ...]
    to_state: str
    fields: Callable[[_Ctx], tuple[Field, ...]]
    run: Callable[[_Ctx, dict[str, Any]], _Outcome]


COMMENT = Field("comment", "办理说明（内部）", "textarea")


def _no_fields(_ctx: _Ctx) -> tuple[Field, ...]:
    return (COMMENT,)


def _answer_unit(ctx: _Ctx) -> str:
    """The unit the public sees as the one that answered (never a person's name)."""
    case, session = ctx.case, ctx.session
    operator = session.get(Operator, ctx.actor.id)
    unit = (operator.unit if operator is not None else "") or ""
    if case.confidential:
        return unit or SUPERVISION_UNIT
    if case.department_id is not None:
        department = session.get(Department, case.department_id)
        if department is not None:
            return department.name
    if unit:
        return unit
    region = session.get(Region, ctx.actor.region_code)
    return region.name if region is not None else "主管部门"


def _run_accept(ctx: _Ctx, values: dict[str, Any]) -> _Outcome:
    case = ctx.case
    case.accepted_at = moment_on(ctx.today)
    case.handler = ctx.actor.username
    if case.department_id is None and not case.confidential:  # an unrouted case: the accepting unit takes it
        if ctx.actor.is_department:
            case.department_id, case.handling_region = ctx.actor.department_id, ""
        else:
            case.handling_region = ctx.actor.region_code
    return _Outcome(values["comment"] or "", f"已受理，应于{format_date_zh(case.due_on)}前答复。")


def _reject_fields(_ctx: _Ctx) -> tuple[Field, ...]:
    return (Field("reason", "不予受理的理由（将告知反映人）", "textarea", required=True),)


def _run_reject(ctx: _Ctx, values: dict[str, Any]) -> _Outcome:
    case = ctx.case
    case.answer = values["reason"]
    case.answered_at = moment_on(ctx.today)
    case.answer_unit = _answer_unit(ctx)
    case.answered_by = ctx.actor.username
    case.closed_at = case.answered_at
    return _Outcome(values["reason"], "已决定不予受理，理由将告知反映人。", {"answer_unit": case.answer_unit})


def _department_options(ctx: _Ctx) -> tuple[tuple[str, str], ...]:
    rows = ctx.session.scalars(select(Department).where(overlaps_clause(Department.region_code, ctx.actor.region_code))
                               .order_by(Department.code))
    return (("", "不指定部门"), *((str(d.id), d.name) for d in rows))


def _region_options(ctx: _Ctx) -> tuple[tuple[str, str], ...]:
    rows = ctx.session.scalars(select(Region).where(Region.level.in_(("province", "city", "county", "township")),
                                                    overlaps_clause(Region.code, ctx.actor.region_code))
                               .order_by(Region.code))
    return (("", "不指定层级"), *((r.code, f"{r.name}（{r.code}）") for r in rows))


def _assign_fields(ctx: _Ctx) -> tuple[Field, ...]:
    region = Field("region", "转至层级（区划）", "select", required=ctx.case.confidential, options=_region_options(ctx))
    comment = Field("comment", "转办说明", "textarea", required=True)
    if ctx.case.confidential:
        return (region, comment)
    return (Field("department", "转至部门", "select", options=_department_options(ctx)), region, comment)


def _run_assign(ctx: _Ctx, values: dict[str, Any]) -> _Outcome:
    case = ctx.case
    department_id = int(values["department"]) if values.get("department") else None
    region = values.get("region") or ""
    if case.confidential:
        department_id = case.department_id  # the department it names stays recorded; it never holds it
    elif department_id is None and not region:
        raise WorkflowError("missing_field", "请选择转至的部门或层级。", field="department")
    if (department_id, region) == (case.department_id, case.handling_region):
        raise WorkflowError("same_holder", "转办对象与当前办理单位相同，请选择其他部门或层级。", field="department")
    before = {"department_id": case.department_id, "handling_region": case.handling_region}
    case.department_id, case.handling_region = department_id, region
    case.handler = None
    departments = {department_id: ctx.session.get(Department, department_id).name} if department_id else {}
    regions = {region: ctx.session.get(Region, region).name} if region else {}
    target = holder_label(case, departments, regions)
    return _Outcome(values["comment"], f"已转办至{target}，待其受理。",
                    {"handling_region": region} if case.confidential
                    else {"from": before, "department_id": department_id, "handling_region": region})


def _run_start(ctx: _Ctx, values: dict[str, Any]) -> _Outcome:
    ctx.case.handler = ctx.actor.username
    return _Outcome(values["comment"] or "", "已开始办理。")


def _answer_fields(_ctx: _Ctx) -> tuple[Field, ...]:
    return (Field("answer", "答复内容（将在公开查询页显示，请勿写入个人信息）", "textarea", required=True), COMMENT)


def _run_answer(ctx: _Ctx, values: dict[str, Any]) -> _Outcome:
    case = ctx.case
    case.answer = values["answer"]
    case.answered_at = moment_on(ctx.today)
    case.answer_unit = _answer_unit(ctx)
    case.answered_by = ctx.actor.username
    case.satisfaction, case.satisfaction_comment, case.satisfaction_at = None, "", None  # asked again
    on_time = local(case.answered_at).date() <= case.due_on
    return _Outcome(values["comment"] or "", "已答复，答复将在公开查询页显示。" + ("" if on_time else "（已超过答复期限）"),
                    {"answer_unit": case.answer_unit, "on_time": on_time})


def _run_close(ctx: _Ctx, values: dict[str, Any]) -> _Outcome:
    ctx.case.closed_at = moment_on(ctx.today)
    return _Outcome(values["comment"] or "", "已办结。")


def _reopen_fields(_ctx: _Ctx) -> tuple[Field, ...]:
    return (Field("reason", "重新办理的原因（如反映人对答复有异议）", "textarea", required=True),)


def _run_reopen(ctx: _Ctx, values: dict[str, Any]) -> _Outcome:
    case = ctx.case
    case.closed_at = None
    case.handler = ctx.actor.username
    case.due_on = add_workdays(ctx.today, answer_days(case, _overrides(ctx.session), ctx.limits))
    return _Outcome(values["reason"], f"已重新办理，应于{format_date_zh(case.due_on)}前重新答复。")


SPECS: dict[str, _Spec] = {spec.name: spec for spec in (
    _Spec("accept", "受理", ("received",), "accepted", _no_fields, _run_accept),
    _Spec("reject", "不予受理", ("received",), "rejected", _reject_fields, _run_reject),
    _Spec("assign", "转办", ("received", "accepted", "in_progress"), "received", _assign_fields, _run_assign),
    _Spec("start", "开始办理", ("accepted",), "in_progress", _no_fields, _run_start),
    _Spec("answer", "答复", ("in_progress",), "answered", _answer_fields, _run_answer),
    _Spec("close", "办结", ("answered",), "closed", _no_fields, _run_close),
    _Spec("reopen", "重新办理", ("answered", "closed"), "in_progress", _reopen_fields, _run_reopen),
)}
ACTION_NAMES = tuple(SPECS)
ACTION_LABELS = {name: spec.label for name, spec in SPECS.items()} | {"receive": "收到", "feedback": "反映人评价"}


# --- small helpers -----------------------------------------------------------------------------



def _url(case_id: int, name: str) -> str:
    return f"/complaints/{case_id}/actions/{name}"


def _permit(ctx: _Ctx, spec: _Spec) -> None:
    if not can(ctx.actor, "complaint.handle", ctx.case):
        raise WorkflowError("forbidden", f"您（{ctx.actor.role_label}）不能对此件办理「{spec.label}」：不在您的职责或管辖范围内。")
    if ctx.case.status not in spec.from_states:
        state = COMPLAINT_STATE_LABELS.get(ctx.case.status, ctx.case.status)
        raise WorkflowError("wrong_state", f"此件当前为「{state}」，不能办理「{spec.label}」。")


def _audit_comment(case: Complaint, comment: str) -> dict[str, Any]:
    if case.confidential:
        return {"comment_sha256": hashlib.sha256(comment.encode("utf-8")).hexdigest()} if comment else {}
    return {"comment": comment}


def _snapshot(case: Complaint) -> dict[str, Any]:
    """The case's state for the audit trail (a confidential tip-off: never the department it names)."""
    out = {"status": case.status, "due_on": case.due_on.isoformat(), "handling_region": case.handling_region}
    return out if case.confidential else {**out, "department_id": case.department_id}


# --- the actions --------------------------------------------------------------------------------


def available_actions(session: Session, operator: Actor | Operator, case: Complaint, *,
                      today: date | None = None, limits: Limits = Limits()) -> list[Action]:
    """The actions this operator may take on the case now (holder and state). The case page
    renders its forms from this list, its JSON twin returns ``[a.as_dict() for a in …]``."""
    ctx = _Ctx(session, as_actor(session, operator), case, today or today_shanghai(), limits)
    out: list[Action] = []
    for spec in SPECS.values():
        try:
            _permit(ctx, spec)
        except WorkflowError:
            continue
        out.append(Action(spec.name, spec.label, _url(case.id, spec.name), spec.fields(ctx)))
    return out


def perform(session: Session, operator: Actor | Operator, case_id: int, name: str, form: Mapping[str, Any],
            today: date, limits: Limits = Limits()) -> ActionResult:
    """Take action ``name`` on the case with the submitted ``form``: checks holder and state,
    validates the fields, then writes the case, its event, the audit entry and the outbox entry
    into the caller's transaction. Raises :class:`WorkflowError` before writing anything."""
    spec = SPECS.get(name)
    if spec is None:
        raise WorkflowError("unknown_action", "没有这个办理事项。")
    actor = as_actor(session, operator)
    case = session.execute(select(Complaint).where(Complaint.id == case_id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one_or_none()
    if case is None:
        raise WorkflowError("not_found", "找不到该件，或不在您的管辖范围内。")
    ctx = _Ctx(session, actor, case, today, limits)
    _permit(ctx, spec)
    values = validate(spec.fields(ctx), form)
    before = _snapshot(case)
    from_state = case.status
    outcome = spec.run(ctx, values)
    case.status = spec.to_state
    event = ComplaintEvent(complaint_id=case.id, action=name, from_state=from_state, to_state=case.status,
                           actor=actor.username, at=moment_on(today), comment=outcome.comment,
                           department_id=case.department_id, handling_region=case.handling_region, due_on=case.due_on)
    session.add(event)
    trail.record(session, actor=actor.username, action=f"complaint.{name}", object_type="complaint", object_id=case.id,
                 region_code=case.region_code or "", before=before,
                 after={**_snapshot(case), **_audit_comment(case, outcome.comment), **outcome.audit_after})
    outbox.emit(session, "complaint", case.tracking_code)
    session.flush()
    return ActionResult(case.id, case.tracking_code, name, from_state, case.status, outcome.message, event.id,
                        case.due_on)


# --- in from the public store (indexer/inbound.py) ------------------------------------------------


def receive(session: Session, *, tracking_code: str, kind: str, subject: str, text: str, filed_at: datetime,
            due_on: date, project_code: str | None = None, region_code: str | None = None,
            contact_enc: str | None = None, real_name: bool = False, confidential: bool = False) -> Complaint:
    """Take a case filed on the public side into the queue: the department from its project, its
    region (or the project's), the due date (an override of the case's project or region wins
    over the one promised at filing). Only a tip-off can be confidential."""
    project = (session.execute(select(Project).where(Project.code == project_code)).scalar_one_or_none()
               if project_code else None)
    case = Complaint(tracking_code=tracking_code, kind=kind if kind in COMPLAINT_KINDS else "complaint",
                     subject=subject, project_code=project_code,
                     region_code=region_code or (project.region_code if project is not None else None), text=text,
                     contact_enc=contact_enc, real_name=real_name, status="received", answer="", filed_at=filed_at,
                     due_on=due_on, department_id=project.department_id if project is not None else None,
                     handling_region="", confidential=bool(confidential) and kind == "tipoff")
    days = _override_days(case, _overrides(session))
    if days is not None:
        case.due_on = add_workdays(local(filed_at).date(), days)
    session.add(case)
    session.flush()
    session.add(ComplaintEvent(complaint_id=case.id, action="receive", from_state=None, to_state="received",
                               actor=RECEIVER, at=filed_at, comment="", department_id=case.department_id,
                               handling_region="", due_on=case.due_on))
    trail.record(session, actor=RECEIVER, action="complaint.receive", object_type="complaint", object_id=case.id,
                 region_code=case.region_code or "",
                 after={"tracking_code": tracking_code, "kind": case.kind, **_snapshot(case),
                        "confidential": case.confidential})
    if case.due_on != due_on:
        outbox.emit(session, "complaint", tracking_code)  # the public page shows the due date in force
    return case


def record_feedback(session: Session, tracking_code: str, *, satisfied: bool, comment: str, at: datetime) -> bool:
    """Record the complainant's satisfaction with the answer (from the public store). False when
    there is no such case or this feedback is already recorded (a re-run of the pull)."""
    case = session.execute(select(Complaint).where(Complaint.tracking_code == tracking_code).with_for_update()
                           ).scalar_one_or_none()
    if case is None:
        return False
    given = local(at).replace(microsecond=0)
    if case.satisfaction_at is not None and local(case.satisfaction_at).replace(microsecond=0) == given:
        return False
    case.satisfaction = "satisfied" if satisfied else "dissatisfied"
    case.satisfaction_comment = comment
    case.satisfaction_at = given
    label = SATISFACTION_LABELS[case.satisfaction]
    session.add(ComplaintEvent(complaint_id=case.id, action="feedback", from_state=case.status, to_state=case.status,
                               actor=COMPLAINANT, at=given, comment=label + (f"：{comment}" if comment else ""),
                               department_id=case.department_id, handling_region=case.handling_region,
                               due_on=case.due_on))
    trail.record(session, actor=COMPLAINANT, action="complaint.feedback", object_type="complaint", object_id=case.id,
                 region_code=case.region_code or "",
                 after={"satisfaction": case.satisfaction, **_audit_comment(case, comment)})
    return True


# --- due work and statistics --------------------------------------------------------------------


def _names(session: Session, cases: Sequence[Complaint]) -> tuple[dict[int, str], dict[str, str]]:
    department_ids = {c.department_id for c in cases if c.department_id is not None}
    region_codes = {c.handling_region for c in cases if c.handling_region}
    departments = dict(session.execute(select(Department.id, Department.name)
                                       .where(Department.id.in_(department_ids or {-1}))).all())
    regions = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(region_codes or {""}))).all())
    return departments, regions


@dataclass(frozen=True)
class DueCase:
    id: int
    tracking_code: str
    kind: str
    subject: str
    status: str
    holder: str
    due_on: date
    days_left: int
    overdue: bool

    @property
    def kind_label(self) -> str:
        return COMPLAINT_KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return COMPLAINT_STATE_LABELS.get(self.status, self.status)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tracking_code": self.tracking_code, "kind": self.kind, "kind_label": self.kind_label,
                "subject": self.subject, "status": self.status, "status_label": self.status_label,
                "holder": self.holder, "due_on": self.due_on.isoformat(), "days_left": self.days_left,
                "overdue": self.overdue}


def due_cases(session: Session, operator: Actor | Operator, today: date | None = None, *, within: int = DUE_WITHIN,
              holding_only: bool = False) -> list[DueCase]:
    """Open cases in the operator's scope that are overdue or due within ``within`` working days,
    by holder and due date. ``holding_only`` keeps the cases the operator holds (a home page)."""
    actor = as_actor(session, operator)
    today = today or today_shanghai()
    stmt = scope_complaints(select(Complaint).where(Complaint.status.in_(OPEN_STATES),
                                                    Complaint.due_on <= add_workdays(today, within)), actor)
    cases = [c for c in session.scalars(stmt) if not holding_only or can(actor, "complaint.handle", c)]
    departments, regions = _names(session, cases)
    items = [DueCase(c.id, c.tracking_code, c.kind, c.subject, c.status, holder_label(c, departments, regions),
                     c.due_on, workdays_between(today, c.due_on), today > c.due_on) for c in cases]
    items.sort(key=lambda i: (i.holder, i.due_on, i.tracking_code))
    return items


@dataclass
class StatRow:
    unit: str
    kind: str
    received: int = 0
    finished: int = 0
    on_time: int = 0
    open: int = 0
    overdue_open: int = 0
    handling_days: list[int] = field(default_factory=list)
    satisfied: int = 0
    dissatisfied: int = 0

    @property
    def on_time_rate(self) -> float | None:
        return round(self.on_time / self.finished, 4) if self.finished else None

    @property
    def average_days(self) -> float | None:
        return round(sum(self.handling_days) / len(self.handling_days), 1) if self.handling_days else None

    @property
    def max_days(self) -> int | None:
        return max(self.handling_days) if self.handling_days else None

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "kind": self.kind, "kind_label": COMPLAINT_KINDS.get(self.kind, self.kind),
                "received": self.received, "finished": self.finished, "on_time": self.on_time,
                "on_time_rate": self.on_time_rate, "average_days": self.average_days, "max_days": self.max_days,
                "open": self.open, "overdue_open": self.overdue_open, "satisfied": self.satisfied,
                "dissatisfied": self.dissatisfied}


def statistics(session: Session, operator: Actor | Operator, *, year: int | None = None,
               today: date | None = None) -> list[StatRow]:
    """Per holding unit and kind, over the cases the operator may see (filed in ``year``):
    received, finished (answered, closed or not accepted), answered on time (on or before the due
    date), the on-time rate, handling time in working days from filing to the answer (average,
    maximum), still open and overdue, satisfied / dissatisfied. A confidential tip-off counts
    under the supervision unit, never under the department it names."""
    actor = as_actor(session, operator)
    today = today or today_shanghai()
    stmt = scope_complaints(select(Complaint), actor)
    cases = list(session.scalars(stmt))
    if year is not None:
        cases = [c for c in cases if local(c.filed_at).year == year]
    departments, regions = _names(session, cases)
    rows: dict[tuple[str, str], StatRow] = {}
    for case in cases:
        unit = holder_label(case, departments, regions)
        row = rows.setdefault((unit, case.kind), StatRow(unit, case.kind))
        row.received += 1
        info = case_info(case, today)
        if case.status in FINISHED_STATES:
            row.finished += 1
            row.on_time += bool(info.on_time)
            if info.handling_days is not None:
                row.handling_days.append(info.handling_days)
        else:
            row.open += 1
            row.overdue_open += info.overdue
        row.satisfied += case.satisfaction == "satisfied"
        row.dissatisfied += case.satisfaction == "dissatisfied"
    kinds = list(COMPLAINT_KINDS)
    return sorted(rows.values(), key=lambda r: (r.unit, kinds.index(r.kind) if r.kind in kinds else len(kinds)))


def can_see_contact(actor: Actor, case: Complaint) -> bool:
    """The complainant's name and phone: only to the case's holder (and, for a confidential
    tip-off, that is the supervisor). Never in lists, exports or anything public."""
    return can(actor, "complaint.handle", case)
