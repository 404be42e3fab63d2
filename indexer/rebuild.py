"""Full rebuild of the search indexes: fill a fresh index, check it, swap it in.

For each index: ``<name>__build_<time>`` is created and filled from one consistent snapshot of
the batch database (REPEATABLE READ on PostgreSQL, one read transaction on SQLite); its document
count must equal the count the same snapshot gives, else the build is dropped and the live index
keeps serving (:class:`RebuildError`). Then the build is swapped with the live index (created
empty first on the very first run) and the old contents are deleted. Readers never see a half
index; a rebuild that dies half-way leaves the old index serving and a stray build index that the
next rebuild removes.

Changes committed while the rebuild runs are not lost: the largest outbox id visible in the
snapshot is recorded first, and after a full rebuild the consumer's cursor is set to it (not to
the end), so the next ``sync`` re-applies everything newer. A partial rebuild (``only``) never
moves the cursor forward. Whenever ``statistics`` is rebuilt (fully or ``only``), the statistics
consumer's cursor (:func:`indexer.sync.statistics_cursor`) is set to the same recorded id: that
consumer serves the one index.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin.models import OutboxCursor, OutboxEntry
from core.db import Database
from core.timeutil import now
from indexer.documents import DocumentBuilder
from search.base import SearchEngine
from search.schemas import SPECS
from indexer.statistics import StatisticsBuilder
from indexer.sync import set_cursor, statistics_cursor

__all__ = ["BUILD_MARK", "RebuildError", "RebuildReport", "rebuild", "snapshot", "stray_builds"]

BUILD_MARK = "__build_"
_BUILD_NAME = re.compile(r"^(policies|disclosures|payments|persons|statistics)__build_\w+$")
WRITE_BATCH = 5000
PROGRESS_EVERY = 1000

Progress = Callable[[str, int, int], None]  # (index, done, total)


class RebuildError(Exception):
    """The rebuild was refused; the live indexes are unchanged."""


@dataclass
class RebuildReport:
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    start_outbox_id: int = 0
    cursor: int | None = None
    statistics_cursor: int | None = None  # set when ``statistics`` was rebuilt

    def rate(self, name: str) -> float:
        seconds = self.seconds.get(name) or 0.0
        return self.counts.get(name, 0) / seconds if seconds else 0.0


@contextmanager
def snapshot(db: Database) -> Iterator[Session]:
    """A read-only session that sees one consistent state of the database throughout."""
    with db.engine.connect() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("BEGIN")  # pysqlite would otherwise read outside a transaction
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        session = Session(bind=conn, autoflush=False)
        try:
            yield session
        finally:
            session.close()
            conn.rollback()


def stray_builds(engine: SearchEngine) -> list[str]:
    """Build indexes left behind by a rebuild that did not finish."""
    return [name for name in engine.list_indexes() if _BUILD_NAME.match(name)]


def rebuild(db: Database, engine: SearchEngine, builder: DocumentBuilder, *,
            only: list[str] | None = None, consumer: str = "default",
            progress: Progress | None = None,
            after_fill: Callable[[str], None] | None = None) -> RebuildReport:
    """Rebuild ``only`` these indexes (default all of them) and swap them in."""
    names = list(only or SPECS)
    unknown = [name for name in names if name not in SPECS]
    if unknown:
        raise RebuildError(f"没有这个索引：{'、'.join(unknown)}（可选 {'、'.join(SPECS)}）")
    if "payments" in names and "persons" not in names:
        names.append("persons")  # made from the payments documents: rebuilt with them
    for name in stray_builds(engine):
        engine.delete_index(name)
    report = RebuildReport()
    stamp = now().strftime("%Y%m%d%H%M%S") + "_" + secrets.token_hex(3)
    built: dict[str, str] = {}
    try:
        with snapshot(db) as session:
            report.start_outbox_id = int(session.scalar(select(func.max(OutboxEntry.id))) or 0)
            for name in names:
                built[name] = _build(session, engine, builder, name, f"{name}{BUILD_MARK}{stamp}",
                                     report, progress)
                if after_fill is not None:
                    after_fill(name)
    except BaseException:
        for build in built.values():
            engine.delete_index(build)
        for name in stray_builds(engine):
            if name.endswith(stamp):
                engine.delete_index(name)
        raise
    for name, build in built.items():
        if name not in engine.list_indexes():
            engine.ensure_index(SPECS[name])  # first run: an empty live index to swap with
        engine.swap(name, build)
        engine.delete_index(build)
    with db.session() as session:
        current = session.get(OutboxCursor, consumer)
        position: int | None = report.start_outbox_id
        if set(names) != set(SPECS):  # partial: never skip entries the other indexes still need
            position = None if current is None else min(int(current.last_id), report.start_outbox_id)
        if position is not None:
            set_cursor(session, consumer, position)
        report.cursor = position
        if "statistics" in names:  # the statistics consumer's one index is now as of the snapshot
            set_cursor(session, statistics_cursor(consumer), report.start_outbox_id)
            report.statistics_cursor = report.start_outbox_id
    return report


def _build(session: Session, engine: SearchEngine, builder: DocumentBuilder, name: str, build: str,
           report: RebuildReport, progress: Progress | None) -> str:
    spec = SPECS[name].renamed(build)
    engine.ensure_index(spec)
    started = time.perf_counter()
    if name == "policies":
        expected = builder.count_policies(session)
        docs: Iterator[dict[str, Any]] = (doc for _, doc in builder.policies(session) if doc is not None)
    elif name == "disclosures":
        expected = builder.count_disclosures(session)
        docs = builder.disclosures(session)
    elif name == "statistics":  # small: computed whole by GROUP BY, then written
        cells = StatisticsBuilder(builder.masking).documents(session)
        expected = len(cells)
        docs = iter(cells)
    elif name == "persons":
        expected = builder.count_persons(session)
        docs = builder.persons(session)
    else:
        expected = builder.count_payments(session)
        docs = builder.payments(session)
    done = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal done
        for doc in docs:
            yield doc
            done += 1
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(name, done, expected)

    if progress is not None:
        progress(name, 0, expected)
    # one call: the engine batches internally, and a fresh index needs no per-document delete
    engine.replace_documents(build, counted(), batch_size=WRITE_BATCH)
    if progress is not None:
        progress(name, done, expected)
    actual = engine.count(build)
    if actual != expected:
        raise RebuildError(
            f"索引 {name} 重建后的文档数 {actual} 与数据库应有的 {expected} 不一致，未替换线上索引"
        )
    report.counts[name] = actual
    report.seconds[name] = time.perf_counter() - started
    return build
