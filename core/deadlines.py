"""The one table of time limits (时限), in Chinese working days (:mod:`core.workdays`).

Defaults come from the seeds (``shared/seeds``; seed 002 is 云南省惠民惠农财政补贴资金“一卡通”发放管理
试行办法, the only one that states every limit). Seeds 003/004 let departments set their own, so
a deployment can override any rule per project and region with rows like::

    {"step": "approval", "days": 7, "project_code": "GLJT", "region_code": "410423",
     "source": "鲁山县实施方案", "description_zh": "..."}

``project_code`` / ``region_code`` missing or empty mean "any". A region override applies to that
region and everything under it (a county rule covers its townships). When several overrides match,
the most specific wins: one naming the project beats one that does not, then the deeper region
wins; among equals the later row wins. ``kind``, ``source`` and ``description_zh`` default to the
built-in rule's.

Counting: the start day is not counted; a ``max`` rule is met if the step ends on or before
:func:`due_date`, a ``min`` rule (publicity) if it does not end before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from core.workdays import add_workdays, workdays_between

__all__ = [
    "DEFAULT_RULES",
    "DeadlineRule",
    "Step",
    "complies",
    "due_date",
    "is_overdue",
    "rule_for",
]

RuleKind = Literal["max", "min"]


class Step(StrEnum):
    FIRST_VERIFICATION = "first_verification"
    PUBLICITY = "publicity"
    APPROVAL = "approval"
    FINANCE_CHECK = "finance_check"
    BANK_CREDITING = "bank_crediting"
    RETURN_UNPAYABLE = "return_unpayable"
    CORRECTION = "correction"
    RESULTS_PUBLICATION = "results_publication"
    COMPLAINT_ANSWER = "complaint_answer"
    DISCLOSURE_REQUEST = "disclosure_request"
    RECTIFICATION = "rectification"


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    step: str
    days: int
    kind: RuleKind
    source: str
    description_zh: str


_YN = "seed 002《云南省惠民惠农财政补贴资金“一卡通”发放管理试行办法》"

_DEFAULTS = (
    DeadlineRule(Step.FIRST_VERIFICATION.value, 3, "max", f"{_YN}第十六条",
                 "乡镇（街道）或经办机构对申请人初步核实，3个工作日内完成"),
    DeadlineRule(Step.PUBLICITY.value, 3, "min", f"{_YN}第十七条",
                 "业务公示时间不少于3个工作日"),
    DeadlineRule(Step.APPROVAL.value, 10, "max", f"{_YN}第十八条",
                 "主管部门再核实并审批，10个工作日内完成"),
    DeadlineRule(Step.FINANCE_CHECK.value, 5, "max", f"{_YN}第二十条",
                 "财政部门复核发放数据与预算指标，5个工作日内完成"),
    DeadlineRule(Step.BANK_CREDITING.value, 2, "max", f"{_YN}第二十一条",
                 "代发金融机构2个工作日内将资金兑付到补贴对象账户"),
    DeadlineRule(Step.RETURN_UNPAYABLE.value, 1, "max", f"{_YN}第九条",
                 "确实无法发放的资金，最迟下一个工作日按原渠道退回"),
    DeadlineRule(Step.CORRECTION.value, 3, "max", f"{_YN}第六条",
                 "有误的基础数据和发放失败数据，3个工作日内核实并更正报送"),
    DeadlineRule(Step.RESULTS_PUBLICATION.value, 5, "max", f"{_YN}第二十三条",
                 "发放完成后5个工作日内公开发放结果"),
    DeadlineRule(Step.COMPLAINT_ANSWER.value, 15, "max", "本系统默认值（各地文件未规定，可按地区调整）",
                 "投诉举报自受理之日起15个工作日内答复"),
    DeadlineRule(Step.DISCLOSURE_REQUEST.value, 20, "max", "《中华人民共和国政府信息公开条例》第三十三条",
                 "政府信息公开申请自收到之日起20个工作日内答复"),
    DeadlineRule(Step.RECTIFICATION.value, 15, "max", "本系统默认值（各地文件未规定，可按地区调整）",
                 "抽查发现的问题，责任单位自问题登记之日起15个工作日内整改并报告"),
)

DEFAULT_RULES: Mapping[str, DeadlineRule] = MappingProxyType({str(r.step): r for r in _DEFAULTS})

Overrides = Iterable[Mapping[str, Any]]


def _short(code: object) -> str:
    """Region code without zero-padded levels (410400 → 4104), for prefix matching."""
    text = str(code or "").strip()
    for full, short in ((12, 9), (9, 6), (6, 4), (4, 2)):
        if len(text) == full and set(text[short:]) == {"0"}:
            text = text[:short]
    return text


def _as_rule(row: Mapping[str, Any], base: DeadlineRule | None) -> DeadlineRule:
    step = str(row["step"])
    days = row.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"deadline override for {step!r}: days must be a whole number ≥ 0")
    kind = row.get("kind") or (base.kind if base else None)
    if kind not in ("max", "min"):
        raise ValueError(f"deadline override for {step!r}: kind must be 'max' or 'min'")
    return DeadlineRule(
        step=step,
        days=days,
        kind=kind,
        source=str(row.get("source") or "本地配置"),
        description_zh=str(row.get("description_zh") or (base.description_zh if base else "")),
    )


def rule_for(
    step: str,
    project_code: str | None = None,
    region_code: str | None = None,
    overrides: Overrides = (),
) -> DeadlineRule:
    """The rule in force for ``step`` in this project and region (see module doc for matching).

    Raises ``KeyError`` for a step with neither a default nor a matching override.
    """
    step = str(step)
    base = DEFAULT_RULES.get(step)
    region = _short(region_code)
    best: tuple[tuple[int, int], Mapping[str, Any]] | None = None
    for row in overrides:
        if str(row.get("step")) != step:
            continue
        row_project = row.get("project_code") or None
        row_region = _short(row.get("region_code"))
        if row_project is not None and row_project != project_code:
            continue
        if row_region and not region.startswith(row_region):
            continue
        score = (int(row_project is not None), len(row_region))
        if best is None or score >= best[0]:
            best = (score, row)
    if best is not None:
        return _as_rule(best[1], base)
    if base is None:
        raise KeyError(f"no deadline rule for step {step!r}")
    return base


def due_date(
    step: str,
    start: date,
    project_code: str | None = None,
    region_code: str | None = None,
    overrides: Overrides = (),
) -> date:
    """Last permitted day (``max``) or earliest permitted end (``min``) for a step begun on
    ``start``: the rule's n-th working day after ``start``."""
    return add_workdays(start, rule_for(step, project_code, region_code, overrides).days)


def complies(
    step: str,
    start: date,
    end: date,
    project_code: str | None = None,
    region_code: str | None = None,
    overrides: Overrides = (),
) -> bool:
    """Whether a step begun on ``start`` and finished on ``end`` kept its time limit."""
    rule = rule_for(step, project_code, region_code, overrides)
    used = workdays_between(start, end)
    return used <= rule.days if rule.kind == "max" else used >= rule.days


def is_overdue(
    step: str,
    start: date,
    on: date,
    project_code: str | None = None,
    region_code: str | None = None,
    overrides: Overrides = (),
) -> bool:
    """An unfinished ``max`` step is overdue on ``on`` once its due date has passed.

    ``min`` rules (publicity) are never overdue.
    """
    rule = rule_for(step, project_code, region_code, overrides)
    return rule.kind == "max" and on > add_workdays(start, rule.days)
