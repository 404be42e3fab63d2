"""Precomputed statistics: exact against an independent Python count over the ORM rows, re-issues
counted once, small cells withheld, refreshed when a batch is published by the statistics consumer
(its own cursor, apart from the documents' ``sync``, which never waits for it)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from admin import outbox
from admin.models import Batch, OutboxCursor, OutboxEntry, PaymentLine, Policy, Project
from core.db import Database
from core.timeutil import now
from core.workdays import workdays_between
from indexer.rebuild import rebuild
from search import engine_for
from search.base import SearchQuery, SearchUnavailable
from indexer.statistics import ALL, MIN_PERSONS, StatisticsBuilder
from indexer.sync import (
    StatisticsThread,
    catch_up,
    consumer_lag,
    prune,
    set_cursor,
    statistics_cursor,
    sync,
    sync_statistics,
)
from tests.indexer.builders import Mix, build_mix
from tests.indexer.conftest import all_docs


def add_farmland_batch(db, mix: Mix, *, code: str = "B2024-GDDL", year: int = 2024, state: str = "published",
                       lonely_village: bool = True) -> int:
    """A non-sensitive published batch (so village cells exist): most people in their own village,
    one person alone in an otherwise empty village (a small cell), one failed line re-issued."""
    with db.session() as s:
        project = s.scalars(select(Project).where(Project.code == "P-GDDL")).one()
        b = Batch(code=code, project_id=project.id, region_code="410423", year=year, period=str(year),
                  title=f"耕地地力保护补贴 {year}", state=state, created_by="clerk",
                  publicity_start=date(year, 3, 4), publicity_end=date(year, 3, 8),
                  paid_on=date(year, 4, 2), published_on=date(year, 4, 15) if state == "published" else None)
        s.add(b)
        s.flush()
        lines = []
        for j, person in enumerate(mix.people):
            village = mix.villages[j % len(mix.villages)]
            if lonely_village and j == 0:
                village = "410423103099"  # nobody else lives here
            line = PaymentLine(batch_id=b.id, line_no=j + 1, person_id=person.id, village_code=village,
                               amount=Decimal("100.00") + Decimal(j) / 4, state="paid", paid_on=date(year, 4, 2))
            s.add(line)
            lines.append(line)
        s.flush()
        first = lines[1]
        first.state, first.paid_on, first.failure_reason = "reissued", None, "账户已销户"
        s.add(PaymentLine(batch_id=b.id, line_no=9999, person_id=first.person_id, village_code=first.village_code,
                          amount=first.amount, state="paid", reissue_of_id=first.id, paid_on=date(year, 4, 9)))
        lines[2].state, lines[2].paid_on = "failed", None
        lines[3].state, lines[3].paid_on = "withdrawn", None
        outbox.emit(s, "batch", b.id)
        return b.id


def build_stats_db(db, config) -> Mix:
    mix = build_mix(db, config, people=40)
    add_farmland_batch(db, mix)
    return mix


def expected_cells(db) -> dict[tuple[int, str, str, str], dict]:
    """Independent: every (year|0, policy|*, level, region) from the ORM rows, in Python."""
    cells: dict[tuple[int, str, str, str], dict] = defaultdict(lambda: {"cents": 0, "lines": 0, "persons": set()})
    with db.session() as s:
        rows = s.execute(
            select(PaymentLine, Batch, Policy.name, Project.name)
            .join(Batch, Batch.id == PaymentLine.batch_id).join(Project, Project.id == Batch.project_id)
            .join(Policy, Policy.id == Project.policy_id)
        ).all()
        for line, batch, policy, project in rows:
            if batch.state != "published" or line.state != "paid":
                continue
            sensitive = any(w in project + policy for w in ("低保", "最低生活保障", "特困", "孤儿"))
            for year in (batch.year, 0):
                for pol in (policy, ALL):
                    for level, digits in (("*", 0), ("county", 6), ("township", 9), ("village", 12)):
                        if level == "village" and (pol != ALL or sensitive):
                            continue
                        region = line.village_code[:digits] if digits else ""
                        cell = cells[(year, pol, level, region)]
                        cell["cents"] += int(Decimal(line.amount) * 100)
                        cell["lines"] += 1
                        cell["persons"].add(line.person_id)
    return cells


def stats_docs(db, config) -> list[dict]:
    from indexer.masking import load_policy

    with db.session() as s:
        return StatisticsBuilder(load_policy(config.data_dir)).documents(s)


def test_every_cell_is_exact(batch_db, config) -> None:
    build_stats_db(batch_db, config)
    expected = expected_cells(batch_db)
    docs = [d for d in stats_docs(batch_db, config) if d["dimension"] not in ("timeliness", "department")]
    got = {(d["year"], d["policy_key"], d["region_level"], "" if d["region_code"] == ALL else d["region_code"]): d
           for d in docs}
    assert set(got) == set(expected)
    for key, want in expected.items():
        doc = got[key]
        if doc["suppressed"]:
            assert doc["amount"] is None and doc["lines"] is None and doc["persons"] is None
            continue
        assert doc["amount_cents"] == want["cents"], key
        assert doc["amount"] == f"{Decimal(want['cents']) / 100:.2f}"
        assert (doc["lines"], doc["persons"]) == (want["lines"], len(want["persons"])), key
    total = got[(0, ALL, "*", "")]
    assert total["dimension"] == "total" and not total["suppressed"]
    assert got[(2024, "耕地地力保护补贴", "*", "")]["dimension"] == "policy"
    assert got[(2025, ALL, "*", "")]["dimension"] == "year"


def test_reissued_lines_count_once_and_match_the_published_results(batch_db, config, doc_builder) -> None:
    build_stats_db(batch_db, config)
    with batch_db.session() as s:
        results = [d for d in doc_builder.disclosures(s) if d["kind"] == "result"]
    total = next(d for d in stats_docs(batch_db, config) if d["dimension"] == "total")
    assert total["lines"] == len(results)
    assert total["amount_cents"] == sum(d["amount_cents"] for d in results)
    farmland = next(d for d in stats_docs(batch_db, config)
                    if d["dimension"] == "policy" and d["year"] == 2024)
    # 40 lines, one re-issued (counted once as its re-issue), one failed, one withdrawn
    assert farmland["lines"] == 38 and farmland["persons"] == 38


def test_small_cells_are_withheld_with_secondary_suppression(batch_db, config) -> None:
    build_stats_db(batch_db, config)
    docs = stats_docs(batch_db, config)
    lonely = [d for d in docs if d["region_code"] == "410423103099"]
    assert lonely and all(d["suppressed"] for d in lonely)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for d in docs:
        if d["dimension"] in ("county", "township", "village"):
            parent = d["region_codes"][-2] if len(d["region_codes"]) > 3 else ""
            groups[(d["year"], d["policy_key"], d["region_level"], parent)].append(d)
    truth = expected_cells(batch_db)
    for siblings in groups.values():
        hidden = [d for d in siblings if d["suppressed"]]
        for d in siblings:
            persons = len(truth[(d["year"], d["policy_key"], d["region_level"], d["region_code"])]["persons"])
            assert d["suppressed"] or persons >= MIN_PERSONS
        if hidden and len(hidden) < len(siblings):
            hidden_persons = sum(len(truth[(d["year"], d["policy_key"], d["region_level"], d["region_code"])]["persons"])
                                 for d in hidden)
            assert len(hidden) >= 2 and hidden_persons >= MIN_PERSONS
    # nothing about a person: no names, no ids, no person keys anywhere
    text = repr(docs)
    with batch_db.session() as s:
        from admin.models import Person

        for name, key in s.execute(select(Person.name, Person.person_key)):
            assert key not in text and (len(name) < 2 or name not in text)


def test_timeliness_per_batch_and_department(batch_db, config) -> None:
    build_stats_db(batch_db, config)
    docs = stats_docs(batch_db, config)
    overall = next(d for d in docs if d["dimension"] == "timeliness" and d["year"] == 0
                   and d["policy_key"] == ALL and d["region_code"] == ALL)
    # the mix's published batch: paid 2025-04-01, published 04-03; ours: paid 2024-04-02, published 04-15
    days = sorted([workdays_between(date(2025, 4, 1), date(2025, 4, 3)),
                   workdays_between(date(2024, 4, 2), date(2024, 4, 15))])
    assert overall["batches"] == 2 and overall["limit_days"] == 5
    assert overall["on_time"] == sum(1 for d in days if d <= 5)
    assert overall["median_days"] == sum(days) / 2 and overall["p90_days"] == days[-1]
    assert overall["payment_limit_days"] == 20 and overall["payment_batches"] == 2
    departments = {d["key"] for d in docs if d["dimension"] == "department" and d["year"] == 0
                   and d["region_code"] == ALL}
    assert departments == {"鲁山县农业农村局", "鲁山县民政局"}


def total(engine) -> dict:
    hits = engine.search("statistics", SearchQuery(filters={"dimension": "total"})).hits
    assert len(hits) == 1
    return hits[0]


def cursor_of(db, name: str) -> int | None:
    with db.session() as s:
        row = s.get(OutboxCursor, name)
        return None if row is None else int(row.last_id)


def newest_outbox_id(db) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.max(OutboxEntry.id))) or 0)


def publish(db, batch_id: int) -> None:
    with db.session() as s:
        b = s.get(Batch, batch_id)
        b.state, b.published_on = "published", date(2023, 4, 10)
        outbox.emit(s, "batch", batch_id)


def test_rebuild_writes_the_index_and_the_statistics_consumer_refreshes_it_on_publication(
        batch_db, config, ix_engine, doc_builder) -> None:
    mix = build_stats_db(batch_db, config)
    report = rebuild(batch_db, ix_engine, doc_builder, only=["statistics"])
    assert report.counts["statistics"] == len(all_docs(ix_engine, "statistics")) > 0
    assert report.statistics_cursor == newest_outbox_id(batch_db) == cursor_of(batch_db, "default:statistics")
    catch_up(batch_db, ix_engine, doc_builder)

    before = total(ix_engine)
    # a change to a batch that is not published does not recompute anything
    with batch_db.session() as s:
        outbox.emit(s, "batch", mix.batch_ids["draft"])
    assert catch_up(batch_db, ix_engine, doc_builder).statistics.refreshes == 0
    # a batch is published (admin writes a "batch" outbox row): the statistics follow
    batch_id = add_farmland_batch(batch_db, mix, code="B2023-GDDL", year=2023, state="paid", lonely_village=False)
    assert catch_up(batch_db, ix_engine, doc_builder).statistics.refreshes == 0  # paid, not yet published
    publish(batch_db, batch_id)
    report = catch_up(batch_db, ix_engine, doc_builder).statistics
    assert report.refreshes == 1 and report.documents == len(all_docs(ix_engine, "statistics")) > 0
    after = total(ix_engine)
    assert after["lines"] == before["lines"] + 38
    assert ix_engine.search("statistics", SearchQuery(filters={"dimension": "year", "year": 2023})).total == 1
    reference = stats_docs(batch_db, config)
    assert {d["id"] for d in all_docs(ix_engine, "statistics")} == {d["id"] for d in reference}


def test_a_publication_is_disclosed_by_sync_without_waiting_for_the_statistics(
        batch_db, config, ix_engine, doc_builder) -> None:
    """The documents consumer never recomputes the statistics: its round writes the publication's
    disclosures and moves its cursor; the statistics stay as they were until the statistics
    consumer's own round."""
    mix = build_stats_db(batch_db, config)
    rebuild(batch_db, ix_engine, doc_builder)
    before = total(ix_engine)
    batch_id = add_farmland_batch(batch_db, mix, code="B2023-GDDL", year=2023, state="paid", lonely_village=False)
    publish(batch_db, batch_id)

    def disclosed() -> int:
        return ix_engine.search("disclosures", SearchQuery(filters={"kind": "result", "year": 2023})).total

    assert disclosed() == 0
    documents = sync(batch_db, ix_engine, doc_builder)
    assert documents.entries == 2 and documents.upserted["statistics"] == 0
    assert disclosed() == 38 and cursor_of(batch_db, "default") == newest_outbox_id(batch_db)
    assert total(ix_engine) == before  # untouched by sync
    assert consumer_lag(batch_db, "default:statistics").behind == 2

    report = sync_statistics(batch_db, ix_engine, doc_builder)
    assert (report.consumer, report.entries, report.refreshes) == ("default:statistics", 2, 1)
    assert total(ix_engine)["lines"] == before["lines"] + 38
    assert report.cursor == cursor_of(batch_db, "default:statistics") == newest_outbox_id(batch_db)
    assert report.lag is not None and report.lag.behind == 0


def test_many_entries_one_recompute_and_the_cursors_move_independently(batch_db, config, ix_engine,
                                                                       doc_builder) -> None:
    mix = build_stats_db(batch_db, config)
    rebuild(batch_db, ix_engine, doc_builder)
    start = newest_outbox_id(batch_db)
    assert cursor_of(batch_db, "default") == cursor_of(batch_db, "default:statistics") == start
    batch_id = add_farmland_batch(batch_db, mix, code="B2023-GDDL", year=2023, state="paid", lonely_village=False)
    publish(batch_db, batch_id)
    with batch_db.session() as s:  # every line of the batch touched, one row each (a correction run)
        for line_id in s.scalars(select(PaymentLine.id).where(PaymentLine.batch_id == batch_id)):
            outbox.emit(s, "line", line_id)
    newest = newest_outbox_id(batch_db)
    assert newest - start > 40

    # the statistics follow the documents: nothing is recomputed before the documents are written
    report = sync_statistics(batch_db, ix_engine, doc_builder, page=7)
    assert (report.entries, report.refreshes, report.cursor) == (0, 0, start)
    assert sync(batch_db, ix_engine, doc_builder).cursor == newest  # the documents, on their own
    assert cursor_of(batch_db, "default:statistics") == start
    report = sync_statistics(batch_db, ix_engine, doc_builder, page=7)  # several pages, one recompute
    assert report.entries == newest - start and report.refreshes == 1
    assert cursor_of(batch_db, "default:statistics") == newest == cursor_of(batch_db, "default")
    assert sync_statistics(batch_db, ix_engine, doc_builder).entries == 0  # nothing new: nothing done
    with batch_db.session() as s:  # a change nothing published depends on: the cursor just moves
        outbox.emit(s, "batch", mix.batch_ids["draft"])
        outbox.emit(s, "policy", mix.policy_ids["GLJT"])
        outbox.emit(s, "complaint", "T0000001")
    sync(batch_db, ix_engine, doc_builder)
    report = sync_statistics(batch_db, ix_engine, doc_builder)
    assert report.entries == 3 and report.refreshes == 0 and report.cursor == newest + 3


def test_the_statistics_cursor_is_compare_and_set(batch_db, config, ix_engine, doc_builder) -> None:
    """Killed after the swap and before the cursor moved, the next round recomputes again; a cursor
    moved meanwhile (a rebuild) is not overwritten."""
    mix = build_stats_db(batch_db, config)
    newest = newest_outbox_id(batch_db)

    def crash(_round: int, _cursor: int) -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        sync_statistics(batch_db, ix_engine, doc_builder, before_commit=crash)
    assert cursor_of(batch_db, "default:statistics") == 0

    def rebuilt(_round: int, _cursor: int) -> None:
        with batch_db.session() as s:
            set_cursor(s, statistics_cursor("default"), 3)

    report = sync_statistics(batch_db, ix_engine, doc_builder, before_commit=rebuilt)
    assert report.refreshes == 1 and report.cursor_moved_elsewhere and report.cursor == 0
    assert cursor_of(batch_db, "default:statistics") == 3
    report = sync_statistics(batch_db, ix_engine, doc_builder)
    assert report.refreshes == 1 and report.cursor == newest and not report.cursor_moved_elsewhere
    assert mix.batch_ids["published"]  # (published batches in the mix: every round above had work)


def test_the_statistics_consumer_waits_at_a_gap_until_it_is_old(batch_db, config, ix_engine, doc_builder) -> None:
    mix = build_stats_db(batch_db, config)
    published = mix.batch_ids["published"]
    with batch_db.session() as s:
        s.query(OutboxEntry).delete()
        for i in (1, 2, 4):  # id 3 is a transaction that has not committed yet; 4 touches a published batch
            s.add(OutboxEntry(id=i, topic="batch", key=str(published if i == 4 else mix.batch_ids["draft"]),
                              created_at=now()))
    report = sync_statistics(batch_db, ix_engine, doc_builder)
    assert report.waiting_on_gap and report.cursor == 2 and report.refreshes == 0
    report = sync_statistics(batch_db, ix_engine, doc_builder, gap_timeout=0)
    assert not report.waiting_on_gap and report.cursor == 4 and report.refreshes == 1


def test_prune_waits_for_the_statistics_cursor(batch_db, ix_engine, doc_builder) -> None:
    with batch_db.session() as s:
        for i in range(1, 11):
            s.add(OutboxEntry(id=i, topic="policy", key="999", created_at=now() - timedelta(days=40)))
        s.add(OutboxCursor(consumer=statistics_cursor("default"), last_id=4, updated_at=now()))
    sync(batch_db, ix_engine, doc_builder)
    assert prune(batch_db, older_than_days=30) == 4
    sync_statistics(batch_db, ix_engine, doc_builder)
    assert prune(batch_db, older_than_days=30) == 6


def test_the_statistics_thread_retries_a_failed_round_and_stops(batch_db, batch_db_url, config, ix_engine,
                                                                doc_builder) -> None:
    """What ``index sync --follow`` and ``serve --with-admin`` run beside the documents loop: its
    own database and engine objects; a round that fails is reported and tried again."""
    build_stats_db(batch_db, config)
    errors: list[Exception] = []
    reports: list = []
    attempts = 0

    def connect():
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise SearchUnavailable("搜索服务暂时不可用")
        engine = engine_for(config)
        return Database(batch_db_url), engine, doc_builder

    thread = StatisticsThread(connect, interval=0.05, on_report=reports.append, on_error=errors.append).start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not reports:
            time.sleep(0.05)
    finally:
        thread.stop(30)
    assert [type(e) for e in errors] == [SearchUnavailable]
    assert reports[0].refreshes == 1 and reports[0].cursor == newest_outbox_id(batch_db)
    assert total(ix_engine)["lines"] > 0
    assert not [t for t in threading.enumerate() if t.name == "yikatong-default:statistics"]


@pytest.mark.parametrize("level", ["township", "county"])
def test_stricter_masking_drops_the_finer_cells(batch_db, config, level) -> None:
    import json

    build_stats_db(batch_db, config)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / "masking.json").write_text(json.dumps({"region_level": level}), encoding="utf-8")
    levels = {d["region_level"] for d in stats_docs(batch_db, config)}
    assert "village" not in levels
    assert ("township" in levels) == (level == "township")
