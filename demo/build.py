"""The demo data build behind `yikatong demo` (demo/cli.py holds the command line).

Builds a complete, deterministic batch database for demo mode (DESIGN.md "Demo mode"): three
real counties with their townships and invented villages, departments, 21 real subsidy
policies per year 2021–2026 with standards, documents and change history, one project per
policy entry, people with valid ID numbers (incl. historical region codes) and Luhn-valid cards
— the reference data, written in bulk (`_Registry`) — and then the history of every batch,
replayed through the product's own services (`_Replay`): created by `admin.batches.service`,
its roster entered by `service.enter_rows` (the roster import's checks), every step from submit
to the payment request taken by `admin.batches.workflow.perform` on the step's historical day,
by an operator account of the right role (demo/accounts.py for 鲁山县民政局, county staff made by
admin/access/operators elsewhere). No batch state, workflow event or audit entry of those steps
is written by hand. After the payment request the bank operator exports each bank file and
imports it back with the bank's answer (`admin.bank.service`, CSV files built in memory; failed
lines carry the bank's words of demo/data.py FAILURES, classified by `admin.bank.reasons`), the
department corrects and re-issues failed lines in supplementary payments, or returns the money
of those nobody corrected (`admin.bank.results`), and publishes the results (`publish`, which
queues the arrival SMS; the running app's background loop sends them). No state is written
directly: every WorkflowEvent carries the action that made it.

It also leaves the fixed sample people (demo/samples.py, written once to
`<data dir>/demo_people.json` for everyone to read through demo/people.py) and, in the demo
accounts' scope, batches for a newcomer to carry on (docs/demo.md): a clean township draft,
one in first review, one whose review passed, one in publicity, one at the bank.

The same seed always gives the same people, numbers and lines (`random.Random(seed)`, a fixed
"today"); only encryption nonces, password hashes and the times of day differ between builds.
A rebuild starts from an empty batch database. Outside demo mode the command refuses to run.
"""

from __future__ import annotations

import json
import time as _time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from itertools import accumulate
from pathlib import Path
from random import Random
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import bindparam, func, insert, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session

from admin import outbox
from admin.access import operators
from admin.access.roles import Actor, actor_of
from admin.audit import trail
from admin.bank import files as bank_files
from admin.bank import ledger
from admin.bank import results as bank_results
from admin.bank import service as bank_service
from admin.bank.files import BankFileError
from admin.batches import service, workflow
from admin.batches.rosters import RosterRow, chunks
from admin.batches.service import BatchError
from admin.actions import WorkflowError
from admin.fieldcrypt import cipher
from admin.library import projects as project_library
from admin.library import references
from admin.supervision import signals, spot_checks
from admin.models import (
    Base,
    Batch,
    CardAccount,
    Department,
    Operator,
    PaymentLine,
    Person,
    Policy,
    PolicyChange,
    Project,
    Region,
)
from core import migrate, personkey, regions
from core.config import Config
from core.db import Database
from core.timeutil import SHANGHAI
from core.workdays import add_workdays
from demo import accounts
from demo.batches import COMMENTS, REVIEW_PASSED, Slot, plan_timeline, slots_for
from demo.complaints import replay_complaints
from demo.data import (
    AS_OF,
    CORRECTION_NOTES,
    COUNTIES,
    COUNTY_BY_CODE,
    DEPARTMENTS,
    FAILURE_RATE,
    FAILURE_WEIGHTS,
    FAILURES,
    GROUP_BIRTH_YEARS,
    POLICIES,
    POLICY_BY_KEY,
    YEARS,
    PolicySpec,
)
from demo.marker import MARKER_FILE, read_marker
from demo.people import DEMO_PEOPLE_FILE, write_demo_people
from demo.persons import (
    Card,
    GenPerson,
    Village,
    id_prefix,
    make_cards,
    make_id_number,
    make_name,
    make_phone,
    random_birth,
    villages_for,
)
from demo.samples import SamplePerson, public_view, sample_people

__all__ = ["DEFAULT_LINES", "DEFAULT_SEED", "GENERATOR_VERSION", "BuildReport", "DemoError", "build",
           "build_if_changed", "is_current"]

DEFAULT_LINES = 20000
DEFAULT_SEED = 20260101
GENERATOR_VERSION = 7  # 2: demo operator accounts (demo/accounts.py); 3: batches driven through the workflow;
# 4: bank files, results, re-issues and publication through the bank services; 5: a spot check with a finding;
# 6: planted anomaly signals (reference lists, household cap) and the signals computed; 7: complaints, tip-offs and
# requests filed on the public side, pulled in and handled through the complaints workflow (demo/complaints.py)
CHUNK = 5000
CENT = Decimal("0.01")
TURNOVER = 0.06  # share of a project's beneficiaries replaced each year

# (county, policy) whose latest batch is held in a given state, so every state is present. The
# 鲁山县民政局 ones are in the demo accounts' scope, for a newcomer to carry on (docs/demo.md):
# 农村低保 in draft (the clerk's roster import), 特困供养 in first review, 孤儿 with the first review
# passed (publicity may open backdated and close at once), 高龄津贴 in publicity, 残疾人生活补贴 at the bank.
FORCED: tuple[tuple[str, str, str], ...] = (
    ("410423", "GLJT", "publicity"),
    ("500241", "CXYL", "bank"),
    ("500241", "STHL", "approval"),
    ("530128", "KNCJ", "paid"),
    ("410423", "NCDB", "draft"),
    ("410423", "CXYL", "submitted"),
    ("530128", "CXYL", "finance_check"),
    ("500241", "NCDB", "returned"),
    ("410423", "TKGY", "submitted"),
    ("410423", "GEJB", REVIEW_PASSED),
    ("410423", "KNCJ", "bank"),
)
# The clean draft of the demo clerk's township (not a slot: a township batch beside the county's).
TOWNSHIP_POLICY = "LSJZ"
TOWNSHIP_PERIOD = "2026H2"
TOWNSHIP_LINES = 6


class DemoError(Exception):
    """The demo build cannot run (message in Chinese)."""


@dataclass(frozen=True)
class BuildReport:
    lines: int
    persons: int
    batches: int
    policies: int
    seconds: float
    skipped: bool = False
    database_bytes: int | None = None

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


# --- marker -----------------------------------------------------------------------------------


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # pragma: no cover - Config already parsed it
        return url


def _marker(config: Config, lines: int, seed: int) -> dict[str, Any]:
    return {"lines": lines, "seed": seed, "version": GENERATOR_VERSION,
            "batch_database": _safe_url(config.batch_database_url)}


def _database_has_data(url: str) -> bool:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            if not inspect(conn).has_table("payment_lines"):
                return False
            return conn.execute(select(Batch.id).limit(1)).first() is not None
    except Exception:
        return False
    finally:
        db.dispose()


def is_current(config: Config, lines: int, seed: int) -> bool:
    """Whether the marker says this exact demo data is already in the batch database."""
    marker = read_marker(config.data_dir)
    if marker is None:
        return False
    wanted = _marker(config, lines, seed)
    if any(marker.get(k) != v for k, v in wanted.items()):
        return False
    return _database_has_data(config.batch_database_url)


# --- public entry points ----------------------------------------------------------------------


def _require_demo(config: Config) -> None:
    if not config.demo:
        raise DemoError("演示数据只能在演示模式下生成（设置 YIKATONG_DEMO=1）：生成时会清空批次数据库")


def build_if_changed(config: Config, lines: int, seed: int, *, progress: bool = False) -> BuildReport:
    _require_demo(config)
    if is_current(config, lines, seed):
        return BuildReport(lines, 0, 0, 0, 0.0, skipped=True)
    return build(config, lines, seed, progress=progress)


def build(config: Config, lines: int, seed: int, *, progress: bool = False) -> BuildReport:
    """Rebuild the batch database with demo data (N payment lines in total)."""
    _require_demo(config)
    started = _time.perf_counter()
    plan = _Plan(seed, lines)
    marker_path = config.data_dir / MARKER_FILE
    marker_path.unlink(missing_ok=True)  # an interrupted build leaves no stale marker or people
    (config.data_dir / DEMO_PEOPLE_FILE).unlink(missing_ok=True)
    _reset_database(config)
    db = Database(config.batch_database_url)
    try:
        with _progress(progress, plan.line_total + len(plan.persons)) as advance:
            with db.session() as session:
                conn = session.connection()
                if db.is_sqlite:
                    conn.exec_driver_sql("PRAGMA synchronous=OFF")
                    conn.exec_driver_sql("PRAGMA cache_size=-65536")
                _Registry(conn, config, plan, advance).write()
                if not db.is_sqlite:
                    _fix_sequences(session)
                _Replay(session, config, plan, _Staff(session, config, plan), advance).run()
                _catch_up(session, plan)
                _plant_signals(session, config)
    finally:
        db.dispose()
    replay_complaints(config, seed, lines, plan.persons, plan.villages)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    write_demo_people(config.data_dir, public_view(plan.samples))
    marker_path.write_text(json.dumps(_marker(config, lines, seed), ensure_ascii=False, indent=2), encoding="utf-8")
    seconds = _time.perf_counter() - started
    return BuildReport(plan.line_total, len(plan.persons), len(plan.slots) + 1, len(plan.policy_rows), seconds,
                       database_bytes=_database_bytes(config.batch_database_url))


# --- database reset ---------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _database_bytes(url: str) -> int | None:
    path = _sqlite_path(url)
    return path.stat().st_size if path and path.exists() else None


def _reset_database(config: Config) -> None:
    url = config.batch_database_url
    path = _sqlite_path(url)
    if path is not None and url != config.public_database_url:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        migrate.downgrade(url, "batch", "base")  # drops only the batch tables (a shared database keeps the public store)
    migrate.upgrade(url, "batch")


def _fix_sequences(session: Session) -> None:
    """Reference rows were inserted with explicit ids: move PostgreSQL's sequences past them."""
    for table in Base.metadata.sorted_tables:
        if "id" not in table.c or not table.c.id.primary_key:
            continue
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
        ))


# --- plan: everything decided before writing ---------------------------------------------------


def _q(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _num(value: Decimal) -> str:
    """12 → "12", 12.5 → "12.50" (for standards written as text)."""
    value = _q(value)
    return f"{value:.0f}" if value == value.to_integral_value() else f"{value:.2f}"


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class ProjectInfo:
    policy_id: int
    project_id: int
    amount_min: Decimal
    amount_max: Decimal


def _months(spec: PolicySpec) -> int:
    return {"year": 12, "half": 6, "quarter": 3}[spec.period]


def _rate(spec: PolicySpec, county: str, year: int) -> Decimal:
    return spec.rate[county] + spec.rate_step * (year - YEARS[0])


def _monthly(spec: PolicySpec, county: str, year: int) -> Decimal:
    return spec.monthly[county] + spec.monthly_step * (year - YEARS[0])


def _bounds(spec: PolicySpec, county: str, year: int) -> tuple[Decimal, Decimal]:
    months = _months(spec)
    if spec.model == "per_mu":
        rate = _rate(spec, county, year)
        return _q(rate * spec.area[0]), _q(rate * spec.area[1])
    if spec.model == "band":
        return _q(spec.bands[80] * months), _q(spec.bands[100] * months)
    if spec.model == "fixed":
        amount = _q(_monthly(spec, county, year) * months)
        return amount, amount
    return _q(spec.low), _q(spec.high)


def _standard_text(spec: PolicySpec, county: str, year: int) -> str:
    values: dict[str, Any] = {"low": _num(spec.low), "high": _num(spec.high),
                              "low_m": _num(spec.low / 3), "high_m": _num(spec.high / 3)}
    if spec.model == "per_mu":
        values["rate"] = _rate(spec, county, year)
    if spec.model == "fixed":
        monthly = _monthly(spec, county, year)
        values["monthly"] = monthly
        values["yearly"] = monthly * 12
    if spec.model == "range":
        values["monthly"] = "5"
    for band, amount in spec.bands.items():
        values[f"b{band}"] = amount
    return spec.standard.format(**values)


@cache
def _band_amount(key: str, band: int, months: int) -> Decimal:
    return _q(POLICY_BY_KEY[key].bands[band] * months)


@cache
def _fixed_amount(key: str, county: str, year: int, months: int) -> Decimal:
    return _q(_monthly(POLICY_BY_KEY[key], county, year) * months)


def _amount(spec: PolicySpec, slot: Slot, person: GenPerson, rng: Random) -> tuple[Decimal, Decimal | None]:
    """(amount, quantity) of one line; quantities and personal amounts are kept per person."""
    if spec.model == "per_mu":
        qty = person.area.get(spec.key)
        if qty is None:
            lo, hi = spec.area
            qty = _q(lo + (hi - lo) * Decimal(rng.random() ** 1.6))
            person.area[spec.key] = qty
        return _q(_rate(spec, slot.county, slot.year) * qty), qty  # type: ignore[operator]
    if spec.model == "band":
        age = _age_on(person.birth_date, slot.start)
        band = 100 if age >= 100 else 90 if age >= 90 else 80
        return _band_amount(spec.key, band, slot.months), None
    if spec.model == "fixed":
        return _fixed_amount(spec.key, slot.county, slot.year, slot.months), None
    amount = person.area.get(spec.key)
    if amount is None:
        steps = int((spec.high - spec.low) / 10)
        amount = _q(spec.low + 10 * rng.randint(0, steps))
        person.area[spec.key] = amount
    return amount, None  # type: ignore[return-value]


class _Plan:
    """Regions, departments, policies, projects, batches and people for one seed and N."""

    def __init__(self, seed: int, lines: int) -> None:
        self.seed = seed
        self.lines = lines
        self.villages: dict[str, list[Village]] = {
            c.code: villages_for(c, Random(f"{seed}:villages:{c.code}")) for c in COUNTIES
        }
        self._departments()
        self._policies(Random(f"{seed}:policies"))
        self._slots(Random(f"{seed}:timeline"))
        self.samples: list[SamplePerson] = sample_people(seed)
        self.persons: list[GenPerson] = []
        self.cards_total = 0
        self.used_ids: set[str] = {s.id_number for s in self.samples}
        self.used_cards: set[str] = {n for s in self.samples for n in s.card_numbers}
        self._sample_persons()
        self.sample_rows_total = sum(len(v) for v in self.sample_plan.values())
        fixed = self.sample_rows_total + TOWNSHIP_LINES
        if lines < fixed + 50:
            raise DemoError(f"--lines 至少为 {fixed + 50}（含固定示例人员的 {self.sample_rows_total} 条、"
                            f"演示草稿批次的 {TOWNSHIP_LINES} 条）")
        self._allocate(lines - fixed)
        self._population(Random(f"{seed}:persons"))
        self._township_people(Random(f"{seed}:township"))
        self.line_total = lines

    # structure

    def _departments(self) -> None:
        self.departments: list[dict[str, Any]] = []
        self.department_id: dict[tuple[str, str], int] = {}
        for county in COUNTIES:
            for key, suffix in DEPARTMENTS.items():
                did = len(self.departments) + 1
                self.department_id[(county.code, key)] = did
                self.departments.append({"id": did, "code": f"{county.code}-{key}",
                                         "name": county.short + suffix, "region_code": county.code})

    def _policies(self, rng: Random) -> None:
        self.policy_rows: list[dict[str, Any]] = []
        self.project_rows: list[dict[str, Any]] = []
        self.change_rows: list[dict[str, Any]] = []
        self.projects: dict[tuple[str, str, int], ProjectInfo] = {}
        for county in COUNTIES:
            county_name = regions.full_name(county.code)
            for spec in POLICIES:
                if county.code not in spec.counties:
                    continue
                previous = ""
                for year in YEARS:
                    pid = len(self.policy_rows) + 1
                    standard = _standard_text(spec, county.code, year)
                    created = datetime(year - 1, 12, rng.randint(1, 28), 10, 0, tzinfo=SHANGHAI)
                    self.policy_rows.append({
                        "id": pid, "code": f"{county.code}{spec.key}", "year": year, "name": spec.name,
                        "short_name": spec.short_name, "department_id": self.department_id[(county.code, spec.dept)],
                        "level": spec.level, "budget_source": spec.budget_source,
                        "scope": f"{county_name}行政区域内符合条件的{spec.beneficiaries}",
                        "beneficiaries": spec.beneficiaries, "standard": standard,
                        "document_title": spec.document_title, "document_number": spec.document_number,
                        "document_url": spec.document_url, "delivery": spec.delivery, "region_code": county.code,
                        "status": "published", "created_at": created, "updated_at": created,
                    })
                    low, high = _bounds(spec, county.code, year)
                    prj = len(self.project_rows) + 1
                    self.project_rows.append({
                        "id": prj, "code": f"{county.code}{spec.key}{year}", "name": f"{year}年{spec.name}",
                        "policy_id": pid, "department_id": self.department_id[(county.code, spec.dept)],
                        "region_code": county.code, "unit": spec.unit, "amount_min": low, "amount_max": high,
                        "period_kind": spec.period, "active": year == YEARS[-1],
                    })
                    self.projects[(county.code, spec.key, year)] = ProjectInfo(pid, prj, low, high)
                    if previous:
                        changed = previous != standard
                        self.change_rows.append(self._change(
                            pid, f"{year}年度清单：" + ("调整补贴标准" if changed else "延续上年标准执行"),
                            {"standard": {"before": previous, "after": standard}} if changed else {"standard": standard},
                            "approved", created, county.code, spec.dept))
                    else:
                        self.change_rows.append(self._change(
                            pid, "纳入补贴政策清单", {"document_number": spec.document_number},
                            "approved", created, county.code, spec.dept))
                    previous = standard
                if spec.key in ("GDDL", "GLJT", "CXYL"):
                    self.change_rows.append(self._change(
                        self.policy_rows[-1]["id"], f"拟调整{YEARS[-1] + 1}年度补贴标准（待审核）",
                        {"standard": {"before": previous, "after": "待财政部门核定后公布"}}, "pending",
                        datetime.combine(AS_OF - timedelta(days=6), time(15, 20), tzinfo=SHANGHAI),
                        county.code, spec.dept))

    def _change(self, policy_id: int, summary: str, change: dict[str, Any], status: str,
                at: datetime, county: str, dept: str) -> dict[str, Any]:
        reviewed = status != "pending"
        return {
            "id": len(self.change_rows) + 1, "policy_id": policy_id, "summary": summary, "change": change,
            "status": status, "requested_by": f"{county}.{dept.lower()}.op", "requested_at": at,
            "reviewed_by": f"{county}.czj.reviewer" if reviewed else None,
            "reviewed_at": at + timedelta(days=3) if reviewed else None,
            "review_comment": "同意" if reviewed else "",
        }

    def _slots(self, rng: Random) -> None:
        slots: list[Slot] = []
        for county in COUNTIES:
            for spec in POLICIES:
                if county.code in spec.counties:
                    slots.extend(slots_for(county.code, spec, rng))
            # one batch created by mistake and cancelled
            template = next(s for s in slots if s.key == (county.code, "LSJZ") and s.period == "2023H2")
            slots.append(Slot(template.county, template.policy, template.year, template.period, template.label,
                              template.months, template.start, template.created, cancelled=True))
        latest: dict[tuple[str, str], Slot] = {}
        for slot in slots:
            if not slot.cancelled:
                latest[slot.key] = slot
        for county, key, state in FORCED:
            latest[(county, key)].forced = state
        for slot in slots:
            plan_timeline(slot, rng)
        self.all_slots = slots

    # sample people

    def _sample_persons(self) -> None:
        self.sample_plan: dict[int, list[tuple[GenPerson, str | None, bool]]] = {}
        self.sample_gen: list[GenPerson] = []
        by_key: dict[tuple[str, str], list[int]] = {}
        for index, slot in enumerate(self.all_slots):
            if not slot.cancelled:
                by_key.setdefault(slot.key, []).append(index)
        for sample in self.samples:
            spec = sample.spec
            cards = [Card(0, number, bank, "active", date(2015, 6, 1))
                     for number, bank in zip(sample.card_numbers, sample.bank_names)]
            if spec.card_change:
                cards[0].status, cards[0].closed_on = "closed", spec.card_change[0]
                cards[1].opened_on = spec.card_change[1]
            person = GenPerson(0, sample.id_number, spec.name, spec.birth, spec.sex,
                               self.villages[spec.county][spec.village], None, cards)
            self.sample_gen.append(person)
            pending = dict(spec.pending)
            failures = {(p, period): (code, reissued) for p, period, code, reissued in spec.failures}
            for key in spec.policies:
                for index in by_key.get((spec.county, key), []):
                    slot = self.all_slots[index]
                    if not (slot.final or pending.get(key) == slot.state == slot.forced):
                        continue
                    code, reissued = failures.get((key, slot.period), (None, False))
                    rows = self.sample_plan.setdefault(index, [])
                    rows.append((person, code, reissued))
                    if (code and reissued) or _closed_card_failure(person, slot) is not None:
                        rows.append((person, "+", False))  # placeholder: the re-issue row

    # allocation of N over the batches

    def _allocate(self, generated: int) -> None:
        weights = [
            s.policy.weight * COUNTY_BY_CODE[s.county].weight * (0.2 if s.cancelled else 1.0)
            for s in self.all_slots
        ]
        total = sum(weights)
        quotas = [generated * w / total for w in weights]
        counts = [int(q) for q in quotas]
        order = sorted(range(len(quotas)), key=lambda i: (counts[i] - quotas[i], i))
        for i in order[: generated - sum(counts)]:
            counts[i] += 1
        for i, slot in enumerate(self.all_slots):
            if (slot.forced or slot.cancelled) and counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] = 1
        kept: list[Slot] = []
        sample_plan: dict[int, list[tuple[GenPerson, str | None, bool]]] = {}
        for i, slot in enumerate(self.all_slots):
            slot.count = counts[i]
            rows = self.sample_plan.get(i, [])
            if slot.count == 0 and not rows:
                continue
            slot.id = len(kept) + 1
            if rows:
                sample_plan[slot.id] = rows
            kept.append(slot)
        self.slots = kept
        self.sample_plan = sample_plan

    # population

    def _population(self, rng: Random) -> None:
        pool: dict[tuple[str, str], int] = {}
        for slot in self.slots:
            pool[slot.key] = max(pool.get(slot.key, 0), slot.count)
        self.members: dict[tuple[str, str], list[GenPerson]] = {}
        self.offsets: dict[tuple[str, str], int] = {}
        self.drift: dict[tuple[str, str], int] = {}
        card_id = 1
        for county in COUNTIES:
            needed: dict[str, int] = {}
            for spec in POLICIES:
                group = spec.group
                # room for turnover: each year a few beneficiaries leave and others join
                size = pool.get((county.code, spec.key), 0) * (1 + TURNOVER * (len(YEARS) - 1))
                needed[group] = max(needed.get(group, 0), int(size + 0.999))
            groups: dict[str, list[GenPerson]] = {}
            for group in ("old", "farmer", "senior", "disabled", "poor", "child", "parent", "veteran", "ranger", "student"):
                members = list(groups["old"]) if group == "senior" else []
                first, last = GROUP_BIRTH_YEARS[group]
                while len(members) < needed.get(group, 0):
                    person, card_id = self._person(rng, county.code, first, last, card_id)
                    members.append(person)
                groups[group] = members
            for spec in POLICIES:
                members = groups[spec.group]
                key = (county.code, spec.key)
                self.members[key] = members
                self.offsets[key] = rng.randrange(len(members)) if members else 0
                self.drift[key] = int(pool.get(key, 0) * TURNOVER + 0.999)
        for person in self.sample_gen:
            person.id = len(self.persons) + 1
            self.persons.append(person)
            for card in person.cards:
                card.id = card_id
                card_id += 1
        self.cards_total = card_id - 1

    def _township_people(self, rng: Random) -> None:
        """The people of the clean township draft (DESIGN.md "Demo mode"): new 临时救助 households of
        the demo clerk's township, one card each, with no other line, so every check passes."""
        county = COUNTY_BY_CODE[accounts.COUNTY]
        villages = [v for v in self.villages[county.code] if v.township_code == accounts.CLERK_TOWNSHIP]
        first, last = GROUP_BIRTH_YEARS["poor"]
        spec = POLICY_BY_KEY[TOWNSHIP_POLICY]
        self.township: list[tuple[GenPerson, Decimal]] = []
        card_id = self.cards_total + 1
        for _ in range(TOWNSHIP_LINES):
            birth = random_birth(rng, first, last)
            sex = "M" if rng.random() < 0.5 else "F"
            number = make_id_number(county.code, birth, sex, rng, self.used_ids)
            name = make_name(rng, sex, birth.year, county.surnames)
            phone = make_phone(rng) if rng.random() < 0.65 else None
            cards = make_cards(rng, card_id, self.used_cards, change_share=0.0)
            card_id += len(cards)
            person = GenPerson(len(self.persons) + 1, number, name, birth, sex, rng.choice(villages), phone, cards)
            self.persons.append(person)
            amount = _q(spec.low + 100 * rng.randint(0, int((spec.high - spec.low) / 400)))
            self.township.append((person, amount))
        self.cards_total = card_id - 1

    def _person(self, rng: Random, county_code: str, first: int, last: int, card_id: int) -> tuple[GenPerson, int]:
        county = COUNTY_BY_CODE[county_code]
        birth = random_birth(rng, first, last)
        sex = "M" if rng.random() < 0.5 else "F"
        number = make_id_number(id_prefix(county, birth, rng), birth, sex, rng, self.used_ids)
        name = make_name(rng, sex, birth.year, county.surnames)
        village = rng.choice(self.villages[county_code])
        phone = make_phone(rng) if rng.random() < 0.65 else None
        cards = make_cards(rng, card_id, self.used_cards)
        person = GenPerson(len(self.persons) + 1, number, name, birth, sex, village, phone, cards)
        self.persons.append(person)
        return person, card_id + len(cards)


def _closed_card_failure(person: GenPerson, slot: Slot) -> Card | None:
    """The roster still carried a card the bank has closed: returns that card."""
    if not slot.final:
        return None
    card = person.card_on(slot.created)
    if card.status == "closed" and card.closed_on is not None and card.closed_on <= slot.created:
        return card
    return None


# --- the registry and the library: reference data, written in bulk ----------------------------


class _Registry:
    """Regions, departments, the policy list and project library, the person registry and cards:
    the data the workflow starts from (what a deployment imports from other systems), written with
    bulk inserts and explicit ids. Cards are all active while the batches are replayed (the
    registry learns of closed cards afterwards, :func:`_catch_up`); every project is active
    until its year's batches are replayed."""

    def __init__(self, conn: Connection, config: Config, plan: _Plan, advance: Callable[[int], None]) -> None:
        self.conn = conn
        self.plan = plan
        self.advance = advance
        self.cipher = cipher(config.field_key)
        self.hmac_key = config.hmac_key
        self.stamp = datetime.combine(AS_OF, time(9, 0), tzinfo=SHANGHAI)

    def _insert(self, model: Any, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), CHUNK):
            self.conn.execute(insert(model.__table__), rows[start:start + CHUNK])

    def write(self) -> None:
        plan = self.plan
        self._insert(Region, self._regions())
        self._insert(Department, plan.departments)
        self._insert(Policy, plan.policy_rows)
        self._insert(PolicyChange, plan.change_rows)
        self._insert(Project, [{**row, "active": True} for row in plan.project_rows])
        self._persons()

    def _regions(self) -> list[dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for county in COUNTIES:
            for region in regions.path(county.code) + regions.children(county.code):
                rows[region.code] = {"code": region.code, "name": region.name, "level": region.level,
                                     "parent_code": region.parent_code}
            for village in self.plan.villages[county.code]:
                rows[village.code] = {"code": village.code, "name": village.name, "level": "village",
                                      "parent_code": village.township_code}
        return list(rows.values())

    def _persons(self) -> None:
        persons: list[dict[str, Any]] = []
        cards: list[dict[str, Any]] = []
        encrypt = self.cipher.encrypt
        for person in self.plan.persons:
            key = personkey.person_key(self.hmac_key, person.id_number)
            persons.append({
                "id": person.id, "person_key": key, "id_number_enc": encrypt(person.id_number),
                "id_last4": person.id_number[-4:], "name": person.name, "birth_date": person.birth_date,
                "sex": person.sex, "region_code": person.village.code,
                "phone_enc": encrypt(person.phone) if person.phone else None,
                "created_at": self.stamp, "updated_at": self.stamp,
            })
            for card in person.cards:
                cards.append({
                    "id": card.id, "person_id": person.id, "card_number_enc": encrypt(card.number),
                    "card_digest": personkey.card_digest(self.hmac_key, key, card.number),
                    "card_last4": card.number[-4:], "bank_name": card.bank_name, "status": "active",
                    "opened_on": card.opened_on, "closed_on": None,
                })
            if len(persons) >= CHUNK:
                self._flush_persons(persons, cards)
        self._flush_persons(persons, cards)

    def _flush_persons(self, persons: list[dict[str, Any]], cards: list[dict[str, Any]]) -> None:
        if persons:
            self.conn.execute(insert(Person.__table__), persons)
            self.advance(len(persons))
        if cards:
            self.conn.execute(insert(CardAccount.__table__), cards)
        persons.clear()
        cards.clear()


def _plant_signals(session: Session, config: Config) -> None:
    """A handful of anomalies for the supervision pages (docs/admin.md 监督：异常信号), planted
    through the product's services, then every signal computed: two people paid in 鲁山县 appear
    on the civil affairs bureau's list of deaths and on the list of public employees with a date
    before their payment (the reference-list import), and one project of the county gets a
    per-household cap its largest households exceed (the project library)."""
    decrypt = cipher(config.field_key).decrypt
    picked: dict[int, date] = {}
    for person_id, paid_on in session.execute(
            select(PaymentLine.person_id, PaymentLine.paid_on).join(Batch, Batch.id == PaymentLine.batch_id)
            .where(PaymentLine.state == "paid", PaymentLine.paid_on.is_not(None),
                   Batch.region_code.startswith(accounts.COUNTY)).order_by(PaymentLine.id).limit(50)):
        if person_id not in picked:
            picked[person_id] = paid_on
        if len(picked) == 2:
            break
    for (person_id, paid_on), (kind, note) in zip(picked.items(), (("deceased", "民政部门殡葬信息比对"),
                                                                    ("public_employee", "编办财政供养人员名单"))):
        number = decrypt(session.get(Person, person_id).id_number_enc)
        data = f"身份证号,备注,生效日期\r\n{number},{note},{(paid_on - timedelta(days=20)).isoformat()}\r\n"
        references.import_list(session, config, data.encode("utf-8"), f"{note}.csv", actor="demo_admin",
                               list_kind=kind, region_code=accounts.COUNTY)
    totals: dict[int, list[Decimal]] = {}
    for project_id, total in session.execute(
            select(Batch.project_id, func.sum(PaymentLine.amount)).join(Batch, Batch.id == PaymentLine.batch_id)
            .where(Batch.region_code.startswith(accounts.COUNTY), Batch.state != "cancelled",
                   PaymentLine.state.in_(("pending", "paid")))
            .group_by(Batch.project_id, Batch.period, PaymentLine.card_account_id)):
        totals.setdefault(project_id, []).append(Decimal(total))
    caps = []  # (households above the cap, project, cap): the cap just under the largest households
    for project_id, values in sorted(totals.items()):
        distinct = sorted(set(values), reverse=True)
        if len(distinct) > 1:
            caps.append((sum(1 for v in values if v > distinct[1]), project_id, distinct[1]))
    if caps:
        _count, project_id, cap = min(caps)
        project_library.set_household_cap(session, session.get(Project, project_id), actor="demo_dept", cap=str(cap))
    signals.refresh(session, config, today=AS_OF)


def _catch_up(session: Session, plan: _Plan) -> None:
    """After the replay: the registry records the cards the banks closed, the project library keeps
    only this year's projects active, and the policy list goes out through the outbox."""
    closed = [{"card_id": card.id, "closed_on": card.closed_on}
              for person in plan.persons for card in person.cards if card.status == "closed"]
    if closed:
        session.connection().execute(
            update(CardAccount.__table__).where(CardAccount.__table__.c.id == bindparam("card_id"))
            .values(status="closed", closed_on=bindparam("closed_on")), closed)
    past = [row["id"] for row in plan.project_rows if not row["active"]]
    for chunk in chunks(past):
        session.execute(update(Project).where(Project.id.in_(chunk)).values(active=False))
    for row in plan.policy_rows:
        outbox.emit(session, "policy", row["id"])
    trail.record(session, actor="system", action="demo.build", object_type="database", object_id="batch",
                 after={"seed": plan.seed, "lines": plan.line_total, "version": GENERATOR_VERSION})
    session.flush()


# --- the people who act: demo accounts and county staff -----------------------------------------


class _Staff:
    """Who takes each step, as operator accounts made by admin/access/operators: the demo accounts
    (demo/accounts.py) for 鲁山县民政局, 鲁山县's finance and bank; elsewhere one department operator
    and one reviewer per county and department, one finance reviewer and one bank operator per
    county (``410423.nyncj.op``, ``500241.czj.reviewer`` …), with a random password nobody knows."""

    DEMO = {(accounts.COUNTY, "MZJ", "op"): "demo_dept", (accounts.COUNTY, "MZJ", "reviewer"): "demo_reviewer",
            (accounts.COUNTY, "CZJ", "reviewer"): "demo_finance", (accounts.COUNTY, "BANK", "op"): "demo_bank"}
    # (kind, role) per department key; CZJ is the county's finance bureau, BANK its disbursing bank
    KINDS = {"CZJ": (("reviewer", "finance_reviewer"),), "BANK": (("op", "bank_operator"),)}
    DEPARTMENT_KINDS = (("op", "department_operator"), ("reviewer", "department_reviewer"))

    def __init__(self, session: Session, config: Config, plan: _Plan) -> None:
        self.session = session
        accounts.create_accounts(session, config)
        rng = Random(f"{plan.seed}:staff")
        password = operators.temporary_password()
        password_hash = operators.hash_password(password)
        wanted = sorted({(slot.county, slot.policy.dept) for slot in plan.slots})
        wanted += [(county.code, dept) for county in COUNTIES for dept in ("CZJ", "BANK")]
        for county_code, dept in wanted:
            county = COUNTY_BY_CODE[county_code]
            for kind, role in self.KINDS.get(dept, self.DEPARTMENT_KINDS):
                if (county_code, dept, kind) in self.DEMO:
                    continue
                birth = random_birth(rng, 1965, 1995)
                sex = "M" if rng.random() < 0.5 else "F"
                bank = dept == "BANK"
                operators.create_operator(
                    session, config, actor="system", username=f"{county_code}.{dept.lower()}.{kind}",
                    name=make_name(rng, sex, birth.year, county.surnames), role=role, region_code=county_code,
                    password=password, unit=f"中国农业银行{county.short}支行" if bank else county.short + DEPARTMENTS[dept],
                    department_code=None if bank else f"{county_code}-{dept}", password_hash=password_hash)
        self._actors: dict[str, Actor] = {}

    def actor(self, county: str, dept: str, kind: str) -> Actor:
        username = self.DEMO.get((county, dept, kind)) or f"{county}.{dept.lower()}.{kind}"
        actor = self._actors.get(username)
        if actor is None:
            operator = self.session.execute(select(Operator).where(Operator.username == username)).scalar_one()
            actor = self._actors[username] = actor_of(self.session, operator)
        return actor

    def op(self, slot: Slot) -> Actor:
        return self.actor(slot.county, slot.policy.dept, "op")

    def reviewer(self, slot: Slot) -> Actor:
        return self.actor(slot.county, slot.policy.dept, "reviewer")

    def finance(self, slot: Slot) -> Actor:
        return self.actor(slot.county, "CZJ", "reviewer")

    def bank(self, slot: Slot) -> Actor:
        return self.actor(slot.county, "BANK", "op")


# --- the replay: every batch through the product's services ------------------------------------


_Later = tuple[date, int, Callable[[], None]]  # a failed line's step after the payment: (day, order, step)


@dataclass(slots=True)
class _Line:
    """One planned line: what the roster says, and (paid batches) what the bank will answer."""

    person: GenPerson
    card: Card
    amount: Decimal
    quantity: Decimal | None
    outcome: str = "paid"                 # paid / failed / returned / reissued (after the bank)
    failure_code: str | None = None
    reissue_card: Card | None = None
    reissue_on: date | None = None

    def values(self) -> dict[str, Any]:
        """The roster row (column → text), as a clerk would enter it."""
        return {"姓名": self.person.name, "身份证号": self.person.id_number, "社保卡号": self.card.number,
                "手机号": self.person.phone or "", "金额": f"{self.amount:.2f}", "村": self.person.village.code}


class _Replay:
    """Creates every batch with the batch service, enters its roster with :func:`service.enter_rows`
    (the import's checks) and takes each step of its timeline on that step's day with
    :func:`workflow.perform`, as the operator whose role it is; after the payment request the bank
    files go out and come back through :mod:`admin.bank.service`, failed lines are corrected,
    re-issued or returned through :mod:`admin.bank.results`, each on its day, and the results are
    published with ``publish``."""

    def __init__(self, session: Session, config: Config, plan: _Plan, staff: _Staff,
                 advance: Callable[[int], None]) -> None:
        self.session = session
        self.config = config
        self.plan = plan
        self.staff = staff
        self.advance = advance
        self.line_rng = Random(f"{plan.seed}:lines")
        self.failure_codes = [code for code, _ in FAILURE_WEIGHTS]
        self.failure_cum = list(accumulate(w for _, w in FAILURE_WEIGHTS))
        # Held for the whole replay, so the session's identity map answers every batch.project and
        # project.policy without a query (it keeps only objects someone refers to).
        self.policies = {p.id: p for p in session.scalars(select(Policy))}
        self.projects = {p.id: p for p in session.scalars(select(Project))}

    def run(self) -> None:
        # A cancelled duplicate goes first: its lines are withdrawn before the real batch of the
        # same project and period is entered (else they would be duplicate benefits).
        for slot in sorted(self.plan.slots, key=lambda s: not s.cancelled):
            self._slot(slot)
        self._township_draft()
        self._spot_check()

    # the steps

    def _act(self, actor: Actor, batch_id: int, name: str, day: date, **form: Any) -> None:
        values = {k: (v.isoformat() if isinstance(v, date) else str(v)) for k, v in form.items()}
        try:
            workflow.perform(self.session, actor, batch_id, name, values, day)
        except WorkflowError as error:
            raise DemoError(f"演示数据生成出错：批次 {batch_id}「{name}」被拒绝：{error.message}") from error

    def _create(self, actor: Actor, project_id: int, region_code: str, year: int, period: str, title: str,
                code: str, day: date) -> Batch:
        try:
            return service.create_batch(self.session, actor=actor.username,
                                        project=self.projects[project_id], region_code=region_code,
                                        year=year, period=period, title=title, code=code, today=day)
        except BatchError as error:
            raise DemoError(f"演示数据生成出错：批次 {code} 不能新建：{error}") from error

    def _enter(self, batch: Batch, actor: Actor, scope_region: str, lines: list[_Line], day: date) -> None:
        rows = [RosterRow(line_no=n, name="", id_number="", card_number="", phone="", amount_text="", village="",
                          raw=line.values(), quantity=line.quantity) for n, line in enumerate(lines, start=1)]
        outcome = service.enter_rows(self.session, self.config, batch, rows, actor=actor.username,
                                     scope_region=scope_region, source=f"花名册汇总：{batch.title}", today=day)
        if not outcome.ok:
            issues = [f"第{r.line_no}行 {i.code}" for r in outcome.results for i in r.issues][:5]
            raise DemoError(f"演示数据生成出错：批次 {batch.code} 的花名册未通过校验：{'、'.join(issues)}")
        self.advance(len(rows))

    def _slot(self, slot: Slot) -> None:
        lines = self._plan_lines(slot)
        staff = self.staff
        op, reviewer, finance = staff.op(slot), staff.reviewer(slot), staff.finance(slot)
        county = COUNTY_BY_CODE[slot.county]
        title = f"{county.short}{slot.label}{slot.policy.name}发放" + ("（第二批，已撤销）" if slot.cancelled else "")
        project = self.plan.projects[(slot.county, slot.policy.key, slot.year)]
        created = slot.events[0][2].date()
        batch = self._create(op, project.project_id, slot.county, slot.year, slot.period, title, slot.code, created)
        self._enter(batch, op, op.region_code, lines, created)
        bid = batch.id
        later: list[_Later] = []  # the failed lines' steps, each on its day
        for from_state, to_state, at in slot.events[1:]:
            day = at.date()
            step = (from_state, to_state)
            if step == ("draft", "submitted"):
                self._act(op, bid, "submit", day, comment=COMMENTS["submit"])
            elif step == ("submitted", "returned"):
                self._act(reviewer, bid, "return", day, reason=COMMENTS["return"],
                          line_remarks=f"1：{COMMENTS['return_line']}")
            elif step == ("returned", "submitted"):
                self._correct_first_line(bid, op, lines[0])
                self._act(op, bid, "submit", day, comment=COMMENTS["resubmit"])
            elif step == ("submitted", "publicity"):
                self._act(reviewer, bid, "review_pass", day, comment=COMMENTS["review_pass"])
                self._act(reviewer, bid, "publicity_open", day, start=day, end=slot.publicity_end,
                          place=f"各行政村（社区）村务公开栏、{county.short}人民政府门户网站",
                          comment=COMMENTS["publicity_open"])
            elif step == ("publicity", "approval"):
                self._act(reviewer, bid, "publicity_close", day, comment=COMMENTS["publicity_close"])
            elif step == ("approval", "finance_check"):
                self._act(reviewer, bid, "approve", day, comment=COMMENTS["approve"])
            elif step == ("finance_check", "bank"):
                self._act(finance, bid, "finance_pass", day, comment=COMMENTS["finance_pass"])
                self._act(finance, bid, "payment_request", day, comment=COMMENTS["payment_request"])
            elif step == ("bank", "paid"):
                later = self._pay(slot, bid, day, lines)
            elif step == ("paid", "published"):
                later = self._follow_up(later, day)
                self._act(op, bid, "publish", day, comment=COMMENTS["published"])
            elif step == ("draft", "cancelled"):
                self._act(op, bid, "cancel", day, reason=COMMENTS["cancel"])
            else:  # pragma: no cover - demo/batches.py plans only the steps above
                raise DemoError(f"演示数据生成出错：未知的环节 {step}")
        self._follow_up(later, None)
        if slot.review_passed_on is not None:
            self._act(reviewer, bid, "review_pass", slot.review_passed_on, comment=COMMENTS["review_pass"])

    @staticmethod
    def _follow_up(later: list[_Later],
                   until: date | None) -> list[_Later]:
        """Take the failed lines' steps due by ``until`` (all when None), oldest first; the rest."""
        later = sorted(later, key=lambda item: (item[0], item[1]))
        due = [item for item in later if until is None or item[0] <= until]
        for _, _, step in due:
            step()
        return later[len(due):]

    def _correct_first_line(self, batch_id: int, actor: Actor, line: _Line) -> None:
        """The line returned with a remark is checked again and saved (which clears the remark)."""
        stored = self.session.execute(select(PaymentLine).where(PaymentLine.batch_id == batch_id,
                                                                PaymentLine.line_no == 1)).scalar_one()
        result = service.update_line(self.session, self.config, stored, line.values(), actor=actor.username,
                                     scope_region=actor.region_code)
        if not result.ok:
            raise DemoError(f"演示数据生成出错：批次 {batch_id} 第1行更正未通过校验")

    def _spot_check(self) -> None:
        """One spot check (抽查) by the county's supervisor over the latest published batch of
        鲁山县民政局, drawn from the build's seed through :mod:`admin.supervision.spot_checks`: the
        first line found in order, the second with a problem 鲁山县民政局 has still to rectify."""
        row = self.session.execute(
            select(Batch, func.count(PaymentLine.id)).join(PaymentLine, PaymentLine.batch_id == Batch.id)
            .join(Project, Project.id == Batch.project_id).join(Department, Department.id == Project.department_id)
            .where(Department.code == f"{accounts.COUNTY}-MZJ", Batch.region_code == accounts.COUNTY,
                   Batch.state == "published").group_by(Batch.id)
            .order_by(func.count(PaymentLine.id).desc(), Batch.id.desc()).limit(1)).first()
        if row is None or row[1] < 2:
            return
        batch, count = row
        supervisor = actor_of(self.session, self.session.execute(
            select(Operator).where(Operator.username == "demo_supervisor")).scalar_one())
        department = self.session.execute(select(Department.id).where(Department.code == f"{accounts.COUNTY}-MZJ")).scalar_one()
        day = add_workdays(AS_OF, -5)
        try:
            spot = spot_checks.draw(self.session, supervisor, today=day, batch_code=batch.code, size=min(10, count),
                                    seed=self.plan.seed, title=f"{batch.title}随机抽查")
            first, second = spot_checks.sampled_ids(self.session, spot.id)[:2]
            spot_checks.record_finding(self.session, supervisor, spot.id, line_id=first, today=day, result="ok")
            spot_checks.record_finding(self.session, supervisor, spot.id, line_id=second, today=day, result="problem",
                                       category="incomplete_records", description=COMMENTS["spot_finding"],
                                       responsible=f"dept:{department}")
        except WorkflowError as error:
            raise DemoError(f"演示数据生成出错：抽查被拒绝：{error.message}") from error

    def _township_draft(self) -> None:
        """The clean draft of the demo clerk's township: created by demo_dept, its roster entered by
        demo_clerk, for a newcomer to carry through the whole chain (docs/demo.md)."""
        county = COUNTY_BY_CODE[accounts.COUNTY]
        spec = POLICY_BY_KEY[TOWNSHIP_POLICY]
        year = int(TOWNSHIP_PERIOD[:4])
        project = self.plan.projects[(county.code, spec.key, year)]
        dept = self.staff.actor(county.code, spec.dept, "op")
        clerk = actor_of(self.session, self.session.execute(
            select(Operator).where(Operator.username == "demo_clerk")).scalar_one())
        township = regions.get(accounts.CLERK_TOWNSHIP)
        name = township.name if township else accounts.CLERK_TOWNSHIP
        day = add_workdays(AS_OF, -1)
        batch = self._create(dept, project.project_id, accounts.CLERK_TOWNSHIP, year, TOWNSHIP_PERIOD,
                             f"{name}{year}年下半年{spec.name}发放", f"{county.code}-{spec.key}-{TOWNSHIP_PERIOD}-"
                             f"{accounts.CLERK_TOWNSHIP}", day)
        lines = [_Line(person, person.current_card, amount, None) for person, amount in self.plan.township]
        self._enter(batch, clerk, accounts.CLERK_TOWNSHIP, lines, day)

    # after the payment request: the bank's files, results, failed lines and publication

    def _bank_act(self, what: str, batch_id: int, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (WorkflowError, BankFileError) as error:
            raise DemoError(f"演示数据生成出错：批次 {batch_id}「{what}」被拒绝：{error.message}") from error

    def _bank_round(self, slot: Slot, batch_id: int, outcomes: dict[str, tuple[bool, str]], day: date) -> None:
        """The bank operator exports every bank file awaiting a result, and imports it back with
        the bank's answer (``outcomes``: line reference → (paid, reason); the rest succeed)."""
        bank = self.staff.bank(slot)
        for info in ledger.open_bank_files(self.session, batch_id):
            exported = self._bank_act("导出代发文件", batch_id, lambda: bank_service.export_file(
                self.session, self.config, bank, batch_id, file_id=info.id, fmt="csv", today=day))
            returned = bank_files.with_results(exported.data, outcomes, exported.filename)
            self._bank_act("导入银行处理结果", batch_id, lambda: bank_service.import_results(
                self.session, self.config, bank, returned, "回盘.csv", day, batch_id=batch_id))

    def _pay(self, slot: Slot, batch_id: int, day: date, lines: list[_Line]) -> list[_Later]:
        """The bank's results (lines paid, or failed with the bank's words); what follows them: the
        failed lines corrected and re-issued, or their money returned, each on its day."""
        code = self.session.get(Batch, batch_id).code  # type: ignore[union-attr]
        failed = {n: line for n, line in enumerate(lines, start=1) if line.outcome != "paid"}
        outcomes = {}
        for n, line in failed.items():
            assert line.failure_code is not None
            outcomes[bank_files.line_ref(code, n)] = (False, FAILURES[line.failure_code])
        self._bank_round(slot, batch_id, outcomes, day)
        later: list[_Later] = []
        reissue_days: dict[date, list[tuple[int, _Line]]] = {}
        for n, line in failed.items():
            if line.outcome == "reissued":
                assert line.reissue_on is not None
                reissue_days.setdefault(line.reissue_on, []).append((n, line))
            elif line.outcome == "returned":
                returned_on = add_workdays(day, 3)  # the correction limit passed
                later.append((returned_on, 1, lambda n=n, d=returned_on: self._return(slot, batch_id, n, d)))
        for when, group in reissue_days.items():
            later.append((when, 0, lambda when=when, group=group: self._reissue(slot, batch_id, group, when)))
        return later

    def _reissue(self, slot: Slot, batch_id: int, group: list[tuple[int, _Line]], day: date) -> None:
        """The department corrects the failed lines (a new card, or the account checked) and
        re-issues them in a supplementary payment, which the bank pays."""
        op = self.staff.op(slot)
        for n, line in group:
            assert line.reissue_card is not None and line.failure_code is not None
            new_card = line.reissue_card.number != line.card.number
            form = {"line": str(n), "card_number": line.reissue_card.number if new_card else "",
                    "bank_name": line.reissue_card.bank_name if new_card else "", "name": "",
                    "note": CORRECTION_NOTES["new_card" if new_card else line.failure_code]}
            self._bank_act("更正发放失败信息", batch_id,
                           lambda form=form: bank_results.correct_failed(self.session, self.config, op, batch_id,
                                                                        form, day))
        self._bank_act("补发已更正的明细", batch_id,
                       lambda: bank_results.reissue(self.session, op, batch_id, {}, day))
        self._bank_round(slot, batch_id, {}, day)
        self.advance(len(group))

    def _return(self, slot: Slot, batch_id: int, line_no: int, day: date) -> None:
        """A failed line nobody could correct in time: its money goes back (退回)."""
        self._bank_act("确认无法发放（资金退回）", batch_id, lambda: bank_results.return_unpaid(
            self.session, self.staff.op(slot), batch_id, {"line": str(line_no), "reason": COMMENTS["returned"]}, day))

    # the lines of a batch

    def _plan_lines(self, slot: Slot) -> list[_Line]:
        """The roster of the slot (the sample people's lines first) and each line's bank outcome."""
        plan = self.plan
        lines: list[_Line] = []
        for person, code, reissued in plan.sample_plan.get(slot.id, []):
            if code == "+":
                continue
            self._line(slot, person, lines, forced=code, reissue=reissued, random_failure=False)
        members = plan.members.get(slot.key, [])
        offset = plan.offsets.get(slot.key, 0) + plan.drift.get(slot.key, 0) * (slot.year - YEARS[0])
        remaining = slot.count
        i = 0
        while remaining > 0:
            person = members[(offset + i) % len(members)]
            i += 1
            remaining -= self._line(slot, person, lines, random_failure=remaining > 1, allow_reissue=remaining > 1)
        return lines

    def _line(self, slot: Slot, person: GenPerson, lines: list[_Line], *, forced: str | None = None,
              reissue: bool = False, random_failure: bool = True, allow_reissue: bool = True) -> int:
        """Plan the line of one person; returns the rows it will take (2 with its re-issue)."""
        rng = self.line_rng
        amount, qty = _amount(slot.policy, slot, person, rng)
        line = _Line(person, person.card_on(slot.created), amount, qty)
        lines.append(line)
        if not slot.final:
            return 1
        closed = _closed_card_failure(person, slot)
        new_card: Card | None = None
        if closed is not None:
            code = "ACCOUNT_CLOSED"
            newer = [c for c in person.cards if c.opened_on > closed.opened_on]
            new_card = newer[0] if newer else None
            reissue = new_card is not None and allow_reissue
        elif forced:
            code = forced
        elif random_failure and rng.random() < FAILURE_RATE:
            code = self.failure_codes[bisect_right(self.failure_cum, rng.random() * self.failure_cum[-1])]
            reissue = allow_reissue and code != "ACCOUNT_CLOSED" and rng.random() < 0.85
        else:
            return 1
        assert slot.paid_on is not None
        line.failure_code = code
        reissue_on = add_workdays(slot.paid_on, rng.randint(3, 5))
        if new_card is not None:
            reissue_on = max(reissue_on, add_workdays(new_card.opened_on, 2))
        if reissue and reissue_on <= AS_OF:
            line.outcome, line.reissue_card, line.reissue_on = "reissued", new_card or person.current_card, reissue_on
            return 2
        recent = slot.state == "paid" or (AS_OF - slot.paid_on).days <= 30
        line.outcome = "failed" if recent else "returned"
        return 1


# --- progress ---------------------------------------------------------------------------------


class _progress:
    """A rich progress bar on stderr (or nothing)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        self.bar = Progress(TextColumn("生成演示数据"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(stderr=True))
        self.bar.start()
        task = self.bar.add_task("demo", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()
