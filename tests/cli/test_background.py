"""`yikatong serve --with-admin` runs the outbox sync, the statistics consumer and the SMS sender
beside the servers: a publication reaches the portal's indexes (and statistics) and the SMS sandbox
within seconds, with nothing else started."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from datetime import date

from admin.bank import files, ledger, service
from admin.sms import messages as sms
from cli import background
from search import engine_for
from search.base import IndexNotFound, SearchQuery
from tests.admin.bank.conftest import act, at_bank, operator  # noqa: F401  (at_bank is a fixture)
from tests.admin.conftest import roster, seeded  # noqa: F401  (fixtures at_bank needs)


def test_a_publication_reaches_the_portal_index_and_the_sms_sandbox(at_bank, batch_db, public_db, config):
    b = _paid_and_published(at_bank, batch_db, config)
    engine = engine_for(config)

    def results() -> int:
        try:
            return engine.search("disclosures", SearchQuery(filters={"kind": "result"})).total
        except IndexNotFound:
            return 0

    def statistics_lines() -> int:  # the statistics consumer's own thread
        try:
            hits = engine.search("statistics", SearchQuery(filters={"dimension": "total"})).hits
        except IndexNotFound:
            return 0
        return int(hits[0]["lines"]) if hits else 0

    loop = background.start(config)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (results() < 5 or len(_sandbox(batch_db, b)) < 5
                                               or statistics_lines() < 5):
            time.sleep(0.2)
    finally:
        loop.stop()
    assert results() == 5
    assert len(_sandbox(batch_db, b)) == 5
    assert statistics_lines() == 5
    ended = {"yikatong-background", "yikatong-default:statistics"}
    assert not [t for t in threading.enumerate() if t.name in ended]  # both loops stopped



def test_with_redis_the_portal_caches_learn_of_the_background_writes(at_bank, batch_db, config, redis_url):
    """With ``REDIS_URL`` the index generation (what every portal worker keys its cache by) lives in
    Redis: the background loop's writes must bump that one, not a file the workers never read."""
    config = dataclasses.replace(config, redis_url=redis_url, search_index_prefix=f"t{secrets.token_hex(4)}_")
    _paid_and_published(at_bank, batch_db, config)
    portal = engine_for(config)  # as portal.app builds it
    before = portal.generation.current()
    loop = background.start(config)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and portal.generation.current() == before:
            time.sleep(0.1)
    finally:
        loop.stop()
    assert portal.generation.current() != before
    assert portal.search("disclosures", SearchQuery(filters={"kind": "result"})).total == 5


def _sandbox(batch_db, batch_id: int) -> list[dict]:
    with batch_db.session() as s:
        return sms.sandbox_messages(s, batch_id)


def _paid_and_published(at_bank, batch_db, config) -> int:
    """The bank's answer (every line paid) imported, then the department publishes: the batch id."""
    b = at_bank["batch"]
    day = date(2025, 10, 10)
    with batch_db.session() as s:
        infos = ledger.open_bank_files(s, b)
    for info in infos:
        with batch_db.session() as s:
            data = service.export_file(s, config, operator(s, "bank"), b, file_id=info.id, fmt="xlsx", today=day).data
        with batch_db.session() as s:
            service.import_results(s, config, operator(s, "bank"), files.with_results(data, {}), "r.xlsx", day)
    act(batch_db, "civil_op", b, "publish", date(2025, 10, 13))
    return b
