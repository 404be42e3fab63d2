"""Precomputed statistics (统计) for the public ``statistics`` index.

Computed on the internal side with SQL ``GROUP BY`` over the batch database — never by reading
lines into Python — and published as a small index the portal answers from in milliseconds.

**Which lines.** Exactly the set the ``disclosures`` *result* documents cover: paid lines of
published batches. A failed line that was re-issued is ``reissued`` and its re-issue ``paid``, so
it counts once, as the re-issue; failed, returned and withdrawn lines never count.

**Cells.** Every statistic is a cell of a small cube with three coordinates:

* ``year``: a batch year, or ``0`` = all years;
* ``policy_key``: a policy name (补贴政策, stable across years), or ``"*"`` = all policies;
* region: ``region_level`` ``"*"`` (the whole deployment), ``county``, ``township`` or
  ``village``, with ``region_code`` and ``region_codes`` (the code and its ancestors, 2/4/6/9/12
  digits, so ``region_codes = <code>`` selects everything under it).

Village cells exist only for all policies (no policy × village cross-tabulation). Each cell has
``amount`` ("1234.50"), ``amount_cents``, ``lines`` and ``persons`` (exact ``COUNT(DISTINCT
person)`` — persons are never added up across cells). ``dimension`` names the finest coordinate
(``village``/``township``/``county`` > ``policy`` > ``year`` > ``total``).

**Masking.** No person-level value is published. Projects the masking policy discloses only at
township level (低保, 特困, 孤儿 …) or county level are left out of the finer region cells, exactly
as their disclosures are. Small cells: a county, township or village cell with fewer than
:data:`MIN_PERSONS` persons has amount, lines and persons withheld (``suppressed: true``); if that
would leave a single withheld cell, or withheld cells totalling fewer than ``MIN_PERSONS`` persons,
among the children of one parent (whose total is published), the smallest other siblings are
withheld too (secondary suppression), so a parent minus its shown children never singles out a
small group. See docs/indexer.md for what this does and does not protect.

**Timeliness** (``dimension = "timeliness"``, per year/0 × policy/"*" × county/"*";
``dimension = "department"``, per year/0 × department × county/"*"): over published batches,
working days (:mod:`core.workdays`) from payment (``paid_on``) to publication (``published_on``)
against the results-publication limit (:mod:`core.deadlines`, 5, per project and region with the
deployment's overrides), and from the start of publicity to payment against publicity + approval +
finance check + bank crediting (3 + 10 + 5 + 2 = 20 by default): share on time, median, p90. This
loops over *batches* (a few per project and period), not lines.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, cast, distinct, func, select
from sqlalchemy.orm import Session

from admin.models import (
    Batch,
    BatchState,
    DeadlineOverride,
    Department,
    LineState,
    PaymentLine,
    Policy,
    Project,
    Region,
)
from core import regions
from core.deadlines import rule_for
from core.timeutil import now
from core.workdays import workdays_between
from indexer.masking import MaskingPolicy, load_policy
from search.base import SearchEngine, SearchError
from search.schemas import SPECS

__all__ = [
    "ALL",
    "MIN_PERSONS",
    "PAYMENT_STEPS",
    "StatisticsBuilder",
    "affected_years",
    "publish",
    "cell_id",
    "dimension_of",
]

INDEX = "statistics"
ALL = "*"
MIN_PERSONS = 3
PAYMENT_STEPS = ("publicity", "approval", "finance_check", "bank_crediting")
LEVELS = ("county", "township", "village")
_LEVEL_DIGITS = {"county": 6, "township": 9, "village": 12}
_MASK_ORDER = {"village": 3, "township": 2, "county": 1}
_PUBLISHED, _PAID = BatchState.published.value, LineState.paid.value
_SAFE = re.compile(r"[^0-9A-Za-z_-]")


def dimension_of(year: int, policy_key: str, region_level: str) -> str:
    """The finest coordinate of a cell: region level, else policy, else year, else total."""
    if region_level != ALL:
        return region_level
    if policy_key != ALL:
        return "policy"
    return "year" if year else "total"


def cell_id(kind: str, year: int, key: str, region: str) -> str:
    """Stable, index-safe id (the policy name is hashed into ASCII)."""
    slug = key if key == ALL else hashlib.sha1(key.encode()).hexdigest()[:12]
    return _SAFE.sub("_", f"{kind}-{year}-{slug}-{region or 'all'}")


def _ancestors(code: str) -> list[str]:
    return [code[:n] for n in (2, 4, 6, 9, 12) if len(code) >= n]


def _cents_text(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _percentile(values: list[int], share: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(share * len(ordered)) - 1)])


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass
class StatisticsBuilder:
    """Builds every ``statistics`` document from one session's view of the batch database."""

    masking: MaskingPolicy
    min_persons: int = MIN_PERSONS

    @classmethod
    def from_config(cls, config: Any, masking: MaskingPolicy | None = None) -> StatisticsBuilder:
        return cls(masking or load_policy(config.data_dir))

    # -- public --------------------------------------------------------------------------------

    def documents(self, session: Session, *, today: date | None = None) -> list[dict[str, Any]]:
        """Every ``statistics`` document (a few thousand for a county; built in one go)."""
        stamp = now().isoformat(timespec="seconds")
        started = time.perf_counter()
        names = _RegionNames(session)
        allowed = self._projects_by_level(session)
        docs = self._cells(session, names, allowed)
        docs += self._timeliness(session, names)
        seconds = round(time.perf_counter() - started, 3)
        for doc in docs:
            doc["computed_at"] = stamp
            doc["compute_seconds"] = seconds
        return docs

    # -- cells ---------------------------------------------------------------------------------

    def _projects_by_level(self, session: Session) -> dict[str, list[int] | None]:
        """Projects whose lines may appear in cells of each region level (None = every project)."""
        coarsest: dict[int, int] = {}
        for project_id, project_name, policy_name in session.execute(
            select(Project.id, Project.name, Policy.name).join(Policy, Policy.id == Project.policy_id)
        ):
            level = min(_MASK_ORDER[self.masking.region_level_for(project_name)],
                        _MASK_ORDER[self.masking.region_level_for(policy_name)])
            coarsest[project_id] = level
        out: dict[str, list[int] | None] = {}
        for level in LEVELS:
            need = _MASK_ORDER[level]
            ok = [pid for pid, lvl in coarsest.items() if lvl >= need]
            out[level] = None if len(ok) == len(coarsest) else ok
        return out

    def _cells(self, session: Session, names: _RegionNames,
               allowed: dict[str, list[int] | None]) -> list[dict[str, Any]]:
        cents = func.sum(cast(func.round(PaymentLine.amount * 100), BigInteger))
        measures = (cents.label("cents"), func.count().label("lines"),
                    func.count(distinct(PaymentLine.person_id)).label("persons"))
        base = (
            select()
            .select_from(PaymentLine)
            .join(Batch, Batch.id == PaymentLine.batch_id)
            .join(Project, Project.id == Batch.project_id)
            .join(Policy, Policy.id == Project.policy_id)
            .where(Batch.state == _PUBLISHED, PaymentLine.state == _PAID)
        )
        cells: list[dict[str, Any]] = []
        for per_year in (True, False):
            for per_policy in (True, False):
                for level in (ALL, *LEVELS):
                    if level == "village" and per_policy:
                        continue  # no policy × village cross-tabulation
                    keys = []
                    if per_year:
                        keys.append(Batch.year.label("year"))
                    if per_policy:
                        keys.append(Policy.name.label("policy"))
                    if level != ALL:
                        keys.append(func.substr(PaymentLine.village_code, 1, _LEVEL_DIGITS[level]).label("region"))
                    stmt = base.add_columns(*keys, *measures)
                    if level != ALL:
                        projects = allowed[level]
                        if projects is not None:
                            if not projects:
                                continue
                            stmt = stmt.where(Batch.project_id.in_(projects))
                    if keys:
                        stmt = stmt.group_by(*keys)
                    for row in session.execute(stmt).mappings():
                        if not row["lines"]:
                            continue
                        year = int(row["year"]) if per_year else 0
                        policy = str(row["policy"]) if per_policy else ALL
                        region = str(row["region"] or "") if level != ALL else ""
                        if level != ALL and len(region) != _LEVEL_DIGITS[level]:
                            continue  # a malformed village code: counted in the totals only
                        cells.append(self._cell(year, policy, level, region, int(row["cents"] or 0),
                                                int(row["lines"]), int(row["persons"]), names))
        self._suppress(cells)
        return cells

    def _cell(self, year: int, policy: str, level: str, region: str, cents: int, lines: int,
              persons: int, names: _RegionNames) -> dict[str, Any]:
        return {
            "id": cell_id("c", year, policy, region),
            "dimension": dimension_of(year, policy, level),
            "year": year,
            "policy_key": policy,
            "policy_name": "" if policy == ALL else policy,
            "region_level": level,
            "region_code": region or ALL,
            "region_codes": _ancestors(region),
            "key": region or (policy if policy != ALL else str(year or "")),
            "label": names.get(region) if region else (policy if policy != ALL else (f"{year}年" if year else "合计")),
            "amount": _cents_text(cents),
            "amount_cents": cents,
            "lines": lines,
            "persons": persons,
            "suppressed": False,
        }

    def _suppress(self, cells: list[dict[str, Any]]) -> None:
        """Primary and secondary small-cell suppression below the deployment level (module doc)."""
        groups: dict[tuple[int, str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for cell in cells:
            level = cell["region_level"]
            if level == ALL:
                continue
            parent = cell["region_code"][: {"county": 0, "township": 6, "village": 9}[level]]
            groups[(cell["year"], cell["policy_key"], level, parent)].append(cell)
        for siblings in groups.values():
            hidden = [c for c in siblings if c["persons"] < self.min_persons]
            if not hidden:
                continue
            shown = sorted((c for c in siblings if c["persons"] >= self.min_persons),
                           key=lambda c: (c["persons"], c["amount_cents"], c["region_code"]))
            while shown and (len(hidden) < 2 or sum(c["persons"] for c in hidden) < self.min_persons):
                hidden.append(shown.pop(0))
            for cell in hidden:
                cell.update(amount=None, amount_cents=None, lines=None, persons=None, suppressed=True)

    # -- timeliness ----------------------------------------------------------------------------

    def _timeliness(self, session: Session, names: _RegionNames) -> list[dict[str, Any]]:
        overrides = [
            {"step": o.step, "days": o.days, "project_code": o.project_code, "region_code": o.region_code}
            for o in session.scalars(select(DeadlineOverride))
        ]
        rows = session.execute(
            select(Batch.year, Batch.region_code, Batch.publicity_start, Batch.paid_on, Batch.published_on,
                   Project.code, Policy.name, Department.name)
            .join(Project, Project.id == Batch.project_id)
            .join(Policy, Policy.id == Project.policy_id)
            .join(Department, Department.id == Project.department_id)
            .where(Batch.state == _PUBLISHED)
        ).all()
        # (dimension, year, key, county) -> [(publication days, limit), …], [(payment days, limit), …]
        groups: dict[tuple[str, int, str, str], tuple[list[tuple[int, int]], list[tuple[int, int]]]] = \
            defaultdict(lambda: ([], []))
        for year, region_code, publicity_start, paid_on, published_on, project_code, policy, department in rows:
            county = (region_code or "")[:6]
            publication = payment = None
            if paid_on and published_on:
                limit = rule_for("results_publication", project_code, region_code, overrides).days
                publication = (workdays_between(paid_on, published_on), limit)
            if publicity_start and paid_on:
                limit = sum(rule_for(step, project_code, region_code, overrides).days for step in PAYMENT_STEPS)
                payment = (workdays_between(publicity_start, paid_on), limit)
            keys = [("timeliness", y, p, c) for y in (int(year), 0) for p in (policy, ALL) for c in (county, ALL)]
            keys += [("department", y, department, c) for y in (int(year), 0) for c in (county, ALL)]
            for key in keys:
                pub, pay = groups[key]
                if publication is not None:
                    pub.append(publication)
                if payment is not None:
                    pay.append(payment)
        docs = []
        for (dimension, year, key, county), (pub, pay) in groups.items():
            county_code = county if county != ALL else ""
            doc: dict[str, Any] = {
                "id": cell_id("t" if dimension == "timeliness" else "d", year, key, county_code),
                "dimension": dimension,
                "year": year,
                "policy_key": key if dimension == "timeliness" else ALL,
                "policy_name": key if dimension == "timeliness" and key != ALL else "",
                "department": key if dimension == "department" else "",
                "region_level": "county" if county_code else ALL,
                "region_code": county_code or ALL,
                "region_codes": _ancestors(county_code),
                "key": key,
                "label": key if key != ALL else "合计",
                "region_name": names.get(county_code) if county_code else "",
            }
            doc.update(_timeliness_fields("", pub))
            doc.update(_timeliness_fields("payment_", pay))
            docs.append(doc)
        return docs


def _timeliness_fields(prefix: str, measured: list[tuple[int, int]]) -> dict[str, Any]:
    days = [d for d, _ in measured]
    on_time = sum(1 for d, limit in measured if 0 <= d <= limit)
    limits = sorted({limit for _, limit in measured})
    return {
        f"{prefix}batches": len(measured),
        f"{prefix}on_time": on_time,
        f"{prefix}on_time_share": round(on_time / len(measured), 4) if measured else None,
        f"{prefix}median_days": _median(days),
        f"{prefix}p90_days": _percentile(days, 0.9),
        f"{prefix}max_days": max(days) if days else None,
        f"{prefix}limit_days": limits[0] if limits else None,  # the strictest limit in force
    }


class _RegionNames:
    """County/township/village names: the batch database's region table, else the NBS data."""

    def __init__(self, session: Session) -> None:
        self._names: dict[str, str] = {code: name for code, name in session.execute(select(Region.code, Region.name))}

    def get(self, code: str) -> str:
        name = self._names.get(code)
        if name:
            return name
        region = regions.get(code) if len(code) in (6, 9) else None
        return region.name if region is not None else code


def affected_years(session: Session, batch_ids: Iterable[int], line_ids: Iterable[int]) -> set[int]:
    """Years of the published batches among these batches and the batches of these lines."""
    batch_ids, line_ids = set(batch_ids), set(line_ids)
    years: set[int] = set()
    if batch_ids:
        years.update(session.scalars(select(Batch.year).where(Batch.id.in_(batch_ids), Batch.state == _PUBLISHED)))
    if line_ids:
        years.update(session.scalars(
            select(Batch.year).join(PaymentLine, PaymentLine.batch_id == Batch.id)
            .where(PaymentLine.id.in_(line_ids), Batch.state == _PUBLISHED)
        ))
    return {int(y) for y in years}


def publish(engine: SearchEngine, docs: list[dict[str, Any]], *, index: str = INDEX) -> int:
    """Replace the whole ``statistics`` index with ``docs``: fill a fresh build index, check its
    count, swap it in (readers never see a half-written or stale-mixed index; cells that no longer
    exist disappear). Returns the number of documents."""
    build = f"{index}__build_{now().strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}"
    engine.ensure_index(SPECS[INDEX].renamed(build))
    try:
        engine.replace_documents(build, docs)
        actual = engine.count(build)
        if actual != len(docs):
            raise SearchError(f"统计索引文档数 {actual} 与应有的 {len(docs)} 不一致，未替换线上索引")
        if index not in engine.list_indexes():
            engine.ensure_index(SPECS[INDEX].renamed(index))
        engine.swap(index, build)
    finally:
        engine.delete_index(build)
    return len(docs)
