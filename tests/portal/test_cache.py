"""The response cache (portal/cache.py): what it may keep, and that a publication reaches every
worker through the index generation.

* personal answers are never kept: two people asking in turn each get only their own answer;
* a batch published inside (outbox event + ``sync``) changes the cached search answer at once
  (the freshness bound is 5 s; the file generation is seen on the next request, Redis's within
  ``REDIS_RECHECK``);
* near-static pages answer ``If-None-Match`` with ``304``, and a changed page gets a new ETag;
* two apps over one data folder (two workers) both drop their entries on a bump — also through
  Redis when one answers.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from starlette.testclient import TestClient

from admin import outbox
from admin.models import Batch, PaymentLine, Project
from cli.apps import public_app
from core.config import Config
from indexer.documents import DocumentBuilder
from indexer.rebuild import rebuild
from indexer.sync import sync
from search import make_engine
from search.base import SearchEngine
from search.schemas import SPECS
from tests.indexer.builders import build_mix
from tests.portal.conftest import Seeded

FRESHNESS_BOUND = 5.0
REDIS_URL = os.environ.get("YIKATONG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def config(make_config) -> Config:
    # several lookups from one test address: lift the per-client limit (tested in test_ratelimit.py)
    return make_config(RATE_LIMIT_QUERY_PER_CLIENT="1000/60")


def _ask(client: TestClient, person: Any) -> Any:
    return client.post("/api/query", json={"id_number": person.id_number, "name": person.name,
                                           "card_digits": person.card_last4})


def _amounts(answer: dict[str, Any]) -> set[tuple[str, str]]:
    return {(line["id"], line["amount"]) for year in answer["years"]
            for group in ("paid", "pending", "failed") for line in year[group]}


# --- never a personal answer to anyone else ---------------------------------------------------


def test_personal_answers_never_cross_people(client: TestClient, seeded: Seeded) -> None:
    first, second = seeded.people[0], seeded.people[1]
    one = _ask(client, first)
    two = _ask(client, second)
    again = _ask(client, first)
    assert one.status_code == two.status_code == again.status_code == 200
    assert one.json()["person"]["name"] == again.json()["person"]["name"] == first.name
    assert two.json()["person"]["name"] == second.name
    assert _amounts(one.json()) == _amounts(again.json())
    assert not _amounts(one.json()) & _amounts(two.json())
    for answer in (one, two, again):
        assert answer.headers["cache-control"] == "no-store" and "etag" not in answer.headers


def test_personal_pages_and_statements_never_cross_people(client: TestClient, seeded: Seeded) -> None:
    first, second = seeded.people[0], seeded.people[1]

    def form_answer(person: Any) -> str:
        form = client.get("/query").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        page = client.post("/query", data={"csrf_token": token.group(1), "id_number": person.id_number,
                                           "name": person.name, "card_digits": person.card_last4})
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        return page.text

    pages = [form_answer(first), form_answer(second), form_answer(first)]
    assert first.name in pages[0] and first.name in pages[2] and second.name not in pages[2]
    assert second.name in pages[1] and first.name not in pages[1]

    def statement(person: Any) -> str:
        links = [y["statement_url"] for y in _ask(client, person).json()["years"] if y["statement_url"]]
        page = client.get(links[0])  # a GET page: the one kind a cache could be tempted to keep
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        return page.text

    statements = [statement(first), statement(second), statement(first)]
    assert first.name in statements[2] and second.name not in statements[2]
    assert second.name in statements[1] and first.name not in statements[1]


# --- a publication reaches the cached search answer -----------------------------------------


def _publish_paid_batch(batch_db: Any) -> str:
    """What the workflow does at its last step: the paid batch is published (outbox event).
    Returns its project code."""
    with batch_db.session() as s:
        batch = s.query(Batch).filter_by(state="paid").one()
        batch.state = "published"
        batch.published_on = date(2025, 4, 8)
        outbox.emit(s, "batch", batch.id)
        return s.get(Project, batch.project_id).code


def _paid_project(batch_db: Any) -> str:
    with batch_db.session() as s:
        batch = s.query(Batch).filter_by(state="paid").one()
        assert s.query(PaymentLine).filter_by(batch_id=batch.id, state="paid").count() > 0
        return s.get(Project, batch.project_id).code


def _until_changed(client: TestClient, url: str, before: Any, bound: float = FRESHNESS_BOUND) -> tuple[Any, float]:
    started = time.monotonic()
    while True:
        answer = client.get(url).json()
        elapsed = time.monotonic() - started
        if answer != before or elapsed > bound:
            return answer, elapsed
        time.sleep(0.05)


@pytest.fixture
def published_world(config: Config, batch_db, public_db) -> Iterator[dict[str, Any]]:
    """A batch database indexed by the indexer's own engine, and the portal over another engine
    object on the same data folder (as two processes would be)."""
    build_mix(batch_db, config, people=20)
    indexer_engine = make_engine(config.data_dir, prefix=config.search_index_prefix)
    builder = DocumentBuilder.from_config(config)
    rebuild(batch_db, indexer_engine, builder)
    portal_engine = make_engine(config.data_dir, prefix=config.search_index_prefix)
    with TestClient(public_app(config, search=portal_engine)) as client:
        yield {"client": client, "sync": lambda: sync(batch_db, indexer_engine, builder), "db": batch_db}


def test_publishing_a_batch_changes_the_cached_search_answer(published_world) -> None:
    client, db = published_world["client"], published_world["db"]
    url = f"/disclosures.json?kind=result&project={_paid_project(db)}"
    before = client.get(url).json()
    assert client.get(url).json() == before  # the second answer comes from the cache
    assert before["total"] == 0
    _publish_paid_batch(db)
    assert client.get(url).json() == before  # not yet synced: nothing new is public
    published_world["sync"]()
    after, elapsed = _until_changed(client, url, before)
    assert after["total"] > 0 and elapsed < FRESHNESS_BOUND
    html = client.get(f"/disclosures?kind=result&project={after['query']['project']}").text
    assert after["hits"][0]["name_masked"] in html


# --- ETag / 304 -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/policies", "/policies.json", "/policies/p1", "/disclosures?q=王",
                                  "/disclosures.json?q=王庄", "/opendata"])
def test_near_static_pages_answer_304_to_a_matching_etag(client: TestClient, path: str) -> None:
    first = client.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert "public" in first.headers["cache-control"]
    again = client.get(path, headers={"If-None-Match": etag})  # from the cache this time
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = client.get(path, headers={"If-None-Match": 'W/"not-this-one"'})
    assert other.status_code == 200 and other.content == first.content


def test_large_type_and_json_twins_are_kept_apart(client: TestClient) -> None:
    large_cookie = {"Cookie": "yk_large=1"}
    plain = client.get("/policies")
    large = client.get("/policies", headers=large_cookie)
    as_json = client.get("/policies", headers={"Accept": "application/json"})
    assert 'class="large"' in large.text and 'class="large"' not in plain.text
    assert as_json.headers["content-type"].startswith("application/json")
    assert client.get("/policies").text == plain.text
    assert 'class="large"' in client.get("/policies", headers=large_cookie).text
    assert client.get("/policies", headers={"Accept": "application/json"}).json() == as_json.json()


def test_a_changed_page_gets_a_new_etag(client: TestClient, search_engine: SearchEngine, seeded: Seeded) -> None:
    first = client.get("/policies/p1")
    doc = dict(seeded.policies[0], standard="每亩 130.00 元")
    search_engine.replace_documents("policies", [doc])  # what the indexer does: bumps the generation
    changed = client.get("/policies/p1", headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and "130.00" in changed.text
    assert changed.headers["etag"] != first.headers["etag"]


# --- a bump reaches every worker --------------------------------------------------------------


def _two_workers_see_a_write(config: Config, public_db, redis_url: str | None) -> None:
    def engine() -> SearchEngine:
        return make_engine(config.data_dir, prefix=config.search_index_prefix, redis_url=redis_url)

    writer = engine()  # the indexer; each app gets its own engine object, as a worker process would
    for spec in SPECS.values():
        writer.ensure_index(spec)
    writer.replace_documents("policies", [{"id": "p9", "name": "旧名称的补贴政策", "level": "县", "year": 2024}])
    apps = [TestClient(public_app(config, search=engine())) for _ in range(2)]
    try:
        for worker in apps:
            assert "旧名称" in worker.get("/policies.json").text
            assert "旧名称" in worker.get("/policies.json").text  # cached now
        writer.replace_documents("policies", [{"id": "p9", "name": "新名称的补贴政策", "level": "县", "year": 2024}])
        for worker in apps:
            started = time.monotonic()
            while "新名称" not in worker.get("/policies.json").text:
                assert time.monotonic() - started < FRESHNESS_BOUND, "the bump did not reach this worker"
                time.sleep(0.05)
    finally:
        for worker in apps:
            worker.close()


def test_a_bump_reaches_two_workers_sharing_a_data_folder(config: Config, public_db) -> None:
    _two_workers_see_a_write(config, public_db, None)


def test_a_bump_reaches_two_workers_through_redis(make_config, public_db) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    config = make_config(REDIS_URL=REDIS_URL, SEARCH_INDEX_PREFIX="t" + secrets.token_hex(4) + "_")
    try:
        _two_workers_see_a_write(config, public_db, REDIS_URL)
    finally:
        client.delete("yikatong:generation:" + config.search_index_prefix)
        client.close()
