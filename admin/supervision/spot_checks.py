"""Spot checks (抽查), findings and rectification (整改): the one module that writes them.

A spot check is a random sample of payment lines over one batch, or over a region (and
optionally one project, year, period). The sample is drawn with ``random.Random(seed)`` over the
candidate line ids in ascending id order (:func:`candidate_ids`, :func:`sample_ids`); the seed,
the size (or the rate it came from), the scope, the population's size and a SHA-256 of its ids
are recorded, so :func:`redraw` gives exactly the same lines again (and tells when the population
has changed since). A seed left blank is generated (``secrets``) and recorded.

Candidates: the lines of every batch of the scope that is not cancelled, whose village lies
inside the spot check's region; for a batch that is wider than the drawer's region (a county
batch, a township auditor) that region is the drawer's, so a sample never leaves the drawer's scope.

Each sampled line gets one finding: 无问题 (status ``none``), or 有问题 with a category, a
description, the unit responsible for the rectification (a department, or a township/region) and
a due date in working days (:mod:`core.workdays`): the ``due_days`` given with the finding, else
the deadline table's ``rectification`` step (:mod:`core.deadlines`, default 15, overridable per
project and region by a system admin), counted from the day the finding is recorded. Then::

    open (待整改) --report_rectification--> reported (已报告整改) --close_finding--> closed (已销号)
                  <--return_rectification-- (sent back; the due date keeps running)

Stable action names (:func:`perform`, :func:`actions_for`; the ``admin/actions.py`` contract)::

    draw                  抽取样本        supervision roles (list page; no spot check yet)
    record_finding        登记抽查结果     supervision roles of the spot check's region
    report_rectification  报告整改情况     the responsible unit (department operator / township clerk)
    close_finding         整改销号         supervision roles of the spot check's region
    return_rectification  退回重新整改     supervision roles of the spot check's region

Who may act is decided by :mod:`admin.access.roles` (``spot_check.*``, ``finding_responsible``);
nobody else acts (403, nothing written). Every step writes the change, one
:class:`SpotCheckEvent` and one audit entry (``spot_check.<action>``) in the caller's transaction.

Error codes: 404 ``not_found``, ``unknown_action``; 403 ``forbidden``; 409 ``wrong_state``,
``empty_population``; 400 ``missing_field``, ``bad_option``, ``bad_number``, ``bad_scope``,
``bad_batch``, ``bad_region``, ``bad_size``, ``bad_seed``, ``bad_days`` (with ``.field``).
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from admin.access.roles import (
    SUPERVISION_ROLES,
    Actor,
    as_actor,
    allowed,
    can,
    finding_responsible,
    overlaps_clause,
    region_inside,
    scope_findings,
    scope_projects,
    scope_spot_checks,
)
from admin.actions import Action, Field, WorkflowError, validate
from admin.audit import trail
from admin.models import (
    Batch,
    DeadlineOverride,
    Department,
    Operator,
    PaymentLine,
    Person,
    Project,
    Region,
    SpotCheck,
    SpotCheckEvent,
    SpotCheckLine,
    SpotFinding,
)
from core.deadlines import Step, rule_for
from core.timeutil import format_date_zh, moment_on
from core.workdays import add_workdays, workdays_between
from core.workdays import today as today_shanghai

__all__ = [
    "ACTION_LABELS",
    "ACTION_NAMES",
    "CATEGORIES",
    "MAX_SAMPLE",
    "RESULTS",
    "STATUS_LABELS",
    "ActionResult",
    "FindingRow",
    "actions_for",
    "candidate_ids",
    "close_finding",
    "draw",
    "finding_rows",
    "load_spot_check",
    "perform",
    "population_digest",
    "record_finding",
    "redraw",
    "report_rectification",
    "return_rectification",
    "sample_ids",
    "sampled_ids",
    "unit_label",
    "unit_names",
    "visible_spot_checks",
]

RESULTS: dict[str, str] = {"ok": "无问题", "problem": "有问题"}
CATEGORIES: dict[str, str] = {
    "false_claim": "冒领",
    "duplicate": "重复领取",
    "wrong_amount": "金额错误",
    "incomplete_records": "资料不全",
    "not_publicized": "未公示",
    "wrong_person": "对象不符合条件",
    "other": "其他",
}
STATUS_LABELS: dict[str, str] = {"none": "无需整改", "open": "待整改", "reported": "已报告整改", "closed": "已销号"}
UNFINISHED = ("open", "reported")
MAX_SAMPLE = 1000
MAX_SEED = 10**12  # what a form's number field takes (admin/actions.py); generated seeds stay below it
MAX_DUE_DAYS = 60


# --- the draw (pure, and over the database) ---------------------------------------------------


def sample_ids(candidates: Sequence[int], seed: int, size: int) -> list[int]:
    """``size`` ids drawn from ``candidates`` (in the order given) by ``random.Random(seed)``, in
    the order drawn. The same candidates, seed and size always give the same list."""
    return random.Random(seed).sample(list(candidates), size)


def population_digest(candidates: Sequence[int]) -> str:
    return hashlib.sha256(",".join(str(i) for i in candidates).encode("ascii")).hexdigest()


def candidate_ids(session: Session, *, region_code: str, batch_id: int | None = None, project_id: int | None = None,
                  year: int | None = None, period: str | None = None) -> list[int]:
    """The candidate lines of a scope in the stable order the draw uses (ascending id)."""
    stmt = (select(PaymentLine.id).join(Batch, Batch.id == PaymentLine.batch_id)
            .where(PaymentLine.village_code.startswith(region_code), Batch.state != "cancelled"))
    if batch_id is not None:
        stmt = stmt.where(Batch.id == batch_id)
    else:
        if project_id is not None:
            stmt = stmt.where(Batch.project_id == project_id)
        if year is not None:
            stmt = stmt.where(Batch.year == year)
        if period:
            stmt = stmt.where(Batch.period == period)
    return list(session.scalars(stmt.order_by(PaymentLine.id)))


def _scope_of(spot: SpotCheck) -> dict[str, Any]:
    return {"region_code": spot.region_code, "batch_id": spot.batch_id, "project_id": spot.project_id,
            "year": spot.year, "period": spot.period}


def sampled_ids(session: Session, spot_check_id: int) -> list[int]:
    """The recorded sample, in draw order."""
    return list(session.scalars(select(SpotCheckLine.line_id).where(SpotCheckLine.spot_check_id == spot_check_id)
                                .order_by(SpotCheckLine.position)))


@dataclass(frozen=True)
class Redraw:
    line_ids: list[int]
    population_size: int
    population_unchanged: bool
    same_as_recorded: bool


def redraw(session: Session, spot: SpotCheck) -> Redraw:
    """Draw again from the recorded seed over the scope's candidates as they are now."""
    candidates = candidate_ids(session, **_scope_of(spot))
    unchanged = len(candidates) == spot.population_size and population_digest(candidates) == spot.population_digest
    ids = sample_ids(candidates, spot.seed, spot.sample_size) if spot.sample_size <= len(candidates) else []
    return Redraw(ids, len(candidates), unchanged, ids == sampled_ids(session, spot.id))


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionResult:
    spot_check_id: int
    action: str
    message: str
    finding_id: int | None = None
    status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"spot_check_id": self.spot_check_id, "action": self.action, "finding_id": self.finding_id,
                "status": self.status, "status_label": STATUS_LABELS.get(self.status or "", None),
                "message": self.message}


# --- context and helpers -------------------------------------------------------------------------


@dataclass
class _Ctx:
    session: Session
    actor: Actor
    spot: SpotCheck | None
    today: date

    def findings(self) -> list[SpotFinding]:
        if self.spot is None:
            return []
        return list(self.session.scalars(select(SpotFinding).where(SpotFinding.spot_check_id == self.spot.id)
                                         .order_by(SpotFinding.id)))


def _forbidden(ctx: _Ctx, label: str) -> WorkflowError:
    return WorkflowError("forbidden", f"您（{ctx.actor.role_label}）不能办理「{label}」：不在您的职责或管辖范围内。")


def _url(spot_id: int | None, name: str) -> str:
    return "/spot-checks/actions/draw" if spot_id is None else f"/spot-checks/{spot_id}/actions/{name}"


def _int(value: Decimal | None, f: str, label: str, low: int, high: int, code: str) -> int | None:
    if value is None:
        return None
    if value != value.to_integral_value() or not low <= value <= high:
        raise WorkflowError(code, f"「{label}」应为 {low} 至 {high} 之间的整数。", field=f)
    return int(value)


def _id(raw: Any) -> int | None:
    """A submitted id (``line``, ``finding``) as an int, or None when it is not one."""
    text = str(raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 15 else None


def _line_labels(session: Session, line_ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(select(PaymentLine.id, PaymentLine.line_no, Batch.code, Person.name)
                           .join(Batch, Batch.id == PaymentLine.batch_id).join(Person, Person.id == PaymentLine.person_id)
                           .where(PaymentLine.id.in_(list(line_ids) or [-1])))
    return {i: f"{code} 第{no}行 {name}" for i, no, code, name in rows}


def _units(ctx: _Ctx) -> tuple[tuple[str, str], ...]:
    """Units a finding can be given to: departments and townships around the spot check's region."""
    assert ctx.spot is not None
    region = ctx.spot.region_code
    departments = [(f"dept:{d.id}", d.name) for d in ctx.session.scalars(
        select(Department).where(overlaps_clause(Department.region_code, region)).order_by(Department.code))]
    regions = [(f"region:{r.code}", f"{r.name}（{r.code}）") for r in ctx.session.scalars(
        select(Region).where(Region.level == "township", overlaps_clause(Region.code, region)).order_by(Region.code))]
    return tuple(departments + regions)


def unit_label(finding: SpotFinding, departments: Mapping[int, str], regions: Mapping[str, str]) -> str:
    if finding.department_id is not None:
        return departments.get(finding.department_id, str(finding.department_id))
    if finding.responsible_region:
        return regions.get(finding.responsible_region, finding.responsible_region)
    return ""


def _overrides(session: Session) -> list[dict[str, Any]]:
    return [{"step": o.step, "days": o.days, "project_code": o.project_code, "region_code": o.region_code,
             "source": o.source} for o in session.scalars(select(DeadlineOverride)
                                                          .where(DeadlineOverride.step == Step.RECTIFICATION.value)
                                                          .order_by(DeadlineOverride.id))]


def rectification_days(session: Session, line: PaymentLine) -> int:
    """The deadline table's working days to rectify a finding on this line (project and village)."""
    return rule_for(Step.RECTIFICATION, line.batch.project.code, line.village_code, _overrides(session)).days


def _event(ctx: _Ctx, action: str, finding: SpotFinding | None, from_status: str | None, comment: str) -> SpotCheckEvent:
    assert ctx.spot is not None
    event = SpotCheckEvent(spot_check_id=ctx.spot.id, finding_id=finding.id if finding else None, action=action,
                           from_status=from_status, to_status=finding.status if finding else None,
                           actor=ctx.actor.username, at=moment_on(ctx.today), comment=comment,
                           due_on=finding.due_on if finding else None)
    ctx.session.add(event)
    return event


def _snapshot(f: SpotFinding) -> dict[str, Any]:
    return {"line_id": f.line_id, "result": f.result, "category": f.category, "status": f.status,
            "department_id": f.department_id, "responsible_region": f.responsible_region,
            "due_on": f.due_on.isoformat() if f.due_on else None}


def _audit(ctx: _Ctx, action: str, finding: SpotFinding | None, before: dict[str, Any] | None,
           after: dict[str, Any]) -> None:
    assert ctx.spot is not None
    trail.record(ctx.session, actor=ctx.actor.username, action=f"spot_check.{action}",
                 object_type="spot_finding" if finding else "spot_check",
                 object_id=finding.id if finding else ctx.spot.id, region_code=ctx.spot.region_code,
                 before=before, after={"spot_check_id": ctx.spot.id, **after})


# --- the specification of each action ---------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str
    label: str

    def permit(self, ctx: _Ctx) -> None:
        raise NotImplementedError

    def fields(self, ctx: _Ctx) -> tuple[Field, ...]:
        raise NotImplementedError

    def run(self, ctx: _Ctx, form: Mapping[str, Any]) -> ActionResult:
        raise NotImplementedError


class _Draw(_Spec):
    def permit(self, ctx: _Ctx) -> None:
        if ctx.spot is not None or not allowed(ctx.actor, "spot_check.draw"):
            raise _forbidden(ctx, self.label)

    def fields(self, ctx: _Ctx) -> tuple[Field, ...]:
        projects = ctx.session.scalars(scope_projects(select(Project), ctx.actor).order_by(Project.code))
        return (
            Field("batch", "批次编号（按批次抽查时填写）", "text"),
            Field("region", "区划代码（按区域抽查时填写）", "text"),
            Field("project", "补贴项目（按区域抽查时可选）", "select",
                  options=tuple((p.code, f"{p.name}（{p.code}）") for p in projects)),
            Field("year", "年度（按区域抽查时可选）", "number"),
            Field("period", "期次（按区域抽查时可选，如 2025-03）", "text"),
            Field("size", "抽查条数", "number"),
            Field("rate", "抽查比例（%，与抽查条数二选一）", "number"),
            Field("seed", "随机种子（留空则自动生成并记录）", "number"),
            Field("title", "抽查名称（可选）", "text"),
        )

    def run(self, ctx: _Ctx, form: Mapping[str, Any]) -> ActionResult:
        s, actor = ctx.session, ctx.actor
        v = validate(self.fields(ctx), form)
        if bool(v["batch"]) == bool(v["region"]):
            raise WorkflowError("bad_scope", "请填写批次编号或区划代码（二选一）。", field="batch")
        project_id = year = period = None
        batch = None
        if v["batch"]:
            batch = s.execute(select(Batch).where(Batch.code == v["batch"])).scalar_one_or_none()
            if batch is None:
                raise WorkflowError("bad_batch", f"找不到批次 {v['batch']}。", field="batch")
            if not can(actor, "batch.view", batch) or batch.state == "cancelled":
                raise WorkflowError("forbidden", "该批次不在您的管辖范围内（或已撤销），不能抽查。")
            region = batch.region_code if region_inside(batch.region_code, actor.region_code) else actor.region_code
            project_id, year, period = batch.project_id, batch.year, batch.period
        else:
            region = v["region"]
            if not (region.isascii() and region.isdigit() and 2 <= len(region) <= 12):
                raise WorkflowError("bad_region", "区划代码应为 2 至 12 位数字。", field="region")
            if not region_inside(region, actor.region_code):
                raise WorkflowError("forbidden", "该区划不在您的管辖范围内，不能抽查。")
            if v["project"]:
                project_id = s.execute(select(Project.id).where(Project.code == v["project"])).scalar_one()
            year = _int(v["year"], "year", "年度", 2000, 2100, "bad_number")
            period = v["period"]
            if period is not None and len(period) > 20:
                raise WorkflowError("too_long", "「期次」最多 20 个字。", field="period")
        size = _int(v["size"], "size", "抽查条数", 1, MAX_SAMPLE, "bad_size")
        rate = v["rate"]
        if (size is None) == (rate is None):
            raise WorkflowError("bad_size", "请填写抽查条数或抽查比例（二选一）。", field="size")
        if rate is not None and not Decimal("0") < rate <= Decimal("100"):
            raise WorkflowError("bad_size", "抽查比例应大于 0、不超过 100（%）。", field="rate")
        seed = _int(v["seed"], "seed", "随机种子", 0, MAX_SEED - 1, "bad_seed")
        if seed is None:
            seed = secrets.randbelow(MAX_SEED)
        candidates = candidate_ids(s, region_code=region, batch_id=batch.id if batch else None,
                                   project_id=project_id, year=year, period=period)
        if not candidates:
            raise WorkflowError("empty_population", "该范围内没有可抽查的发放明细。", status=409)
        if rate is not None:
            size = max(1, math.ceil(len(candidates) * rate / 100))
        assert size is not None
        if size > len(candidates):
            raise WorkflowError("bad_size", f"抽查条数不能超过该范围内的 {len(candidates)} 条明细。", field="size")
        if size > MAX_SAMPLE:
            raise WorkflowError("bad_size", f"一次最多抽查 {MAX_SAMPLE} 条。", field="rate")
        ids = sample_ids(candidates, seed, size)
        spot = SpotCheck(title=v["title"] or (f"批次 {batch.code} 抽查" if batch else f"区划 {region} 抽查"),
                         batch_id=batch.id if batch else None, region_code=region, project_id=project_id, year=year,
                         period=period, sample_size=size, rate=rate, seed=seed, population_size=len(candidates),
                         population_digest=population_digest(candidates), drawn_by=actor.username,
                         drawn_at=moment_on(ctx.today))
        s.add(spot)
        s.flush()
        s.add_all(SpotCheckLine(spot_check_id=spot.id, position=n, line_id=i) for n, i in enumerate(ids, 1))
        ctx.spot = spot
        _event(ctx, "draw", None, None, f"随机种子 {seed}，从 {len(candidates)} 条中抽取 {size} 条")
        _audit(ctx, "draw", None, None, {**_scope_of(spot), "seed": seed, "sample_size": size,
                                         "rate": str(rate) if rate is not None else None,
                                         "population_size": len(candidates), "line_ids": ids})
        s.flush()
        return ActionResult(spot.id, self.name, f"已抽取 {size} 条（随机种子 {seed}，可凭种子复核）。")


class _RecordFinding(_Spec):
    def _open_lines(self, ctx: _Ctx) -> list[int]:
        assert ctx.spot is not None
        done = {f.line_id for f in ctx.findings()}
        return [i for i in sampled_ids(ctx.session, ctx.spot.id) if i not in done]

    def permit(self, ctx: _Ctx) -> None:
        if ctx.spot is None or not allowed(ctx.actor, "spot_check.finding") or not can(
                ctx.actor, "spot_check.finding", ctx.spot):
            raise _forbidden(ctx, self.label)
        if not self._open_lines(ctx):
            raise WorkflowError("wrong_state", "抽查的每一条都已登记结果。")

    def fields(self, ctx: _Ctx) -> tuple[Field, ...]:
        lines = self._open_lines(ctx)
        labels = _line_labels(ctx.session, lines)
        default = rule_for(Step.RECTIFICATION, None, ctx.spot.region_code if ctx.spot else None,
                           _overrides(ctx.session)).days
        return (
            Field("line", "抽查明细", "select", required=True, options=tuple((str(i), labels.get(i, str(i))) for i in lines)),
            Field("result", "抽查结果", "select", required=True, options=tuple(RESULTS.items())),
            Field("category", "问题类型（有问题时必填）", "select", options=tuple(CATEGORIES.items())),
            Field("description", "问题描述（有问题时必填）", "textarea"),
            Field("responsible", "整改责任单位（有问题时必填）", "select", options=_units(ctx)),
            Field("due_days", f"整改期限（工作日；留空按办理时限表，一般为 {default} 个）", "number"),
        )

    def run(self, ctx: _Ctx, form: Mapping[str, Any]) -> ActionResult:
        assert ctx.spot is not None
        s = ctx.session
        raw_line = _id(form.get("line"))
        if raw_line is not None and s.execute(select(SpotFinding.id).where(
                SpotFinding.spot_check_id == ctx.spot.id, SpotFinding.line_id == raw_line)).first():
            raise WorkflowError("wrong_state", "该条已登记抽查结果。")
        v = validate(self.fields(ctx), form)
        line = s.get(PaymentLine, int(v["line"]))
        assert line is not None
        finding = SpotFinding(spot_check_id=ctx.spot.id, line_id=line.id, result=v["result"], description="",
                              responsible_region="", recorded_by=ctx.actor.username, recorded_on=ctx.today,
                              rectification="")
        if v["result"] == "ok":
            finding.status = "none"
            finding.description = v["description"] or ""
            message = "已登记：无问题。"
        else:
            for name, label in (("category", "问题类型"), ("description", "问题描述"), ("responsible", "整改责任单位")):
                if not v[name]:
                    raise WorkflowError("missing_field", f"有问题时请填写「{label}」。", field=name)
            kind, _, key = v["responsible"].partition(":")
            if kind == "dept":
                finding.department_id = int(key)
            else:
                finding.responsible_region = key
            days = _int(v["due_days"], "due_days", "整改期限", 1, MAX_DUE_DAYS, "bad_days")
            finding.due_days = days
            finding.category, finding.description, finding.status = v["category"], v["description"], "open"
            finding.due_on = add_workdays(ctx.today, days if days is not None else rectification_days(s, line))
            message = f"已登记问题（{CATEGORIES[finding.category]}），整改期限至{format_date_zh(finding.due_on)}。"
        s.add(finding)
        s.flush()
        _event(ctx, self.name, finding, None, finding.description)
        _audit(ctx, self.name, finding, None, {**_snapshot(finding), "description": finding.description})
        return ActionResult(ctx.spot.id, self.name, message, finding.id, finding.status)


class _FindingStep(_Spec):
    """An action on one finding of the spot check, chosen in the ``finding`` field."""

    role_action: str = "spot_check.finding"
    from_status: str = "reported"
    to_status: str = "closed"
    text_field: Field = Field("comment", "说明", "textarea")

    def _mine(self, ctx: _Ctx, f: SpotFinding) -> bool:
        assert ctx.spot is not None
        return can(ctx.actor, "spot_check.finding", ctx.spot)

    def _eligible(self, ctx: _Ctx) -> list[SpotFinding]:
        return [f for f in ctx.findings() if f.status == self.from_status and self._mine(ctx, f)]

    def permit(self, ctx: _Ctx) -> None:
        if ctx.spot is None or not allowed(ctx.actor, self.role_action):
            raise _forbidden(ctx, self.label)
        findings = ctx.findings()
        if not any(self._mine(ctx, f) for f in findings):
            raise _forbidden(ctx, self.label)
        if not self._eligible(ctx):
            raise WorkflowError("wrong_state", f"没有{STATUS_LABELS[self.from_status]}的问题，不能办理「{self.label}」。")

    def fields(self, ctx: _Ctx) -> tuple[Field, ...]:
        eligible = self._eligible(ctx)
        labels = _line_labels(ctx.session, [f.line_id for f in eligible])
        options = tuple((str(f.id), f"{labels.get(f.line_id, f.line_id)}：{CATEGORIES.get(f.category or '', '')}"
                         + (f"（{format_date_zh(f.due_on)}前整改）" if f.due_on else "")) for f in eligible)
        return (Field("finding", "问题", "select", required=True, options=options), self.text_field)

    def apply(self, ctx: _Ctx, finding: SpotFinding, text: str) -> str:
        raise NotImplementedError

    def run(self, ctx: _Ctx, form: Mapping[str, Any]) -> ActionResult:
        assert ctx.spot is not None
        raw = _id(form.get("finding"))
        chosen = next((f for f in ctx.findings() if f.id == raw), None)
        if chosen is not None and not self._mine(ctx, chosen):
            raise _forbidden(ctx, self.label)
        if chosen is not None and chosen.status != self.from_status:
            raise WorkflowError("wrong_state", f"该问题当前为「{STATUS_LABELS.get(chosen.status, chosen.status)}」，"
                                               f"不能办理「{self.label}」。")
        v = validate(self.fields(ctx), form)
        finding = next(f for f in ctx.findings() if f.id == int(v["finding"]))
        before = _snapshot(finding)
        text = v[self.text_field.name] or ""
        message = self.apply(ctx, finding, text)
        finding.status = self.to_status
        ctx.session.flush()
        _event(ctx, self.name, finding, before["status"], text)
        _audit(ctx, self.name, finding, before, {**_snapshot(finding), self.text_field.name: text})
        return ActionResult(ctx.spot.id, self.name, message, finding.id, finding.status)


class _Report(_FindingStep):
    role_action = "spot_check.rectify"
    from_status = "open"
    to_status = "reported"
    text_field = Field("measures", "整改情况（已采取的措施、追回金额等）", "textarea", required=True)

    def _mine(self, ctx: _Ctx, f: SpotFinding) -> bool:
        return finding_responsible(ctx.actor, f)

    def apply(self, ctx: _Ctx, finding: SpotFinding, text: str) -> str:
        finding.rectification = text
        finding.reported_by, finding.reported_on = ctx.actor.username, ctx.today
        late = finding.due_on is not None and ctx.today > finding.due_on
        return "已报告整改情况，等待监督部门审核销号。" + ("（已超过整改期限）" if late else "")


class _Close(_FindingStep):
    text_field = Field("comment", "审核意见（可选）", "textarea")

    def apply(self, ctx: _Ctx, finding: SpotFinding, text: str) -> str:
        finding.closed_by, finding.closed_on = ctx.actor.username, ctx.today
        return "已销号，整改完成。"


class _Return(_FindingStep):
    to_status = "open"
    text_field = Field("reason", "退回原因（整改不到位之处）", "textarea", required=True)

    def apply(self, ctx: _Ctx, finding: SpotFinding, text: str) -> str:
        return f"已退回责任单位重新整改（整改期限仍为{format_date_zh(finding.due_on)}）。" if finding.due_on else "已退回。"


SPECS: dict[str, _Spec] = {spec.name: spec for spec in (
    _Draw("draw", "抽取样本"),
    _RecordFinding("record_finding", "登记抽查结果"),
    _Report("report_rectification", "报告整改情况"),
    _Close("close_finding", "整改销号"),
    _Return("return_rectification", "退回重新整改"),
)}
ACTION_NAMES = tuple(SPECS)
ACTION_LABELS = {name: spec.label for name, spec in SPECS.items()}


# --- the actions ---------------------------------------------------------------------------------


def actions_for(session: Session, operator: Actor | Operator, spot: SpotCheck | None = None, *,
                today: date | None = None) -> list[Action]:
    """The actions this operator may take now: on the list page (``spot=None``: ``draw``) or on
    a spot check. The page renders its forms from this list; its JSON twin returns the same."""
    ctx = _Ctx(session, as_actor(session, operator), spot, today or today_shanghai())
    out: list[Action] = []
    for spec in SPECS.values():
        if (spec.name == "draw") != (spot is None):
            continue
        try:
            spec.permit(ctx)
        except WorkflowError:
            continue
        out.append(Action(spec.name, spec.label, _url(spot.id if spot else None, spec.name), spec.fields(ctx)))
    return out


def perform(session: Session, operator: Actor | Operator, spot_check_id: int | None, name: str,
            form: Mapping[str, Any], today: date) -> ActionResult:
    """Take action ``name`` (on the spot check ``spot_check_id``; ``None`` for ``draw``) with the
    submitted ``form``: checks role, scope and state, validates the fields, then writes the
    change, its event and its audit entry into the caller's transaction. Raises
    :class:`WorkflowError` before writing anything."""
    spec = SPECS.get(name)
    if spec is None or (name == "draw") != (spot_check_id is None):
        raise WorkflowError("unknown_action", "没有这个办理事项。")
    actor = as_actor(session, operator)
    spot = None
    if spot_check_id is not None:
        spot = session.execute(select(SpotCheck).where(SpotCheck.id == spot_check_id).with_for_update()
                               .execution_options(populate_existing=True)).scalar_one_or_none()
        if spot is None or not can_view(session, actor, spot):
            raise WorkflowError("not_found", "找不到该抽查，或不在您的管辖范围内。")
    ctx = _Ctx(session, actor, spot, today)
    spec.permit(ctx)
    return spec.run(ctx, form)


# --- the named services (the demo and scripts call these; each goes through perform) ----------


def draw(session: Session, operator: Actor | Operator, *, today: date, batch_code: str = "", region_code: str = "",
         project_code: str = "", year: int | None = None, period: str = "", size: int | None = None,
         rate: Decimal | None = None, seed: int | None = None, title: str = "") -> SpotCheck:
    form = {"batch": batch_code, "region": region_code, "project": project_code, "year": year or "",
            "period": period, "size": size if size is not None else "", "rate": rate if rate is not None else "",
            "seed": seed if seed is not None else "", "title": title}
    result = perform(session, operator, None, "draw", form, today)
    spot = session.get(SpotCheck, result.spot_check_id)
    assert spot is not None
    return spot


def record_finding(session: Session, operator: Actor | Operator, spot_check_id: int, *, line_id: int, today: date,
                   result: str = "ok", category: str = "", description: str = "", responsible: str = "",
                   due_days: int | None = None) -> ActionResult:
    """``responsible``: ``dept:<department id>`` or ``region:<region code>``."""
    form = {"line": line_id, "result": result, "category": category, "description": description,
            "responsible": responsible, "due_days": due_days if due_days is not None else ""}
    return perform(session, operator, spot_check_id, "record_finding", form, today)


def report_rectification(session: Session, operator: Actor | Operator, spot_check_id: int, *, finding_id: int,
                         measures: str, today: date) -> ActionResult:
    return perform(session, operator, spot_check_id, "report_rectification",
                   {"finding": finding_id, "measures": measures}, today)


def close_finding(session: Session, operator: Actor | Operator, spot_check_id: int, *, finding_id: int, today: date,
                  comment: str = "") -> ActionResult:
    return perform(session, operator, spot_check_id, "close_finding", {"finding": finding_id, "comment": comment}, today)


def return_rectification(session: Session, operator: Actor | Operator, spot_check_id: int, *, finding_id: int,
                         reason: str, today: date) -> ActionResult:
    return perform(session, operator, spot_check_id, "return_rectification",
                   {"finding": finding_id, "reason": reason}, today)


# --- reading: who sees what --------------------------------------------------------------------


def visible_spot_checks(stmt: Select, actor: Actor) -> Select:
    """Spot checks the actor may see: a supervision role those drawn inside its region; a
    responsible unit those holding one of its findings."""
    if actor.role in SUPERVISION_ROLES:
        return scope_spot_checks(stmt, actor)
    mine = scope_findings(select(SpotFinding.spot_check_id), actor)
    return stmt.where(SpotCheck.id.in_(mine))


def can_view(session: Session, actor: Actor, spot: SpotCheck) -> bool:
    if not allowed(actor, "spot_check.view"):
        return False
    return session.execute(visible_spot_checks(select(SpotCheck.id).where(SpotCheck.id == spot.id), actor)
                           ).first() is not None


def load_spot_check(session: Session, actor: Actor, spot_check_id: int) -> SpotCheck | None:
    spot = session.get(SpotCheck, spot_check_id)
    return spot if spot is not None and can_view(session, actor, spot) else None


def finding_visible(actor: Actor, spot: SpotCheck, finding: SpotFinding) -> bool:
    """On a spot check's page: every finding for the supervision roles, its own for a unit."""
    return (actor.role in SUPERVISION_ROLES and region_inside(spot.region_code, actor.region_code)) \
        or finding_responsible(actor, finding)


@dataclass(frozen=True)
class FindingRow:
    """A finding as the rectification list, the home page and the export show it."""

    id: int
    spot_check_id: int
    spot_check_title: str
    line_id: int
    line_label: str
    village_code: str
    amount: Decimal
    result: str
    category: str | None
    description: str
    unit: str
    status: str
    recorded_on: date
    due_on: date | None
    days_left: int | None
    overdue: bool
    rectification: str
    reported_on: date | None
    closed_on: date | None

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.category or "", "")

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "spot_check_id": self.spot_check_id, "spot_check_title": self.spot_check_title,
                "line_id": self.line_id, "line": self.line_label, "village_code": self.village_code,
                "amount": self.amount, "result": self.result, "result_label": RESULTS[self.result],
                "category": self.category, "category_label": self.category_label, "description": self.description,
                "unit": self.unit, "status": self.status, "status_label": self.status_label,
                "recorded_on": self.recorded_on, "due_on": self.due_on, "days_left": self.days_left,
                "overdue": self.overdue, "rectification": self.rectification, "reported_on": self.reported_on,
                "closed_on": self.closed_on}


FINDING_FILTERS = {"unfinished": "未销号（待整改、已报告整改）", "overdue": "已超期未整改", "open": "待整改",
                   "reported": "已报告整改", "closed": "已销号", "all": "全部问题"}


def finding_rows(session: Session, operator: Actor | Operator, *, status: str = "unfinished",
                 today: date | None = None, spot_check_id: int | None = None, limit: int = 50_000) -> list[FindingRow]:
    """The problems found (not the lines found in order) the operator may see, by responsible
    unit and due date: ``status`` is a key of :data:`FINDING_FILTERS`. ``overdue``: still open
    after its due date (a report received, it waits on supervision and is no longer overdue)."""
    actor = as_actor(session, operator)
    today = today or today_shanghai()
    stmt = scope_findings(select(SpotFinding, SpotCheck.title, PaymentLine, Batch.code, Person.name)
                          .join(SpotCheck, SpotCheck.id == SpotFinding.spot_check_id)
                          .join(PaymentLine, PaymentLine.id == SpotFinding.line_id)
                          .join(Batch, Batch.id == PaymentLine.batch_id)
                          .join(Person, Person.id == PaymentLine.person_id)
                          .where(SpotFinding.result == "problem"), actor)
    if spot_check_id is not None:
        stmt = stmt.where(SpotFinding.spot_check_id == spot_check_id)
    if status == "unfinished":
        stmt = stmt.where(SpotFinding.status.in_(UNFINISHED))
    elif status == "overdue":
        stmt = stmt.where(SpotFinding.status == "open", SpotFinding.due_on < today)
    elif status in ("open", "reported", "closed"):
        stmt = stmt.where(SpotFinding.status == status)
    rows = list(session.execute(stmt.order_by(SpotFinding.due_on, SpotFinding.id).limit(limit)))
    departments, regions = unit_names(session, [r[0] for r in rows])
    out = []
    for finding, title, line, batch_code, name in rows:
        open_ = finding.status == "open" and finding.due_on is not None
        out.append(FindingRow(
            finding.id, finding.spot_check_id, title, line.id, f"{batch_code} 第{line.line_no}行 {name}",
            line.village_code, line.amount, finding.result, finding.category, finding.description,
            unit_label(finding, departments, regions), finding.status, finding.recorded_on, finding.due_on,
            workdays_between(today, finding.due_on) if open_ else None,  # type: ignore[arg-type]
            open_ and today > finding.due_on,  # type: ignore[operator]
            finding.rectification, finding.reported_on, finding.closed_on))
    out.sort(key=lambda r: (r.unit, r.due_on or date.max, r.id))
    return out


def unit_names(session: Session, findings: Sequence[SpotFinding]) -> tuple[dict[int, str], dict[str, str]]:
    """The names of the responsible units of ``findings`` (departments, regions) for :func:`unit_label`."""
    ids = {f.department_id for f in findings if f.department_id is not None}
    codes = {f.responsible_region for f in findings if f.responsible_region}
    return (dict(session.execute(select(Department.id, Department.name).where(Department.id.in_(ids or {-1}))).all()),
            dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(codes or {""}))).all()))
