"""The project library (项目库): projects of a department under a policy of the list, with their standard."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.audit import trail
from admin.models import Policy, Project
from core.validation import ValidationError, parse_amount

PERIOD_KINDS = {"year": "按年", "half": "按半年", "quarter": "按季", "month": "按月", "once": "一次性"}


class ProjectError(ValueError):
    pass


def snapshot(project: Project) -> dict[str, Any]:
    return {"code": project.code, "name": project.name, "policy_id": project.policy_id,
            "department_id": project.department_id, "region_code": project.region_code, "unit": project.unit,
            "amount_min": str(project.amount_min), "amount_max": str(project.amount_max),
            "period_kind": project.period_kind, "active": project.active,
            "household_cap": str(project.household_cap) if project.household_cap is not None else None,
            "unit_rate": str(project.unit_rate) if project.unit_rate is not None else None}


def _amounts(amount_min: str, amount_max: str) -> tuple[Decimal, Decimal]:
    try:
        low = parse_amount(amount_min)
        high = parse_amount(amount_max)
    except ValidationError as exc:
        raise ProjectError("补贴标准：" + str(exc)) from None
    if low > high:
        raise ProjectError("标准下限不能高于上限")
    return low, high


def create_project(session: Session, *, actor: str, policy: Policy, code: str, name: str, region_code: str,
                   amount_min: str, amount_max: str, unit: str = "元/人", period_kind: str = "year") -> Project:
    code = code.strip().upper()
    if not code or len(code) > 32 or not code.replace("-", "").isalnum():
        raise ProjectError("项目编码由字母、数字和短横线组成，不超过32位")
    if session.execute(select(Project.id).where(Project.code == code)).first():
        raise ProjectError(f"项目编码 {code} 已存在")
    name = name.strip()
    if not name or len(name) > 100:
        raise ProjectError("请填写项目名称（不超过100个字）")
    if not region_code.startswith(policy.region_code):
        raise ProjectError("项目实施区域必须在政策的适用区域之内")
    if period_kind not in PERIOD_KINDS:
        raise ProjectError("发放周期应为：" + "、".join(PERIOD_KINDS.values()))
    low, high = _amounts(amount_min, amount_max)
    project = Project(code=code, name=name, policy_id=policy.id, department_id=policy.department_id,
                      region_code=region_code, unit=unit.strip()[:20] or "元/人", amount_min=low, amount_max=high,
                      period_kind=period_kind, active=True)
    session.add(project)
    session.flush()
    trail.record(session, actor=actor, action="project.create", object_type="project", object_id=project.id,
                 region_code=region_code, after=snapshot(project))
    return project


def update_standard(session: Session, project: Project, *, actor: str, amount_min: str, amount_max: str,
                    active: bool) -> None:
    before = snapshot(project)
    project.amount_min, project.amount_max = _amounts(amount_min, amount_max)
    project.active = active
    trail.record(session, actor=actor, action="project.update", object_type="project", object_id=project.id,
                 region_code=project.region_code, before=before, after=snapshot(project))


def _optional_amount(text: str, label: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return parse_amount(text)
    except ValidationError as exc:
        raise ProjectError(label + "：" + str(exc)) from None


def set_household_cap(session: Session, project: Project, *, actor: str, cap: str) -> None:
    """每户上限 only (see :func:`set_supervision_standards`)."""
    unit_rate = str(project.unit_rate) if project.unit_rate is not None else ""
    set_supervision_standards(session, project, actor=actor, household_cap=cap, unit_rate=unit_rate)


def set_supervision_standards(session: Session, project: Project, *, actor: str, household_cap: str,
                              unit_rate: str) -> None:
    """每户上限 (the most one household may receive from the project in one period) and 单位标准
    (yuan per unit of a line's quantity, e.g. 元/亩); "" = none. Used by the anomaly signals
    (admin/supervision/signals.py), never blocks an entry."""
    cap, rate = _optional_amount(household_cap, "每户上限"), _optional_amount(unit_rate, "单位标准")
    before = snapshot(project)
    project.household_cap, project.unit_rate = cap, rate
    trail.record(session, actor=actor, action="project.update", object_type="project", object_id=project.id,
                 region_code=project.region_code, before=before, after=snapshot(project))
