"""The outbox consumer: crash-safe, idempotent, converges to what a fresh rebuild gives, and keeps
one cursor per named consumer."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from sqlalchemy import select

from admin import outbox
from admin.fieldcrypt import cipher
from admin.models import Batch, CardAccount, OutboxCursor, OutboxEntry, PaymentLine, Person, Policy
from core.timeutil import now
from indexer.rebuild import rebuild
from search import engine_for, make_engine
from indexer.sync import all_lags, consumer_lag, prune, sync
from tests.indexer.builders import build_mix
from tests.indexer.conftest import all_docs, by_id

INDEXES = ("policies", "disclosures", "payments", "persons")


class Crash(Exception):
    pass


def contents(engine) -> dict[str, dict[str, dict]]:
    out = {}
    for name in INDEXES:
        docs = all_docs(engine, name)
        ids = [str(d["id"]) for d in docs]
        assert len(ids) == len(set(ids)), f"duplicates in {name}"
        out[name] = by_id(docs)
    return out


@pytest.fixture
def second_engine(config):
    return make_engine(config.data_dir, config.meili_url, config.meili_api_key, config.search_index_prefix + "ref_")


def fresh_rebuild(batch_db, engine, builder) -> dict[str, dict[str, dict]]:
    rebuild(batch_db, engine, builder, consumer="reference")
    return contents(engine)


def cursor_of(db, consumer: str) -> int | None:
    with db.session() as s:
        row = s.get(OutboxCursor, consumer)
        return None if row is None else int(row.last_id)


@pytest.mark.parametrize("crash_on_chunk", [1, 2])
def test_a_crash_before_the_cursor_moves_loses_nothing(batch_db, config, ix_engine, second_engine, doc_builder,
                                                       crash_on_chunk) -> None:
    build_mix(batch_db, config, people=30)

    def crash(chunk: int, _cursor: int) -> None:
        if chunk == crash_on_chunk:  # engine written, cursor not yet advanced
            raise Crash

    with pytest.raises(Crash):
        sync(batch_db, ix_engine, doc_builder, chunk=4, before_commit=crash)
    with batch_db.session() as s:
        first_chunk_end = list(s.scalars(select(OutboxEntry.id).order_by(OutboxEntry.id).limit(4)))[-1]
    assert cursor_of(batch_db, "default") == (0 if crash_on_chunk == 1 else first_chunk_end)

    report = sync(batch_db, ix_engine, doc_builder, chunk=4)
    assert report.lag is not None and report.lag.behind == 0 and report.lag.oldest_unprocessed_age is None
    again = sync(batch_db, ix_engine, doc_builder, chunk=4)
    assert again.entries == 0

    assert contents(ix_engine) == fresh_rebuild(batch_db, second_engine, doc_builder)


def test_changes_reach_the_indexes(batch_db, config, ix_engine, second_engine, doc_builder) -> None:
    mix = build_mix(batch_db, config, people=20)
    sync(batch_db, ix_engine, doc_builder)
    before = contents(ix_engine)
    publicity_docs = [i for i in before["disclosures"] if i.startswith("publicity-")]
    assert publicity_docs
    withdrawn_line = mix.special_lines["reissue"]
    assert f"result-{withdrawn_line}" in before["disclosures"]

    with batch_db.session() as s:
        s.get(Batch, mix.batch_ids["publicity"]).state = "approval"  # publicity over
        outbox.emit(s, "batch", mix.batch_ids["publicity"])
        s.get(Policy, mix.policy_ids["GLJT"]).status = "withdrawn"
        outbox.emit(s, "policy", mix.policy_ids["GLJT"])
        s.get(PaymentLine, withdrawn_line).state = "withdrawn"  # corrected after publication
        outbox.emit(s, "line", withdrawn_line)
        s.get(Batch, mix.batch_ids["bank"]).state = "paid"
        s.query(PaymentLine).filter_by(batch_id=mix.batch_ids["bank"]).update({"state": "paid"})
        outbox.emit(s, "batch", mix.batch_ids["bank"])
        outbox.emit(s, "complaint", "T0000001")  # not this consumer's business, must not stop it
        outbox.emit(s, "batch", "not-a-number")
    report = sync(batch_db, ix_engine, doc_builder)
    assert report.entries == 6 and report.deleted["disclosures"] > 0
    after = contents(ix_engine)
    assert not [i for i in after["disclosures"] if i.startswith("publicity-")]
    assert str(mix.policy_ids["GLJT"]) not in after["policies"]
    assert f"result-{withdrawn_line}" not in after["disclosures"]
    assert str(withdrawn_line) not in after["payments"]
    paid_now = {d["stage"] for d in after["payments"].values() if d["batch_code"] == "B2025-005"}
    assert paid_now == {"已发放到卡"}
    assert after == fresh_rebuild(batch_db, second_engine, doc_builder)


def test_two_consumers_keep_their_own_cursors(batch_db, config, ix_engine, second_engine, doc_builder) -> None:
    mix = build_mix(batch_db, config, people=12)
    a = sync(batch_db, ix_engine, doc_builder, consumer="replica-a")
    newest = a.cursor
    assert cursor_of(batch_db, "replica-b") is None
    with batch_db.session() as s:
        s.get(Batch, mix.batch_ids["approval"]).state = "finance_check"
        outbox.emit(s, "batch", mix.batch_ids["approval"])
    lags = {lag.consumer: lag for lag in all_lags(batch_db)}
    assert lags["replica-a"].behind == 1 and lags["replica-a"].oldest_unprocessed_age is not None
    b = sync(batch_db, second_engine, doc_builder, consumer="replica-b", limit=5)
    assert b.entries == 5 and cursor_of(batch_db, "replica-b") == 5
    assert cursor_of(batch_db, "replica-a") == newest
    sync(batch_db, second_engine, doc_builder, consumer="replica-b")
    sync(batch_db, ix_engine, doc_builder, consumer="replica-a")
    assert cursor_of(batch_db, "replica-a") == cursor_of(batch_db, "replica-b") == newest + 1
    assert contents(ix_engine) == contents(second_engine)
    with batch_db.session() as s:  # consumers never delete outbox rows
        assert len(list(s.scalars(select(OutboxEntry.id)))) == newest + 1


def test_the_cursor_waits_at_a_gap_until_it_is_old(batch_db, ix_engine, doc_builder) -> None:
    with batch_db.session() as s:  # id 3 is a transaction that has not committed yet
        for i in (1, 2, 4):
            s.add(OutboxEntry(id=i, topic="policy", key="999", created_at=now()))
    report = sync(batch_db, ix_engine, doc_builder)
    assert report.waiting_on_gap and report.cursor == 2
    report = sync(batch_db, ix_engine, doc_builder, gap_timeout=0)
    assert not report.waiting_on_gap and report.cursor == 4


def test_prune_keeps_rows_some_consumer_still_needs(batch_db, ix_engine, doc_builder) -> None:
    with batch_db.session() as s:
        for i in range(1, 11):
            s.add(OutboxEntry(id=i, topic="policy", key="999", created_at=now() - timedelta(days=40)))
        s.add(OutboxCursor(consumer="slow", last_id=4, updated_at=now()))
    sync(batch_db, ix_engine, doc_builder, consumer="fast")
    assert prune(batch_db, older_than_days=30) == 4
    assert prune(batch_db, older_than_days=30) == 0
    assert consumer_lag(batch_db, "slow").behind == 6
    sync(batch_db, ix_engine, doc_builder, consumer="slow")
    assert prune(batch_db, older_than_days=30) == 6


def test_a_persons_document_follows_its_lines(batch_db, config, ix_engine, second_engine, doc_builder) -> None:
    """Each touched person's one document is rebuilt from all their lines; a line deleted from the
    database leaves its person's document (found through the line's old payments document), and
    a person left without lines loses the document."""
    build_mix(batch_db, config, people=12)
    sync(batch_db, ix_engine, doc_builder)
    before = contents(ix_engine)
    per_person: dict[str, list[str]] = {}
    for line_id, doc in before["payments"].items():
        if doc["state"] in ("paid", "pending"):  # lines nothing else refers to (re-issues do)
            per_person.setdefault(doc["person_key"], []).append(line_id)
    everything = {d["person_key"]: 0 for d in before["payments"].values()}
    for doc in before["payments"].values():
        everything[doc["person_key"]] += 1
    several = next(k for k, ids in per_person.items() if len(ids) > 1)
    alone = next(k for k, ids in per_person.items() if k != several and len(ids) == everything[k])
    dropped = per_person[several][0]
    with batch_db.session() as s:
        for line_id in [dropped, *per_person[alone]]:
            s.delete(s.get(PaymentLine, int(line_id)))
            s.flush()
            outbox.emit(s, "line", int(line_id))
    sync(batch_db, ix_engine, doc_builder)
    after = contents(ix_engine)
    assert alone not in after["persons"]
    kept = {line["id"] for line in orjson.loads(after["persons"][several]["lines"])}
    assert dropped not in kept and len(kept) == everything[several] - 1
    assert after == fresh_rebuild(batch_db, second_engine, doc_builder)


def test_an_upgrade_without_persons_is_filled_before_the_first_round(batch_db, config, ix_engine, second_engine,
                                                                      doc_builder) -> None:
    """An index made before the ``persons`` index existed has payments and no person documents:
    the sync fills them in at its start, so personal queries never answer 未查询到记录 because
    nobody ran ``index rebuild`` after the upgrade."""
    build_mix(batch_db, config, people=12)
    rebuild(batch_db, ix_engine, doc_builder)
    expected = contents(ix_engine)["persons"]
    assert len(expected) > 1
    ix_engine.delete_index("persons")  # what the index looked like before this version
    upgraded = engine_for(config)
    report = sync(batch_db, upgraded, doc_builder)
    assert report.persons_filled == len(expected)
    assert contents(upgraded)["persons"] == expected
    again = sync(batch_db, upgraded, doc_builder)  # once per engine, and never over a filled index
    assert again.persons_filled == 0


def test_persons_written_before_line_factors_are_rebuilt_from_the_database(batch_db, config, ix_engine,
                                                                           second_engine, doc_builder) -> None:
    """A ``persons`` document is patched from the lines that changed (the others are not read
    again), which needs to know each line's factor: a document stored before ``line_factors``
    existed is built from all the person's lines instead, and comes out the same as a rebuild."""
    mix = build_mix(batch_db, config, people=20)
    sync(batch_db, ix_engine, doc_builder)
    old_style = [{k: v for k, v in d.items() if k != "line_factors"}
                 for d in contents(ix_engine)["persons"].values()]
    ix_engine.replace_documents("persons", old_style)
    assert all("line_factors" not in d for d in contents(ix_engine)["persons"].values())
    with batch_db.session() as s:
        s.get(Batch, mix.batch_ids["bank"]).state = "paid"
        s.query(PaymentLine).filter_by(batch_id=mix.batch_ids["bank"]).update({"state": "paid"})
        outbox.emit(s, "batch", mix.batch_ids["bank"])
    sync(batch_db, ix_engine, doc_builder)
    after, rebuilt = contents(ix_engine), fresh_rebuild(batch_db, second_engine, doc_builder)
    touched = {d["person_key"] for d in after["payments"].values() if d["batch_code"] == "B2025-005"}
    assert touched and all("line_factors" in after["persons"][k] for k in touched)
    assert {k: after["persons"][k] for k in touched} == {k: rebuilt["persons"][k] for k in touched}
    untouched = {d["id"]: d for d in old_style if d["id"] not in touched}
    assert {k: d for k, d in after["persons"].items() if k not in touched} == untouched  # left as they were
    assert {k: v for k, v in after.items() if k != "persons"} == {k: v for k, v in rebuilt.items() if k != "persons"}


def test_a_changed_card_replaces_its_factor_in_the_patched_document(batch_db, config, ix_engine, second_engine,
                                                                   doc_builder) -> None:
    """A corrected line now paid to a new card: the person's patched document accepts the new
    card's last 4 digits and, when no other line used the old card, no longer the old ones."""
    build_mix(batch_db, config, people=12)
    sync(batch_db, ix_engine, doc_builder)
    with batch_db.session() as s:
        line = s.scalars(select(PaymentLine).order_by(PaymentLine.id)).first()
        old = s.get(CardAccount, line.card_account_id)
        old_last4 = old.card_last4
        number = "6217000000000009876"
        new = CardAccount(person_id=old.person_id, card_number_enc=cipher(config.field_key).encrypt(number),
                          card_digest="f" * 64, card_last4=number[-4:], bank_name=old.bank_name)
        s.add(new)
        s.flush()
        for each in s.scalars(select(PaymentLine).where(PaymentLine.card_account_id == old.id)):
            each.card_account_id = new.id  # every line of the old card moves to the new one
            outbox.emit(s, "line", each.id)
        key = s.get(Person, line.person_id).person_key
    sync(batch_db, ix_engine, doc_builder)
    after = contents(ix_engine)
    last4s = {f[1] for f in after["persons"][key]["factors"]}
    assert "9876" in last4s and old_last4 not in last4s
    assert after == fresh_rebuild(batch_db, second_engine, doc_builder)
