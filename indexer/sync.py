"""Outbox consumers: bring the search indexes up to date with the batch database.

Two consumers follow the outbox, each with its own cursor (:class:`admin.models.OutboxCursor`):

* :func:`sync` — the documents (``policies``, ``disclosures``, ``payments``, ``persons``), a chunk
  at a time; cursor ``<consumer>`` (``default``).
* :func:`sync_statistics` — the ``statistics`` index; cursor ``<consumer>:statistics``
  (:func:`statistics_cursor`). It passes every row after its cursor and, if any ``batch``/``line``
  row touches a published batch, recomputes the whole index once (a GROUP BY over all lines,
  seconds at a million lines) and swaps it in, then moves its cursor: many rows, one recompute.

They are apart so that a publication's documents are written within a round of ``sync`` and never
wait behind a statistics recompute (the portal's freshness bound is 5 s); ``index sync --follow``
and the background loop of ``serve --with-admin`` run the statistics consumer in its own thread.
One-shot callers that want both use :func:`catch_up`.

``sync`` reads the outbox rows after the consumer's cursor (:class:`admin.models.OutboxCursor`) in
id order, a chunk at a time; for every batch, line and policy named in the chunk it rebuilds the
documents from the *current* database state, writes them to the engine (upserts and deletes), and
only then advances the cursor. Killed at any point, the next run re-applies at most one chunk,
which is harmless: documents are keyed and rebuilt from the database, never from the outbox row.

* Several named consumers (one per search server) each keep their own cursor; outbox rows are
  never deleted by a consumer (:func:`prune` removes rows every cursor has passed).
* Cursor updates are compare-and-set: if a rebuild moved the cursor meanwhile, the sync does not
  overwrite it (the rebuild's position wins and the rows are re-applied).
* PostgreSQL allocates ids before commit, so a row with a smaller id can become visible after a
  larger one. The cursor therefore only advances over an unbroken run of ids; a gap is waited for
  up to ``gap_timeout`` seconds (then taken to be a rolled-back transaction).
* The statistics consumer keeps the same rules: gaps waited for, compare-and-set cursor, the
  cursor moved only after the new index is swapped in (killed before, it recomputes again).
* ``complaint`` rows are not these consumers' business (see :mod:`indexer.inbound`).
* ``persons`` (one document per person key): every person whose line was touched — the line's
  person now, and for a named line the person of its old ``payments`` document (a line deleted,
  or corrected to another person) — gets their document patched with the changed lines
  (:func:`indexer.documents.patch_person_document`) after the ``payments`` writes of the chunk,
  or built from all their lines when the stored document cannot be patched.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from admin.models import OutboxCursor, OutboxEntry, PaymentLine
from core.config import Config
from core.db import Database
from core.timeutil import local, now
from indexer.documents import DocumentBuilder, disclosure_ids, patch_person_document
from portal.lookup import LINE_FIELDS, stand_in_document
from search import engine_for
from search.base import SearchEngine
from search.schemas import DISCLOSURES, PAYMENTS, PERSONS, POLICIES, SPECS, STATISTICS
from indexer.statistics import StatisticsBuilder, affected_years
from indexer.statistics import publish as publish_statistics

__all__ = ["CatchUpReport", "Lag", "StatisticsReport", "StatisticsThread", "SyncReport", "all_lags",
           "apply_entries", "catch_up", "consumer_lag", "prune", "set_cursor", "statistics_cursor", "statistics_objects", "sync", "sync_statistics"]

CHUNK = 200
GAP_TIMEOUT = 60.0
INDEX_TOPICS = ("batch", "line", "policy")
STATISTICS_TOPICS = ("batch", "line")
STATISTICS_PAGE = 5000  # outbox rows read per query by the statistics consumer (ids, topic, key only)


@dataclass
class Lag:
    consumer: str
    cursor: int
    newest_id: int
    behind: int  # newest outbox id − cursor
    oldest_unprocessed_age: float | None  # seconds; None when nothing is waiting
    updated_at: datetime | None


@dataclass
class SyncReport:
    consumer: str
    entries: int = 0
    chunks: int = 0
    upserted: dict[str, int] = field(default_factory=lambda: {name: 0 for name in SPECS})
    deleted: dict[str, int] = field(default_factory=lambda: {name: 0 for name in SPECS})
    cursor: int = 0
    lag: Lag | None = None
    waiting_on_gap: bool = False
    cursor_moved_elsewhere: bool = False
    persons_filled: int = 0  # persons documents made at start because an upgrade left none


@dataclass
class StatisticsReport:
    consumer: str  # the statistics cursor's name, e.g. ``default:statistics``
    entries: int = 0  # outbox rows passed
    refreshes: int = 0  # 0 or 1: one recompute however many rows touched published batches
    seconds: float = 0.0
    documents: int = 0  # statistics documents published
    cursor: int = 0
    lag: Lag | None = None
    waiting_on_gap: bool = False
    cursor_moved_elsewhere: bool = False


@dataclass
class CatchUpReport:
    documents: SyncReport
    statistics: StatisticsReport


BeforeCommit = Callable[[int, int], None]  # (chunk number, new cursor); raise to abort


def set_cursor(session: Session, consumer: str, last_id: int) -> None:
    """Move a consumer's cursor (creating it), e.g. after a rebuild."""
    row = session.get(OutboxCursor, consumer)
    if row is None:
        session.add(OutboxCursor(consumer=consumer, last_id=last_id, updated_at=now()))
    else:
        row.last_id = last_id
        row.updated_at = now()
    session.flush()


_ENSURED: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _ensure_indexes(engine: SearchEngine, db: Database, builder: DocumentBuilder) -> int:
    """Create the live indexes if missing (and the stand-in ``persons`` document), and fill
    ``persons`` if an upgrade left it empty (:func:`_fill_persons`) — once per engine object, not on
    every --follow round. Returns the ``persons`` documents filled in."""
    try:
        if _ENSURED.get(engine):
            return 0
    except TypeError:  # not weak-referenceable: just ensure every time
        pass
    for spec in SPECS.values():
        engine.ensure_index(spec)
    engine.replace_documents(PERSONS.name, [stand_in_document()])  # what an unknown person's lookup reads
    filled = _fill_persons(db, engine, builder)
    try:
        _ENSURED[engine] = True
    except TypeError:
        pass
    return filled


def _fill_persons(db: Database, engine: SearchEngine, builder: DocumentBuilder) -> int:
    """An index made before ``persons`` existed (an upgrade) has payments but no person documents,
    and every personal query would answer 未查询到记录: fill ``persons`` from the batch database
    once, before the first round, instead of waiting for someone to run ``index rebuild``.
    Returns the documents written (0 when ``persons`` was already there or there are no payments)."""
    if engine.count(PERSONS.name) > 1 or engine.count(PAYMENTS.name) == 0:  # 1: the stand-in alone
        return 0
    with db.session() as session:
        engine.replace_documents(PERSONS.name, builder.persons(session), batch_size=5000)
    return engine.count(PERSONS.name)


def _ensure_cursor(db: Database, consumer: str) -> tuple[int, datetime]:
    with db.session() as session:
        if session.get(OutboxCursor, consumer) is None:
            session.add(OutboxCursor(consumer=consumer, last_id=0, updated_at=now()))
    with db.session() as session:
        row = session.get(OutboxCursor, consumer)
        assert row is not None
        return int(row.last_id), row.updated_at


def _outbox_rows(session: Session, after: int, limit: int, upto: int | None = None) -> list[tuple[Any, ...]]:
    """(id, topic, key, created_at) of the outbox rows after ``after`` (and at most ``upto``), in id order."""
    query = (select(OutboxEntry.id, OutboxEntry.topic, OutboxEntry.key, OutboxEntry.created_at)
             .where(OutboxEntry.id > after).order_by(OutboxEntry.id).limit(limit))
    if upto is not None:
        query = query.where(OutboxEntry.id <= upto)
    return [tuple(r) for r in session.execute(query)]


def _contiguous(rows: list[Any], cursor: int, gap_timeout: float) -> tuple[list[Any], bool]:
    """The leading rows that may be applied now, and whether we stopped at a young gap."""
    expected = cursor + 1
    taken = []
    for row in rows:
        if row[0] != expected and (now() - local(row[3])).total_seconds() < gap_timeout:
            return taken, True
        taken.append(row)
        expected = row[0] + 1
    return taken, False


def sync(db: Database, engine: SearchEngine, builder: DocumentBuilder, *, consumer: str = "default",
         limit: int | None = None, chunk: int = CHUNK, gap_timeout: float = GAP_TIMEOUT,
         before_commit: BeforeCommit | None = None) -> SyncReport:
    """Drain the outbox for ``consumer`` (at most ``limit`` rows). Returns what was done."""
    report = SyncReport(consumer=consumer)
    report.persons_filled = _ensure_indexes(engine, db, builder)
    cursor, stamp = _ensure_cursor(db, consumer)
    while limit is None or report.entries < limit:
        size = chunk if limit is None else min(chunk, limit - report.entries)
        with db.session() as session:
            rows = _outbox_rows(session, cursor, size)
        if not rows:
            break
        taken, report.waiting_on_gap = _contiguous(rows, cursor, gap_timeout)
        if not taken:
            break
        with db.session() as session:
            apply_entries(session, engine, builder, [(t, k) for _, t, k, _ in taken], report)
        new_cursor = taken[-1][0]
        report.chunks += 1
        if before_commit is not None:
            before_commit(report.chunks, new_cursor)
        moved, stamp = _advance(db, consumer, cursor, stamp, new_cursor)
        if not moved:
            report.cursor_moved_elsewhere = True
            break
        cursor = new_cursor
        report.entries += len(taken)
        if report.waiting_on_gap:
            break
    report.cursor = cursor
    report.lag = consumer_lag(db, consumer)
    return report


def _advance(db: Database, consumer: str, cursor: int, stamp: datetime, new_cursor: int) -> tuple[bool, datetime]:
    """Compare-and-set: move ``consumer`` from (``cursor``, ``stamp``) to ``new_cursor``, unless
    someone (a rebuild) moved it meanwhile. Returns whether it moved and the row's stamp now."""
    with db.session() as session:
        moved = session.execute(
            update(OutboxCursor)
            .where(OutboxCursor.consumer == consumer, OutboxCursor.last_id == cursor,
                   OutboxCursor.updated_at == stamp)
            .values(last_id=new_cursor, updated_at=now())
            .execution_options(synchronize_session=False)
        ).rowcount
        row = session.get(OutboxCursor, consumer)
        assert row is not None
        return bool(moved), row.updated_at


def statistics_cursor(consumer: str) -> str:
    """The name of the statistics consumer's cursor beside documents consumer ``consumer``
    (``default`` → ``default:statistics``, as ``signals`` has ``signals:events``)."""
    return f"{consumer}:statistics"


def sync_statistics(db: Database, engine: SearchEngine, builder: DocumentBuilder, *, consumer: str = "default",
                    gap_timeout: float = GAP_TIMEOUT, page: int = STATISTICS_PAGE,
                    before_commit: BeforeCommit | None = None) -> StatisticsReport:
    """The statistics consumer: pass every outbox row after its own cursor
    (:func:`statistics_cursor` of ``consumer``); if any ``batch``/``line`` row among them touches a
    published batch, recompute the whole ``statistics`` index once and swap it in, then move the
    cursor (compare-and-set) past all of them. Separate from :func:`sync` so a publication's
    documents never wait for this GROUP BY over all lines; and never past the documents
    consumer's own cursor (when it has one), so a recompute starts only once the documents of the
    same change are written and does not compete with them for the CPU."""
    name = statistics_cursor(consumer)
    report = StatisticsReport(consumer=name)
    cursor, stamp = _ensure_cursor(db, name)
    end, due = cursor, False
    with db.session() as session:  # never ahead of the documents: they go first, the statistics follow
        documents = session.scalar(select(OutboxCursor.last_id).where(OutboxCursor.consumer == consumer))
    while True:  # only ids, topics and keys; the relevance query runs per page until one page is relevant
        with db.session() as session:
            rows = _outbox_rows(session, end, page, upto=documents)
            taken, report.waiting_on_gap = _contiguous(rows, end, gap_timeout)
            if not due and taken:
                ids: dict[str, set[int]] = {topic: set() for topic in STATISTICS_TOPICS}
                for _, topic, key, _ in taken:
                    if topic in ids and key.isdigit():
                        ids[topic].add(int(key))
                due = bool((ids["batch"] or ids["line"]) and affected_years(session, ids["batch"], ids["line"]))
        if taken:
            end = taken[-1][0]
            report.entries += len(taken)
        if report.waiting_on_gap or len(rows) < page:
            break
    if end != cursor:
        if due:
            started = time.perf_counter()
            with db.session() as session:
                docs = StatisticsBuilder(builder.masking).documents(session)
            report.documents = publish_statistics(engine, docs, index=STATISTICS.name)
            report.refreshes = 1
            report.seconds = time.perf_counter() - started
        if before_commit is not None:
            before_commit(1, end)
        moved, _ = _advance(db, name, cursor, stamp, end)
        if moved:
            cursor = end
        else:
            report.cursor_moved_elsewhere = True
    report.cursor = cursor
    report.lag = consumer_lag(db, name)
    return report


def catch_up(db: Database, engine: SearchEngine, builder: DocumentBuilder, *, consumer: str = "default",
             limit: int | None = None, gap_timeout: float = GAP_TIMEOUT) -> CatchUpReport:
    """One round of both consumers, documents first (:func:`sync`, then :func:`sync_statistics`):
    for one-shot callers (``yikatong index sync``, tests) that want the indexes and the statistics
    current when it returns. ``limit`` bounds the documents consumer only."""
    documents = sync(db, engine, builder, consumer=consumer, limit=limit, gap_timeout=gap_timeout)
    return CatchUpReport(documents, sync_statistics(db, engine, builder, consumer=consumer, gap_timeout=gap_timeout))


Connect = Callable[[], "tuple[Database, SearchEngine, DocumentBuilder]"]


def statistics_objects(config: Config) -> tuple[Database, SearchEngine, DocumentBuilder]:
    """A :class:`StatisticsThread`'s own database, engine and builder (its ``connect``)."""
    return Database(config.batch_database_url), engine_for(config), DocumentBuilder.from_config(config)


class StatisticsThread:
    """The statistics consumer in a daemon thread of its own, beside a documents loop: a round of
    :func:`sync_statistics` every ``interval`` seconds until ``stop`` is set (:meth:`stop`, or the
    caller's own event shared with its other loops). ``connect`` makes the thread's own database,
    engine and builder objects, in the thread (retried while it fails); a failing round goes to
    ``on_error`` and is tried again next round, a finished one to ``on_report``."""

    def __init__(self, connect: Connect, *, consumer: str = "default", interval: float = 1.0,
                 stop: threading.Event | None = None,
                 on_report: Callable[[StatisticsReport], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self._connect, self._consumer, self._interval = connect, consumer, interval
        self._on_report, self._on_error = on_report, on_error
        self._stop = stop or threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"yikatong-{statistics_cursor(consumer)}",
                                        daemon=True)

    def start(self) -> StatisticsThread:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        """Wait (at most ``timeout``) for the loop to end: the round under way finishes first."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self.join(timeout)

    def _run(self) -> None:
        opened: tuple[Database, SearchEngine, DocumentBuilder] | None = None
        try:
            while not self._stop.is_set():
                try:
                    if opened is None:
                        opened = self._connect()
                    report = sync_statistics(*opened, consumer=self._consumer)
                except Exception as exc:  # noqa: BLE001 - one failed round must not end the loop
                    if self._on_error is not None:
                        self._on_error(exc)
                else:
                    if self._on_report is not None:
                        self._on_report(report)
                self._stop.wait(self._interval)
        finally:
            if opened is not None:
                opened[0].dispose()


def apply_entries(session: Session, engine: SearchEngine, builder: DocumentBuilder,
                  entries: list[tuple[str, str]], report: SyncReport | None = None) -> None:
    """Rebuild and write the documents named by ``(topic, key)`` outbox entries."""
    batch_ids: set[int] = set()
    line_ids: set[int] = set()
    policy_ids: set[int] = set()
    for topic, key in entries:
        if topic not in INDEX_TOPICS:
            continue
        try:
            number = int(key)
        except ValueError:
            continue  # not an id: nothing this consumer can rebuild
        {"batch": batch_ids, "line": line_ids, "policy": policy_ids}[topic].add(number)
    report = report or SyncReport(consumer="")
    if policy_ids:
        upserts, deletes = [], []
        seen = set()
        for policy_id, doc in builder.policies(session, policy_ids):
            seen.add(policy_id)
            (upserts.append(doc) if doc is not None else deletes.append(str(policy_id)))
        deletes += [str(i) for i in policy_ids - seen]  # deleted rows
        _write(engine, POLICIES.name, upserts, deletes, report)
    # Whose were the named lines until now? A line deleted, or moved to another person by a
    # correction, must leave that person's document too: read before anything is rewritten.
    previous: set[str] = set()
    for line_id in line_ids:
        old = engine.get(PAYMENTS.name, str(line_id))
        if old and old.get("person_key"):
            previous.add(str(old["person_key"]))
    if line_ids and batch_ids:
        covered = set(session.scalars(select(PaymentLine.id).where(
            PaymentLine.id.in_(line_ids), PaymentLine.batch_id.in_(batch_ids))))
        line_ids -= covered
    for selector in ({"batch_ids": batch_ids} if batch_ids else None,
                     {"line_ids": line_ids} if line_ids else None):
        if selector is None:
            continue
        disclosures: list[dict[str, Any]] = []
        payments: list[dict[str, Any]] = []
        gone_d: list[str] = []
        gone_p: list[str] = []
        seen_lines: set[int] = set()
        people: set[str] = set(previous)
        fresh: dict[str, list[dict[str, Any]]] = {}  # person key → what their persons document needs of each new line
        for docs in builder.lines(session, **selector):  # type: ignore[arg-type]
            seen_lines.add(docs.line_id)
            people.add(docs.person_key)
            wanted = docs.disclosure["id"] if docs.disclosure else None
            gone_d.extend(i for i in disclosure_ids(docs.line_id) if i != wanted)
            if docs.disclosure is not None:
                disclosures.append(docs.disclosure)
            if docs.payment is not None:
                payments.append(docs.payment)
                fresh.setdefault(docs.person_key, []).append({k: docs.payment[k] for k in _PERSON_FIELDS if k in docs.payment})
            else:
                gone_p.append(str(docs.line_id))
            if len(disclosures) + len(payments) + len(gone_d) >= 2 * builder.chunk:
                _write(engine, DISCLOSURES.name, disclosures, gone_d, report)
                _write(engine, PAYMENTS.name, payments, gone_p, report)
                disclosures, payments, gone_d, gone_p = [], [], [], []
        for line_id in selector.get("line_ids", set()) - seen_lines:  # type: ignore[operator]
            gone_d.extend(disclosure_ids(line_id))  # deleted: its person is among ``previous``
            gone_p.append(str(line_id))
        _write(engine, DISCLOSURES.name, disclosures, gone_d, report)
        _write(engine, PAYMENTS.name, payments, gone_p, report)
        touched = {str(i) for i in seen_lines} | {str(i) for i in selector.get("line_ids", set())}  # type: ignore[attr-defined]
        _write_persons(session, engine, builder, people, report, fresh, touched)


# what a ``persons`` document takes from each ``payments`` document (portal.lookup.LINE_FIELDS and
# the three factors)
_PERSON_FIELDS = (*LINE_FIELDS, "name_digest", "card_last4", "card_digest")


def _write_persons(session: Session, engine: SearchEngine, builder: DocumentBuilder, people: set[str],
                   report: SyncReport, fresh: dict[str, list[dict[str, Any]]], touched: set[str]) -> None:
    """Rewrite the ``persons`` document of each person key. A stored document is patched: the
    touched lines replaced by the person's ``fresh`` ones (:func:`patch_person_document`) —
    reading every other line of every person of a 5,000-line batch again took 10 s at 1M lines.
    A person without a patchable document is built from all their lines in the database."""
    people.discard("")
    if not people:
        return
    wanted: dict[str, dict[str, Any] | None] = {}
    rebuild: set[str] = set()
    for key in people:
        patched = patch_person_document(engine.get(PERSONS.name, key), fresh.get(key, []), touched)
        if patched is False:
            rebuild.add(key)
        else:
            wanted[key] = patched  # type: ignore[assignment]
    if rebuild:
        wanted.update(builder.persons_for(session, rebuild))
    _write(engine, PERSONS.name, [d for d in wanted.values() if d is not None],
           [key for key, d in wanted.items() if d is None], report)


def _write(engine: SearchEngine, index: str, upserts: list[dict[str, Any]], deletes: list[str],
           report: SyncReport) -> None:
    if deletes or upserts:  # one commit: readers see the old documents or the new, never neither
        engine.write_documents(index, upserts, deletes)
        report.deleted[index] += len(deletes)
        report.upserted[index] += len(upserts)


def consumer_lag(db: Database, consumer: str) -> Lag:
    with db.session() as session:
        row = session.get(OutboxCursor, consumer)
        cursor = int(row.last_id) if row else 0
        newest = session.scalar(select(func.max(OutboxEntry.id))) or 0
        oldest = session.scalar(select(func.min(OutboxEntry.created_at)).where(OutboxEntry.id > cursor))
        age = (now() - local(oldest)).total_seconds() if oldest is not None else None
        return Lag(consumer, cursor, int(newest), max(0, int(newest) - cursor), age,
                   local(row.updated_at) if row else None)


def all_lags(db: Database) -> list[Lag]:
    with db.session() as session:
        names = list(session.scalars(select(OutboxCursor.consumer).order_by(OutboxCursor.consumer)))
    return [consumer_lag(db, name) for name in names]


def prune(db: Database, older_than_days: int = 30) -> int:
    """Delete outbox rows that every consumer has passed and that are older than the given age."""
    with db.session() as session:
        lowest = session.scalar(select(func.min(OutboxCursor.last_id)))
        if lowest is None:
            return 0
        cutoff = now() - timedelta(days=older_than_days)
        result = session.execute(
            delete(OutboxEntry).where(OutboxEntry.id <= lowest, OutboxEntry.created_at < cutoff)
        )
        return int(result.rowcount or 0)
