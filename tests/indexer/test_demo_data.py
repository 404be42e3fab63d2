"""The indexer over the demo build's data (every state, failures, re-issues, historical ID codes,
sample people): a full rebuild holds no personal data and serves the sample people."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin.fieldcrypt import cipher
from admin.models import CardAccount, Person
from core import personkey
from core.config import Config
from core.db import Database
from core.validation import normalize_name
from demo.build import build
from demo.people import demo_people
from indexer.documents import DocumentBuilder
from indexer.masking import scan_document
from indexer.rebuild import rebuild
from search import engine_for
from search.base import SearchQuery
from tests.conftest import TEST_SECRETS
from tests.indexer.conftest import all_docs

LINES = 2500


@pytest.fixture
def demo_built(tmp_path, batch_db_url, public_db_url):
    config = Config.from_env({"YIKATONG_DATA_DIR": str(tmp_path / "data"), "YIKATONG_DEMO": "1",
                              "BATCH_DATABASE_URL": batch_db_url, "PUBLIC_DATABASE_URL": public_db_url,
                              "SEARCH_INDEX_PREFIX": "demo_", **TEST_SECRETS})
    build(config, LINES, 11)
    db = Database(batch_db_url)
    engine = engine_for(config)
    report = rebuild(db, engine, DocumentBuilder.from_config(config))
    yield config, db, engine, report
    db.dispose()


def test_demo_data_leaks_nothing(demo_built) -> None:
    config, db, engine, report = demo_built
    assert report.counts["disclosures"] > 100 and report.counts["payments"] > 1000
    decrypt = cipher(config.field_key).decrypt
    with db.session() as s:
        names = {normalize_name(n) for n in s.scalars(select(Person.name))}
        secrets = {decrypt(p.id_number_enc) for p in s.scalars(select(Person))}
        secrets |= {decrypt(p.phone_enc) for p in s.scalars(select(Person)) if p.phone_enc}
        secrets |= {decrypt(c.card_number_enc) for c in s.scalars(select(CardAccount))}
    for index in ("policies", "disclosures", "payments"):
        docs = all_docs(engine, index)
        assert len(docs) == report.counts[index]
        for doc in docs:
            assert scan_document(doc) == [], (index, doc)
            text = repr(doc)
            assert not [n for n in names if n in text], (index, doc)
            assert not [x for x in secrets if x in text], (index, doc)


def test_demo_sample_people_find_their_lines(demo_built) -> None:
    config, _db, engine, _report = demo_built
    people = demo_people(config)
    assert people
    kinds: set[str] = set()
    for person in people:
        # demo_people() documents these keys; a person without them is a regression, not a skip
        id_number, name = person.get("id_number"), person.get("name")
        assert id_number and name, f"a demo person without id_number/name: {sorted(person)}"
        key = personkey.person_key(config.hmac_key, id_number)
        hits = engine.search("payments", SearchQuery(filters={"person_key": key}, per_page=100)).hits
        assert hits, name
        assert {h["name_digest"] for h in hits} == {
            personkey.name_digest(config.hmac_key, key, normalize_name(name))}
        kinds |= {h["state"] for h in hits}
    assert {"paid", "pending"} <= kinds and kinds & {"failed", "reissued", "returned"}
