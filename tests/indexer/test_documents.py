"""Documents built from a mixed batch database: what is disclosed, what a person sees, and that
nothing personal leaks into any index (checked over every document of a full rebuild)."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from sqlalchemy import select

from admin.models import PaymentLine, Person
from core import personkey
from core.validation import normalize_name
from indexer.documents import DocumentBuilder, advice_for, format_amount, person_document, stage_for
from indexer.masking import mask_name, scan_document
from indexer.rebuild import rebuild
from search.base import SearchQuery
from portal.lookup import STAND_IN, group_by_year, lookup_person, stand_in_document
from search.schemas import DISCLOSURES, PAYMENTS, POLICIES
from tests.indexer.builders import build_mix
from tests.indexer.conftest import all_docs, by_id

DISCLOSURE_FIELDS = {"id", "kind", "name_masked", "region_codes", "county", "township", "village", "project_code",
                     "project_name", "policy_name", "department", "year", "period", "amount", "amount_cents", "date",
                     "batch_code", "status"}
PAYMENT_FIELDS = {"id", "person_key", "name_digest", "card_last4", "card_digest", "project_code", "project_name",
                  "department", "year", "period", "amount", "amount_cents", "date", "state", "stage", "failure_code",
                  "failure_reason", "advice", "region_codes", "village", "batch_code", "published"}
POLICY_FIELDS = {"id", "code", "name", "short_name", "department", "level", "year", "budget_source", "scope",
                 "beneficiaries", "standard", "document_title", "document_number", "document_url", "delivery",
                 "status", "history"}


@pytest.fixture
def built(batch_db, config, ix_engine, doc_builder):
    mix = build_mix(batch_db, config, people=40)
    report = rebuild(batch_db, ix_engine, doc_builder)
    docs = {name: all_docs(ix_engine, name) for name in ("policies", "disclosures", "payments", "persons",
                                                         "statistics")}
    return mix, report, docs


def test_no_personal_data_in_any_document(built, batch_db) -> None:
    mix, report, docs = built
    assert report.counts == {name: len(d) for name, d in docs.items()}
    assert all(report.counts.values())
    with batch_db.session() as s:
        full_names = {normalize_name(n) for n in s.scalars(select(Person.name))}
    secrets = {p.id_number for p in mix.people} | {p.card for p in mix.people} | {p.phone for p in mix.people}
    for index, documents in docs.items():
        for doc in documents:
            assert scan_document(doc) == [], (index, doc)
            text = repr(doc)
            leaked = [n for n in full_names if n in text]
            assert leaked == [], (index, leaked, doc)
            assert not any(secret in text for secret in secrets), (index, doc)
            if index == "persons":  # the answer and the lines are JSON text: scan what they hold too
                for part in (orjson.loads(doc["answer"]), orjson.loads(doc["lines"])):
                    assert scan_document(part) == [], (index, part)
            assert not any(p.id_number[-6:] in text for p in mix.people if index not in ("payments", "persons"))
    # the only card data in the private index: last 4 digits (and a keyed digest)
    cards = {p.card: p for p in mix.people}
    for doc in docs["payments"]:
        assert len(doc["card_last4"]) == 4 and doc["card_last4"].isdigit()
    assert {d["card_last4"] for d in docs["payments"]} <= {c[-4:] for c in cards}


def test_documents_have_exactly_the_schema_fields(built) -> None:
    _, _, docs = built
    assert all(set(d) == POLICY_FIELDS for d in docs["policies"])
    assert all(set(d) == DISCLOSURE_FIELDS for d in docs["disclosures"])
    assert all(set(d) == PAYMENT_FIELDS for d in docs["payments"])
    for d in docs["disclosures"] + docs["payments"]:
        assert Decimal(d["amount"]) * 100 == d["amount_cents"] and d["amount"].count(".") == 1
        assert len(d["amount"].split(".")[1]) == 2


def test_what_is_disclosed(built, batch_db) -> None:
    mix, _, docs = built
    disclosures = by_id(docs["disclosures"])
    lines = mix.special_lines
    # a re-issued line appears once, as its paid re-issue; failed/returned/withdrawn never
    assert f"result-{lines['reissue']}" in disclosures
    for key in ("reissued", "failed", "returned", "withdrawn"):
        assert f"result-{lines[key]}" not in disclosures and f"publicity-{lines[key]}" not in disclosures
    assert f"publicity-{lines['publicity_withdrawn']}" not in disclosures
    with batch_db.session() as s:
        rows = s.execute(select(PaymentLine.id, PaymentLine.batch_id, PaymentLine.state, Person.name)
                         .join(Person)).all()
    by_batch: dict[int, set[int]] = {}
    for row in rows:
        by_batch.setdefault(row.batch_id, set()).add(row.id)
    kinds = {d["id"].split("-")[0] for d in docs["disclosures"]}
    assert kinds == {"publicity", "result"}
    # publicity: exactly the non-withdrawn lines of the batch in publicity; results only from published
    publicity = {int(i.split("-")[1]) for i in disclosures if i.startswith("publicity-")}
    results = {int(i.split("-")[1]) for i in disclosures if i.startswith("result-")}
    assert publicity == by_batch[mix.batch_ids["publicity"]] - {lines["publicity_withdrawn"]}
    assert results <= by_batch[mix.batch_ids["published"]]
    names = {row.id: row.name for row in rows}
    for doc_id, doc in disclosures.items():
        line_id = int(doc_id.split("-")[1])
        if doc["project_name"] == "农村低保金":  # sensitive: surname only, township level
            assert doc["village"] == "" and len(doc["region_codes"]) == 4 and doc["name_masked"].endswith("**")
        else:
            assert doc["name_masked"] == mask_name(names[line_id])
            assert len(doc["region_codes"]) == 5 and doc["village"].endswith("村")
            assert doc["region_codes"][-1].startswith(doc["region_codes"][-2])
        assert doc["county"] == "鲁山县"


def test_a_person_sees_every_line_with_its_stage_and_advice(built, config, ix_engine) -> None:
    mix, _, docs = built
    payments = by_id(docs["payments"])
    failed = payments[str(mix.special_lines["failed"])]
    assert failed["state"] == "failed" and failed["failure_reason"] == "账户冻结"
    assert "冻结" in failed["advice"] and failed["stage"] == "发放失败"
    reissued = payments[str(mix.special_lines["reissued"])]
    assert reissued["state"] == "reissued" and "6217" not in reissued["failure_reason"]
    assert "销户" in reissued["advice"] or "重新发放" in reissued["advice"]
    assert payments[str(mix.special_lines["reissue"])]["state"] == "paid"
    assert str(mix.special_lines["withdrawn"]) not in payments  # withdrawn without a withdrawal code
    # withdrawn after an objection: explained, but never who objected (the reason named a neighbour)
    objected = payments[str(mix.special_lines["publicity_withdrawn"])]
    assert (objected["state"], objected["stage"], objected["failure_code"]) == (
        "withdrawn", "公示异议核实后撤回", "WITHDRAWN_OBJECTION")
    assert objected["failure_reason"] == "公示期间收到异议，经核实不符合本期发放条件。"
    assert "复核" in objected["advice"]
    # published once the batch's results are public (what the WeChat arrival notices wait for)
    assert payments[str(mix.special_lines["reissue"])]["published"] is True
    assert {d["published"] for d in docs["payments"] if d["stage"] in ("公示中", "银行发放中")} >= {False}
    stages = {d["stage"] for d in docs["payments"]}
    assert {"已提交待初审", "公示中", "审批中", "财政复核中", "银行发放中", "已发放到卡", "退回修改中"} <= stages
    # lookup by person key; digests match what the public side computes from what a person types
    person = mix.people[3]
    result = ix_engine.search("payments", SearchQuery(filters={"person_key": person.person_key}, per_page=100))
    assert result.total > 0
    for hit in result.hits:
        assert hit["name_digest"] == personkey.name_digest(config.hmac_key, person.person_key,
                                                            normalize_name(person.name))
        assert hit["card_last4"] == person.card[-4:]
        assert hit["card_digest"] == personkey.card_digest(config.hmac_key, person.person_key, person.card)


def test_one_persons_document_per_person_holds_their_answer(built, config, ix_engine) -> None:
    """``persons``: one document per person key with lines, the same answer grouping the person's
    ``payments`` documents gives, factors (digests and last 4 digits) but no card or name."""
    mix, report, docs = built
    lines: dict[str, list[dict]] = {}
    for doc in docs["payments"]:
        lines.setdefault(doc["person_key"], []).append(doc)
    persons = by_id(docs["persons"])
    assert persons.pop(STAND_IN) == stand_in_document()  # what an unknown person's lookup reads
    assert set(persons) == set(lines) and report.counts["persons"] == len(lines) + 1
    for key, doc in persons.items():
        assert set(doc) == {"id", "person_key", "factors", "paid_years", "answer", "lines", "line_factors"}
        factor_of = [doc["factors"][i] for i in orjson.loads(doc["line_factors"])]  # line by line
        assert factor_of == [[d["name_digest"], d["card_last4"], d["card_digest"]] for d in lines[key]]
        assert doc == person_document(key, lines[key])
        expected = group_by_year(key, None, lines[key])
        assert orjson.loads(doc["answer"]) == [y.to_dict() for y in expected.years]
        assert doc["paid_years"] == [y.year for y in expected.years if y.paid]
        assert {tuple(f) for f in doc["factors"]} == {(d["name_digest"], d["card_last4"], d["card_digest"])
                                                      for d in lines[key]}
    # the lookup reads it: typed factors → the answer; the items the bot reads are the same lines
    person = next(p for p in mix.people if p.person_key in persons)
    found = lookup_person(ix_engine, config.hmac_key, id_number=person.id_number, name=person.name,
                          card_digits=person.card[-4:])
    assert found is not None
    assert found.to_dict()["years"] == orjson.loads(persons[person.person_key]["answer"])
    assert sorted(i.id for y in found.years for i in (*y.paid, *y.pending, *y.failed, *y.withdrawn)) == sorted(
        d["id"] for d in lines[person.person_key])
    assert lookup_person(ix_engine, config.hmac_key, id_number=person.id_number, name=person.name + "某",
                         card_digits=person.card[-4:]) is None


def test_policies_only_published_with_approved_history(built) -> None:
    mix, _, docs = built
    policies = by_id(docs["policies"])
    assert set(policies) == {str(mix.policy_ids[c]) for c in ("GDDL", "DIBAO", "GLJT")}
    history = policies[str(mix.policy_ids["GDDL"])]["history"]
    assert [h["change"] for h in history] == ["补贴标准由每亩 90 元调整为每亩 100 元"]


def test_small_helpers() -> None:
    assert format_amount(Decimal("1234.5")) == ("1234.50", 123450)
    assert format_amount(Decimal("0.01")) == ("0.01", 1)
    assert stage_for("finance_check", "pending") == "财政复核中"
    assert stage_for("published", "failed") == "发放失败"
    assert "激活" in advice_for("failed", "E07", "社保卡金融功能未激活")
    assert "乡镇" in advice_for("failed", None, "其他原因")


def test_index_specs_are_the_ones_written(built, ix_engine) -> None:
    assert {POLICIES.name, DISCLOSURES.name, PAYMENTS.name} <= set(ix_engine.list_indexes())
    hits = ix_engine.search("disclosures", SearchQuery(q="王庄村 高龄", facets=["village"])).hits
    assert hits and all(h["village"] == "王庄村" for h in hits)


def test_builder_streams_in_chunks(batch_db, config) -> None:
    build_mix(batch_db, config, people=25)
    small = DocumentBuilder(config.hmac_key, config.field_key, chunk=7)
    big = DocumentBuilder(config.hmac_key, config.field_key)
    with batch_db.session() as s:
        assert list(small.payments(s)) == list(big.payments(s))
        assert list(small.disclosures(s)) == list(big.disclosures(s))
