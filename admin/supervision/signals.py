"""Anomaly signals (异常信号) over the batch database, refreshed when batches move.

:func:`refresh` computes every kind with set-based SQL (GROUP BY / joins that return only the
anomalous lines, the same statements on SQLite and PostgreSQL; Python only loops over what was
found and, for missed payments, over batches), then upserts one :class:`Signal` per
``(kind, key)`` with its lines (:class:`SignalLine`):

- a signal found again keeps its status and reviews; when lines were *added* to a reviewed
  signal it is reopened (a system review says so), since the explanation may not cover them;
- a signal no longer found is kept with ``active = False`` and ``cleared_at`` (status and reviews
  stay: the history of what was seen and said); it becomes active again if the condition returns.

Kinds (``KINDS``), on "live" lines (pending or paid, batch not cancelled):

- ``shared_card`` 一卡多人: one card fingerprint (the card number alone, keyed) on lines of two or
  more people;
- ``paid_after_listed``: a person on a reference list whose kind is marked "paid after the listed
  date is a problem" (死亡人员, 财政供养人员 …) with a line dated after the entry's date — the
  line's ``paid_on``, else its payment request's date, else today (not yet sent: it would be);
- ``amount_outside`` 金额超标准: amount outside the project's ``amount_min``–``amount_max``, or, for a
  project with a per-unit rate (``unit_rate``, e.g. 元/亩) and a line with a quantity, not quantity × rate;
- ``multi_region`` 一人多地: one person, one project and period, two or more villages (any batches);
- ``missed_payment`` 疑似漏发: recurring projects (year/half/quarter/month): paid in the previous
  period's paid/published batch of the same project and region, absent from the current period
  once a batch of it is past draft;
- ``card_not_activated`` 未激活卡发放: a line sent to the bank whose card had not been activated
  (or was activated later, or closed) on the payment request's date, or has no card;
- ``household_over_cap`` 同户超上限: one household — the same card, or the same 家庭住址 digest
  and surname — received more than the project's ``household_cap`` in one period.

:func:`follow` is the background consumer (cli/background.py): it refreshes when the outbox,
the workflow events, the reference lists or the payment lines moved past its cursors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from admin.access import roles
from admin.access.roles import Actor
from admin.actions import Action, Field, WorkflowError, validate
from admin.audit import trail
from admin.batches.rosters import chunks
from admin.fieldcrypt import cipher
from admin.library import references
from admin.models import (
    Batch,
    CardAccount,
    OutboxCursor,
    OutboxEntry,
    PaymentLine,
    PaymentRequest,
    Person,
    Project,
    ReferenceEntry,
    Signal,
    SignalLine,
    SignalReview,
    WorkflowEvent,
)
from core import personkey
from core.config import Config
from core.db import Database
from core.timeutil import now
from core.workdays import today as today_shanghai

__all__ = ["ACTION_LABELS", "KINDS", "STATUS_LABELS", "RefreshReport", "available_actions", "follow",
           "perform", "previous_period", "refresh", "scope_signals"]

KINDS: dict[str, str] = {
    "shared_card": "一卡多人",
    "paid_after_listed": "名单人员列入后仍发放",
    "amount_outside": "金额超出项目标准",
    "multi_region": "同一人多地领取",
    "missed_payment": "疑似漏发",
    "card_not_activated": "社保卡未激活即发放",
    "household_over_cap": "同户超过每户上限",
}
STATUS_LABELS = {"open": "待核实", "explained": "已说明", "confirmed": "已确认问题"}
ACTION_LABELS = {"explain": "说明情况（排除）", "confirm": "确认为问题", "reopen": "重新打开", "refresh": "重新计算"}
ACTION_TO_STATUS = {"explain": "explained", "confirm": "confirmed", "reopen": "open"}
LIVE_STATES = ("pending", "paid")
RATE_TOLERANCE = Decimal("0.01")  # quantity × rate rounded to the cent differs by at most half a cent
RECURRING = ("year", "half", "quarter", "month")
CONSUMER = "signals"
LOCK = "signals:lock"
SYSTEM = "system"


@dataclass
class Found:
    key: str
    line_ids: set[int] = field(default_factory=set)
    project_id: int | None = None
    period: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RefreshReport:
    found: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    created: int = 0
    updated: int = 0
    reopened: int = 0
    cleared: int = 0
    fingerprints_filled: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"found": self.found, "created": self.created, "updated": self.updated, "reopened": self.reopened,
                "cleared": self.cleared, "fingerprints_filled": self.fingerprints_filled}


def _live() -> Any:
    return and_(PaymentLine.state.in_(LIVE_STATES), Batch.state != "cancelled")


def previous_period(period: str) -> str | None:
    """2025 → 2024, 2025H1 → 2024H2, 2025Q1 → 2024Q4, 2025-01 → 2024-12."""
    if len(period) < 4 or not period[:4].isdigit():
        return None
    year = int(period[:4])
    rest = period[4:]
    if rest == "":
        return str(year - 1)
    if rest in ("H1", "H2"):
        return f"{year - 1}H2" if rest == "H1" else f"{year}H1"
    if rest[:1] == "Q" and rest[1:] in ("1", "2", "3", "4"):
        q = int(rest[1:])
        return f"{year - 1}Q4" if q == 1 else f"{year}Q{q - 1}"
    if rest[:1] == "-" and rest[1:].isdigit():
        m = int(rest[1:])
        return f"{year - 1}-12" if m == 1 else f"{year}-{m - 1:02d}"
    return None


# --- data the signals need -------------------------------------------------------------------


def fill_fingerprints(session: Session, config: Config) -> int:
    """Cards entered before fingerprints existed get one now (decrypting the card number)."""
    crypt = cipher(config.field_key)
    rows = list(session.execute(select(CardAccount.id, CardAccount.card_number_enc)
                                .where(CardAccount.card_fingerprint.is_(None))))
    if not rows:
        return 0
    table = CardAccount.__table__
    params = [{"b_id": cid, "b_fp": personkey.card_fingerprint(config.hmac_key, crypt.decrypt(enc))}
              for cid, enc in rows]
    for chunk in chunks(params, 5000):
        session.connection().execute(table.update().where(table.c.id == bindparam("b_id"))
                                     .values(card_fingerprint=bindparam("b_fp")), list(chunk))
    return len(rows)


# --- the detectors (set-based) -----------------------------------------------------------------


def _shared_card(session: Session) -> list[Found]:
    fp = CardAccount.card_fingerprint
    shared = (select(fp).select_from(PaymentLine).join(Batch, PaymentLine.batch_id == Batch.id)
              .join(CardAccount, PaymentLine.card_account_id == CardAccount.id)
              .where(_live(), fp.is_not(None)).group_by(fp)
              .having(func.count(func.distinct(PaymentLine.person_id)) > 1)).subquery()
    out: dict[str, Found] = {}
    for value, line_id, person_id, last4 in session.execute(
            select(fp, PaymentLine.id, PaymentLine.person_id, CardAccount.card_last4).select_from(PaymentLine)
            .join(Batch, PaymentLine.batch_id == Batch.id)
            .join(CardAccount, PaymentLine.card_account_id == CardAccount.id)
            .join(shared, shared.c.card_fingerprint == fp).where(_live())):
        found = out.setdefault(value, Found(key=value, details={"card_last4": last4, "persons": []}))
        found.line_ids.add(line_id)
        if person_id not in found.details["persons"]:
            found.details["persons"].append(person_id)
    for found in out.values():
        found.details["persons"].sort()
        found.details["person_count"] = len(found.details["persons"])
    return list(out.values())


def _paid_after_listed(session: Session, today: date) -> list[Found]:
    kinds = {k.code: k for k in references.all_kinds(session) if k.active and k.paid_after_is_problem}
    if not kinds:
        return []
    pay_day = func.coalesce(PaymentLine.paid_on, PaymentRequest.requested_on, literal(today))
    stmt = (select(ReferenceEntry.list_kind, ReferenceEntry.effective_on, PaymentLine.person_id, PaymentLine.id,
                   Batch.project_id, Batch.period)
            .select_from(PaymentLine).join(Batch, PaymentLine.batch_id == Batch.id)
            .join(Person, PaymentLine.person_id == Person.id)
            .join(ReferenceEntry, ReferenceEntry.person_key == Person.person_key)
            .outerjoin(PaymentRequest, PaymentLine.payment_request_id == PaymentRequest.id)
            .where(_live(), ReferenceEntry.list_kind.in_(sorted(kinds)), ReferenceEntry.effective_on.is_not(None),
                   pay_day > ReferenceEntry.effective_on))
    out: dict[str, Found] = {}
    for kind, effective, person_id, line_id, _project_id, _period in session.execute(stmt):
        key = f"{kind}:{person_id}"
        found = out.setdefault(key, Found(key=key, details={
            "list_kind": kind, "list_name": kinds[kind].name, "date_meaning": kinds[kind].date_meaning,
            "effective_on": effective.isoformat(), "person_id": person_id}))
        found.line_ids.add(line_id)
    return list(out.values())


def _amount_outside(session: Session) -> list[Found]:
    # quantity-based standard: the amount is quantity × the project's per-unit rate, to the cent
    by_rate = and_(Project.unit_rate.is_not(None), PaymentLine.quantity.is_not(None),
                   func.abs(PaymentLine.amount - PaymentLine.quantity * Project.unit_rate) > RATE_TOLERANCE)
    stmt = (select(Batch.id, Batch.project_id, Batch.period, PaymentLine.id, Project.amount_min, Project.amount_max,
                   Project.unit_rate)
            .select_from(PaymentLine).join(Batch, PaymentLine.batch_id == Batch.id)
            .join(Project, Batch.project_id == Project.id)
            .where(_live(), or_(PaymentLine.amount < Project.amount_min, PaymentLine.amount > Project.amount_max,
                                by_rate)))
    out: dict[str, Found] = {}
    for batch_id, project_id, period, line_id, low, high, rate in session.execute(stmt):
        key = f"batch:{batch_id}"
        found = out.setdefault(key, Found(key=key, project_id=project_id, period=period, details={
            "batch_id": batch_id, "amount_min": str(low), "amount_max": str(high),
            "unit_rate": str(rate) if rate is not None else None}))
        found.line_ids.add(line_id)
    return list(out.values())


def _multi_region(session: Session) -> list[Found]:
    groups = (select(Batch.project_id, Batch.period, PaymentLine.person_id).select_from(PaymentLine)
              .join(Batch, PaymentLine.batch_id == Batch.id).where(_live())
              .group_by(Batch.project_id, Batch.period, PaymentLine.person_id)
              .having(func.count(func.distinct(PaymentLine.village_code)) > 1)).subquery()
    stmt = (select(Batch.project_id, Batch.period, PaymentLine.person_id, PaymentLine.id, PaymentLine.village_code)
            .select_from(PaymentLine).join(Batch, PaymentLine.batch_id == Batch.id)
            .join(groups, and_(groups.c.project_id == Batch.project_id, groups.c.period == Batch.period,
                               groups.c.person_id == PaymentLine.person_id)).where(_live()))
    out: dict[str, Found] = {}
    for project_id, period, person_id, line_id, village in session.execute(stmt):
        key = f"{project_id}:{period}:{person_id}"
        found = out.setdefault(key, Found(key=key, project_id=project_id, period=period,
                                          details={"person_id": person_id, "villages": []}))
        found.line_ids.add(line_id)
        if village not in found.details["villages"]:
            found.details["villages"].append(village)
    for found in out.values():
        found.details["villages"].sort()
    return list(out.values())


def _missed_payment(session: Session) -> list[Found]:
    current = session.execute(
        select(Batch.project_id, Batch.region_code, Batch.period).join(Project, Batch.project_id == Project.id)
        .where(Project.period_kind.in_(RECURRING), Batch.state.not_in(("draft", "returned", "cancelled")))
        .distinct()).all()
    out: list[Found] = []
    for project_id, region, period in current:  # one statement per batch (never per line)
        before = previous_period(period)
        if before is None:
            continue
        present = (select(PaymentLine.person_id).join(Batch, PaymentLine.batch_id == Batch.id)
                   .where(Batch.project_id == project_id, Batch.region_code == region, Batch.period == period,
                          Batch.state != "cancelled"))
        line_ids = set(session.execute(
            select(PaymentLine.id).join(Batch, PaymentLine.batch_id == Batch.id)
            .where(Batch.project_id == project_id, Batch.region_code == region, Batch.period == before,
                   Batch.state.in_(("paid", "published")), PaymentLine.state == "paid",
                   PaymentLine.person_id.not_in(present))).scalars())
        if line_ids:
            out.append(Found(key=f"{project_id}:{region}:{period}", line_ids=line_ids, project_id=project_id,
                             period=period, details={"previous_period": before, "region_code": region,
                                                     "person_count": len(line_ids)}))
    return out


def _card_not_activated(session: Session) -> list[Found]:
    on = PaymentRequest.requested_on
    problem = or_(PaymentLine.card_account_id.is_(None), CardAccount.activation == "not_activated",
                  and_(CardAccount.activated_on.is_not(None), CardAccount.activated_on > on),
                  and_(CardAccount.closed_on.is_not(None), CardAccount.closed_on <= on))
    stmt = (select(Batch.id, Batch.project_id, Batch.period, PaymentLine.id).select_from(PaymentLine)
            .join(Batch, PaymentLine.batch_id == Batch.id)
            .join(PaymentRequest, PaymentLine.payment_request_id == PaymentRequest.id)
            .outerjoin(CardAccount, PaymentLine.card_account_id == CardAccount.id)
            .where(PaymentLine.state.in_(("pending", "paid", "failed")), Batch.state != "cancelled", problem))
    out: dict[str, Found] = {}
    for batch_id, project_id, period, line_id in session.execute(stmt):
        key = f"batch:{batch_id}"
        found = out.setdefault(key, Found(key=key, project_id=project_id, period=period,
                                          details={"batch_id": batch_id}))
        found.line_ids.add(line_id)
    return list(out.values())


def _household_over_cap(session: Session) -> list[Found]:
    surname = func.substr(Person.name, 1, 1)
    out: dict[str, Found] = {}
    by_card = (CardAccount.card_fingerprint,)
    by_address = (Person.address_digest, surname)
    for label, columns in (("card", by_card), ("address", by_address)):
        keys = [c.label(f"k{i}") for i, c in enumerate(columns)]
        groups = (select(Batch.project_id, Batch.period, *keys, Project.household_cap).select_from(PaymentLine)
                  .join(Batch, PaymentLine.batch_id == Batch.id).join(Project, Batch.project_id == Project.id)
                  .join(Person, PaymentLine.person_id == Person.id)
                  .join(CardAccount, PaymentLine.card_account_id == CardAccount.id)
                  .where(_live(), Project.household_cap.is_not(None), *(c.is_not(None) for c in columns))
                  .group_by(Batch.project_id, Batch.period, *columns, Project.household_cap)
                  .having(func.sum(PaymentLine.amount) > Project.household_cap)).subquery()
        stmt = (select(Batch.project_id, Batch.period, *(groups.c[f"k{i}"] for i in range(len(columns))),
                       groups.c.household_cap, PaymentLine.id, PaymentLine.person_id).select_from(PaymentLine)
                .join(Batch, PaymentLine.batch_id == Batch.id).join(Person, PaymentLine.person_id == Person.id)
                .join(CardAccount, PaymentLine.card_account_id == CardAccount.id)
                .join(groups, and_(groups.c.project_id == Batch.project_id, groups.c.period == Batch.period,
                                   *(groups.c[f"k{i}"] == c for i, c in enumerate(columns))))
                .where(_live()))
        for row in session.execute(stmt):
            project_id, period, *parts = row[:2 + len(columns)]
            cap, line_id, person_id = row[2 + len(columns):]
            key = f"{project_id}:{period}:{label}:" + ":".join(str(p) for p in parts)
            found = out.setdefault(key, Found(key=key, project_id=project_id, period=period,
                                              details={"by": label, "cap": str(cap), "persons": []}))
            found.line_ids.add(line_id)
            if person_id not in found.details["persons"]:
                found.details["persons"].append(person_id)
    # the same lines found both ways: keep the card grouping
    by_lines: dict[frozenset[int], str] = {}
    for key, found in sorted(out.items(), key=lambda kv: kv[1].details["by"] != "card"):
        lines = frozenset(found.line_ids)
        if lines in by_lines:
            del out[key]
        else:
            by_lines[lines] = key
    return list(out.values())


# --- the refresh -------------------------------------------------------------------------------


def _common_region(codes: list[str]) -> str:
    return os.path.commonprefix(codes)[:12] if codes else ""


def _summary(kind: str, found: Found, count: int, total: Decimal) -> str:
    d = found.details
    if kind == "shared_card":
        return f"尾号{d['card_last4']}的社保卡用于 {d['person_count']} 人的 {count} 笔发放"
    if kind == "paid_after_listed":
        return f"此人在{d['list_name']}名单中（{d['date_meaning']} {d['effective_on']}），其后仍有 {count} 笔发放"
    if kind == "amount_outside":
        rate = f"，或不等于数量 × {d['unit_rate']} 元" if d.get("unit_rate") else ""
        return f"{count} 笔金额超出项目标准 {d['amount_min']}–{d['amount_max']} 元{rate}"
    if kind == "multi_region":
        return f"同一人同一项目同一期在 {len(d['villages'])} 个村领取，共 {count} 笔"
    if kind == "missed_payment":
        return f"上期（{d['previous_period']}）已发放的 {count} 人本期未列入"
    if kind == "card_not_activated":
        return f"{count} 笔发放时社保卡未激活、已注销或无卡"
    if kind == "household_over_cap":
        how = "同一社保卡" if d["by"] == "card" else "同一住址同姓"
        return f"{how}的 {len(d['persons'])} 人本期共领取 {total:,.2f} 元，超过每户上限 {d['cap']} 元"
    return ""


def detect(session: Session, today: date) -> dict[str, list[Found]]:
    return {"shared_card": _shared_card(session), "paid_after_listed": _paid_after_listed(session, today),
            "amount_outside": _amount_outside(session), "multi_region": _multi_region(session),
            "missed_payment": _missed_payment(session), "card_not_activated": _card_not_activated(session),
            "household_over_cap": _household_over_cap(session)}


def _serialize(session: Session) -> None:
    """One refresh at a time (the background loop and a "重新计算" click): write a lock row first, so
    a second refresh waits for the first to commit (PostgreSQL: row lock; SQLite: the write lock)
    and then reads its signals instead of inserting them twice."""
    moved = session.execute(update(OutboxCursor).where(OutboxCursor.consumer == LOCK)
                            .values(updated_at=now()).execution_options(synchronize_session=False)).rowcount
    if not moved:
        session.add(OutboxCursor(consumer=LOCK, last_id=0, updated_at=now()))
        session.flush()


def refresh(session: Session, config: Config, *, today: date | None = None, actor: str | None = None) -> RefreshReport:
    """Recompute every signal (in the caller's transaction). ``actor``: who asked (audited), or
    None for the background consumer."""
    day = today or today_shanghai()
    _serialize(session)
    report = RefreshReport(fingerprints_filled=fill_fingerprints(session, config))
    found_by_kind = detect(session, day)
    all_line_ids = sorted({i for items in found_by_kind.values() for f in items for i in f.line_ids})
    line_info: dict[int, tuple[str, Decimal, int, str]] = {}
    for chunk in chunks(all_line_ids):
        for line_id, village, amount, project_id, period in session.execute(
                select(PaymentLine.id, PaymentLine.village_code, PaymentLine.amount, Batch.project_id, Batch.period)
                .join(Batch, PaymentLine.batch_id == Batch.id).where(PaymentLine.id.in_(chunk))):
            line_info[line_id] = (village, Decimal(amount), project_id, period)
    existing = {(s.kind, s.key): s for s in session.execute(select(Signal)).scalars()}
    old_lines: dict[int, set[int]] = {}
    for signal_id, line_id in session.execute(select(SignalLine.signal_id, SignalLine.line_id)):
        old_lines.setdefault(signal_id, set()).add(line_id)
    stamp = now()
    seen: set[int] = set()
    new_links: list[dict[str, int]] = []
    for kind, items in found_by_kind.items():
        report.found[kind] = len(items)
        for found in items:
            lines = sorted(found.line_ids)
            total = sum((line_info[i][1] for i in lines), Decimal("0.00"))
            projects = {line_info[i][2] for i in lines}
            periods = {line_info[i][3] for i in lines}
            values = {"summary": _summary(kind, found, len(lines), total)[:300],
                      "region_code": _common_region(sorted(line_info[i][0] for i in lines)),
                      "project_id": found.project_id or (projects.pop() if len(projects) == 1 else None),
                      "period": found.period or (periods.pop() if len(periods) == 1 else ""),
                      "line_count": len(lines), "total": total, "details": found.details, "last_seen_at": stamp}
            signal = existing.get((kind, found.key))
            if signal is None:
                signal = Signal(kind=kind, key=found.key, status="open", active=True, first_seen_at=stamp,
                                review_note="", **values)
                session.add(signal)
                session.flush()
                report.created += 1
                new_links += [{"signal_id": signal.id, "line_id": i} for i in lines]
                seen.add(signal.id)
                continue
            seen.add(signal.id)
            before = old_lines.get(signal.id, set())
            for name, value in values.items():
                setattr(signal, name, value)
            if not signal.active:
                signal.active, signal.cleared_at = True, None
            if before != set(lines):
                report.updated += 1
                session.execute(delete(SignalLine).where(SignalLine.signal_id == signal.id))
                new_links += [{"signal_id": signal.id, "line_id": i} for i in lines]
                if set(lines) - before and signal.status != "open":
                    session.add(SignalReview(signal_id=signal.id, action="reopen", from_status=signal.status,
                                             to_status="open", actor=SYSTEM, at=stamp,
                                             note="重新计算时发现新增明细，已重新打开"))
                    signal.status = "open"
                    report.reopened += 1
    for signal in existing.values():
        if signal.id not in seen and signal.active:
            signal.active, signal.cleared_at = False, stamp
            report.cleared += 1
    for chunk in chunks(new_links, 5000):
        session.execute(insert(SignalLine), list(chunk))
    session.flush()
    if actor is not None:
        trail.record(session, actor=actor, action="signal.refresh", object_type="signal", object_id="all",
                     after=report.as_dict())
    return report


# --- the background consumer -------------------------------------------------------------------

# what moves signals: the outbox (public-side changes), workflow steps, reference-list entries, new
# lines (a roster import or entry); each the max of a primary key, so a quiet round costs four lookups
_MARKERS = {"": OutboxEntry.id, ":events": WorkflowEvent.id, ":references": ReferenceEntry.id,
            ":lines": PaymentLine.id}


def follow(db: Database, config: Config, *, consumer: str = CONSUMER) -> RefreshReport | None:
    """One round of the background loop: refresh if anything moved since the cursors; None if not."""
    with db.session() as session:
        marks = {consumer + suffix: int(session.execute(select(func.max(column))).scalar_one() or 0)
                 for suffix, column in _MARKERS.items()}
        cursors = {c.consumer: c for c in session.execute(
            select(OutboxCursor).where(OutboxCursor.consumer.in_(sorted(marks)))).scalars()}
        if all(name in cursors and cursors[name].last_id >= mark for name, mark in marks.items()):
            return None
        report = refresh(session, config)
        for name, mark in marks.items():
            cursor = cursors.get(name)
            if cursor is None:
                session.add(OutboxCursor(consumer=name, last_id=mark, updated_at=now()))
            else:
                cursor.last_id, cursor.updated_at = mark, now()
        return report


# --- who sees and reviews ----------------------------------------------------------------------


def scope_signals(stmt: Any, actor: Actor) -> Any:
    """Signals with at least one line the actor may see (roles.scope_lines: region, and for
    department roles their projects)."""
    if not roles.allowed(actor, "signal.view"):
        return stmt.where(literal(False))
    inner = roles.scope_lines(select(SignalLine.line_id).join(PaymentLine, SignalLine.line_id == PaymentLine.id)
                              .join(Batch, PaymentLine.batch_id == Batch.id)
                              .where(SignalLine.signal_id == Signal.id), actor)
    return stmt.where(inner.exists())


def open_counts(session: Session, actor: Actor) -> list[tuple[str, str, int]]:
    """(kind, label, count) of the active signals still to be reviewed (status open) that the actor
    sees, in the order of :data:`KINDS`: the supervision roles' home page."""
    stmt = scope_signals(select(Signal.kind, func.count()).where(Signal.active.is_(True), Signal.status == "open")
                         .group_by(Signal.kind), actor)
    counts = dict(session.execute(stmt).all())
    return [(kind, label, counts[kind]) for kind, label in KINDS.items() if counts.get(kind)]


NOTE = Field("note", "核实情况说明", "textarea", required=True)


def _url(signal_id: int, name: str) -> str:
    return f"/signals/{signal_id}/actions/{name}"


def available_actions(actor: Actor, signal: Signal) -> list[Action]:
    """Review actions the actor may take now (auditor/supervisor, signal in scope — the caller
    loaded it through :func:`scope_signals`)."""
    if not roles.allowed(actor, "signal.review"):
        return []
    return [Action(name, ACTION_LABELS[name], _url(signal.id, name), (NOTE,))
            for name, to in ACTION_TO_STATUS.items() if signal.status != to]


def perform(session: Session, actor: Actor, signal_id: int, name: str, form: Mapping[str, Any]) -> Signal:
    """Review a signal: status, reviewer, note, a review row and the audit entry in one transaction.
    Raises :class:`WorkflowError` before writing anything."""
    if name not in ACTION_TO_STATUS:
        raise WorkflowError("unknown_action", "没有这个核实操作。")
    signal = session.execute(scope_signals(select(Signal).where(Signal.id == signal_id), actor)).scalar_one_or_none() \
        if roles.allowed(actor, "signal.view") else None
    if signal is None:
        raise WorkflowError("not_found", "找不到该信号，或不在您的管辖范围内。")
    if not roles.allowed(actor, "signal.review"):
        raise WorkflowError("forbidden", "只有审计、纪检监察人员可以核实异常信号。")
    to = ACTION_TO_STATUS[name]
    if signal.status == to:
        raise WorkflowError("wrong_state", f"该信号已是“{STATUS_LABELS[to]}”状态。")
    values = validate((NOTE,), form)
    before = {"status": signal.status, "reviewed_by": signal.reviewed_by, "review_note": signal.review_note}
    stamp = now()
    session.add(SignalReview(signal_id=signal.id, action=name, from_status=signal.status, to_status=to,
                             actor=actor.username, at=stamp, note=values["note"]))
    signal.status, signal.reviewed_by, signal.reviewed_at, signal.review_note = to, actor.username, stamp, values["note"]
    trail.record(session, actor=actor.username, action=f"signal.{name}", object_type="signal", object_id=signal.id,
                 region_code=signal.region_code, before=before,
                 after={"status": to, "reviewed_by": actor.username, "review_note": values["note"],
                        "kind": signal.kind, "key": signal.key})
    session.flush()
    return signal
