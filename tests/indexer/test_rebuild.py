"""Rebuild into a fresh index and swap: first run, refusal on a count mismatch, a rebuild that dies
half-way (the old index keeps serving), and changes made during a rebuild applied afterwards."""

from __future__ import annotations

import pytest

from admin import outbox
from admin.models import Batch, OutboxCursor, Policy
from indexer.documents import DocumentBuilder
from indexer.rebuild import RebuildError, rebuild, stray_builds
from search import make_engine
from search.schemas import DISCLOSURES
from indexer.sync import sync
from tests.indexer.builders import build_mix
from tests.indexer.conftest import all_docs, by_id
from tests.indexer.test_sync import contents


class Killed(Exception):
    pass


def cursor_of(db, consumer: str = "default") -> int | None:
    with db.session() as s:
        row = s.get(OutboxCursor, consumer)
        return None if row is None else int(row.last_id)


def test_first_run_then_a_rebuild_replaces_the_contents(batch_db, config, ix_engine, doc_builder) -> None:
    mix = build_mix(batch_db, config, people=15)
    assert ix_engine.list_indexes() == []
    first = rebuild(batch_db, ix_engine, doc_builder)
    assert sorted(ix_engine.list_indexes()) == ["disclosures", "payments", "persons", "policies", "statistics"]
    assert cursor_of(batch_db) == first.start_outbox_id > 0
    assert cursor_of(batch_db, "default:statistics") == first.statistics_cursor == first.start_outbox_id
    with batch_db.session() as s:
        s.get(Policy, mix.policy_ids["DIBAO"]).status = "withdrawn"  # no outbox row: only a rebuild sees it
    second = rebuild(batch_db, ix_engine, doc_builder)
    assert second.counts["policies"] == first.counts["policies"] - 1
    assert str(mix.policy_ids["DIBAO"]) not in by_id(all_docs(ix_engine, "policies"))
    assert sorted(ix_engine.list_indexes()) == ["disclosures", "payments", "persons", "policies", "statistics"]  # old versions gone


def test_a_rebuild_that_dies_half_way_leaves_the_old_indexes_serving(batch_db, config, ix_engine,
                                                                     doc_builder) -> None:
    mix = build_mix(batch_db, config, people=15)
    rebuild(batch_db, ix_engine, doc_builder)
    served = contents(ix_engine)
    cursor = cursor_of(batch_db)
    with batch_db.session() as s:
        s.get(Batch, mix.batch_ids["publicity"]).state = "approval"

    def die(index: str) -> None:
        if index == "disclosures":
            raise Killed

    with pytest.raises(Killed):
        rebuild(batch_db, ix_engine, doc_builder, after_fill=die)
    assert contents(ix_engine) == served
    assert stray_builds(ix_engine) == [] and cursor_of(batch_db) == cursor
    # a hard kill leaves its build index behind: the next rebuild clears it
    ix_engine.ensure_index(DISCLOSURES.renamed("disclosures__build_20250101000000_abcdef"))
    assert stray_builds(ix_engine)
    rebuild(batch_db, ix_engine, doc_builder)
    assert stray_builds(ix_engine) == []
    assert not [i for i in by_id(all_docs(ix_engine, "disclosures")) if i.startswith("publicity-")]


class DropsOne(DocumentBuilder):
    def disclosures(self, session):  # a bug: one document goes missing
        docs = super().disclosures(session)
        next(docs)
        yield from docs


def test_a_build_with_the_wrong_count_is_not_swapped_in(batch_db, config, ix_engine, doc_builder) -> None:
    build_mix(batch_db, config, people=15)
    rebuild(batch_db, ix_engine, doc_builder)
    served = contents(ix_engine)
    broken = DropsOne(config.hmac_key, config.field_key)
    with pytest.raises(RebuildError, match="不一致"):
        rebuild(batch_db, ix_engine, broken)
    assert contents(ix_engine) == served and stray_builds(ix_engine) == []


def test_changes_during_a_rebuild_are_applied_by_the_next_sync(batch_db, config, ix_engine, doc_builder) -> None:
    mix = build_mix(batch_db, config, people=15)
    sync(batch_db, ix_engine, doc_builder)  # the consumer is ahead of where the rebuild starts

    def meanwhile(index: str) -> None:
        if index == "policies":  # committed after the rebuild's snapshot was taken
            with batch_db.session() as s:
                s.get(Batch, mix.batch_ids["publicity"]).state = "approval"
                outbox.emit(s, "batch", mix.batch_ids["publicity"])

    report = rebuild(batch_db, ix_engine, doc_builder, after_fill=meanwhile)
    assert report.counts["disclosures"] > 0
    assert [i for i in by_id(all_docs(ix_engine, "disclosures")) if i.startswith("publicity-")]  # snapshot
    assert cursor_of(batch_db) == report.start_outbox_id
    assert sync(batch_db, ix_engine, doc_builder).entries == 1
    assert not [i for i in by_id(all_docs(ix_engine, "disclosures")) if i.startswith("publicity-")]
    reference = make_engine(config.data_dir, config.meili_url, config.meili_api_key, config.search_index_prefix + "ref_")
    rebuild(batch_db, reference, doc_builder, consumer="reference")
    assert contents(ix_engine) == contents(reference)


def test_a_partial_rebuild_never_moves_the_cursor_forward(batch_db, config, ix_engine, doc_builder) -> None:
    build_mix(batch_db, config, people=10)
    sync(batch_db, ix_engine, doc_builder, limit=3)
    report = rebuild(batch_db, ix_engine, doc_builder, only=["policies"])
    assert report.counts.keys() == {"policies"} and cursor_of(batch_db) == 3
    with pytest.raises(RebuildError, match="没有这个索引"):
        rebuild(batch_db, ix_engine, doc_builder, only=["people"])
    # the persons documents are made from the payments lines: rebuilt with them
    report = rebuild(batch_db, ix_engine, doc_builder, only=["payments"])
    assert report.counts.keys() == {"payments", "persons"} and cursor_of(batch_db) == 3
    assert report.statistics_cursor is None and cursor_of(batch_db, "default:statistics") is None
    # the statistics consumer serves that one index: rebuilt alone, its cursor is set to the snapshot
    report = rebuild(batch_db, ix_engine, doc_builder, only=["statistics"])
    assert cursor_of(batch_db) == 3
    assert cursor_of(batch_db, "default:statistics") == report.statistics_cursor == report.start_outbox_id > 3


def test_a_rebuild_stores_each_persons_payment_lines_side_by_side(batch_db, config, ix_engine, doc_builder) -> None:
    """The payments index is written person by person (a lookup then reads one or two store blocks,
    not one per line), across chunk boundaries, and still holds every line exactly once."""
    build_mix(batch_db, config, people=15)
    doc_builder.chunk = 7  # many chunks: the keyset over (person, line) must neither skip nor repeat
    report = rebuild(batch_db, ix_engine, doc_builder)
    docs = all_docs(ix_engine, "payments")  # index order
    assert len(docs) == len({d["id"] for d in docs}) == report.counts["payments"]
    runs = [key for i, key in enumerate(d["person_key"] for d in docs)
            if i == 0 or docs[i - 1]["person_key"] != key]
    assert len(runs) == len(set(runs)) > 5  # one run of documents per person
    with batch_db.session() as s:
        expected = doc_builder.count_payments(s)
    assert report.counts["payments"] == expected
