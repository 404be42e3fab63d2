"""The Meilisearch adapter against the Meilisearch stand-in (always) and a real Meilisearch
(when ``MEILI_URL`` is set): the paths the portal and the indexer take, the settings Meilisearch
ends up with, errors, and the long-term exactness decided in docs/search.md.

Tests marked as stand-in only use what a real server cannot be made to do on demand (hold its
task queue, refuse searches as overloaded, run an old version) or record the exact requests.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import meilisearch
import pytest

from search.base import (
    FACET_LIMIT,
    IndexNotFound,
    IndexSpec,
    InvalidQuery,
    SearchError,
    SearchQuery,
    SearchUnavailable,
)
from search import make_engine
from search.meili import (
    VERIFY_WINDOW,
    MeiliEngine,
    TaskFailed,
    filter_expression,
    phrase_query,
)
from search.schemas import DISCLOSURES, PAYMENTS
from search.tokenize import char_word, index_tokens
from tests.search.conftest import STANDIN_KEY, Server, brute_force, make_disclosures
from tests.search.meili_standin import MeiliStandIn

@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(4)}_"


@pytest.fixture
def meili(server: Server, prefix: str) -> Iterator[MeiliEngine]:
    engine = server.engine(prefix)
    yield engine
    for name in engine.list_indexes():
        engine.delete_index(name)


@pytest.fixture
def standin(meili_standin: MeiliStandIn, prefix: str) -> Iterator[MeiliEngine]:
    """An adapter on the stand-in only (its test helpers are used)."""
    engine = MeiliEngine(meili_standin.url, STANDIN_KEY, prefix=prefix, task_poll_ms=5)
    yield engine
    for name in engine.list_indexes():
        engine.delete_index(name)


def _ids(hits: list[dict]) -> list[str]:
    return [h["id"] for h in hits]


# -- what Meilisearch ends up with -----------------------------------------------------------------


def test_settings_as_meilisearch_reports_them(server: Server, meili: MeiliEngine,
                                              prefix: str) -> None:
    """docs/search.md "Meilisearch settings", read back from the server."""
    meili.ensure_index(DISCLOSURES)
    settings = server.client().index(prefix + "disclosures").get_settings()
    assert settings["searchableAttributes"] == ["_yk_bi", "_yk_uni"]
    filterable = {f if isinstance(f, str) else f["attributePatterns"][0]
                  for f in settings["filterableAttributes"]}
    assert filterable == set(DISCLOSURES.filterable) | set(DISCLOSURES.facetable)
    assert set(settings["sortableAttributes"]) == {*DISCLOSURES.sortable, "id"}
    assert settings["rankingRules"][0] == "sort"
    assert settings["typoTolerance"]["enabled"] is False
    assert settings["prefixSearch"] == "disabled"  # Meilisearch >= 1.12
    assert settings["facetSearch"] is False  # Meilisearch >= 1.12
    assert settings["proximityPrecision"] == "byWord"  # phrases need word positions
    assert settings["faceting"]["maxValuesPerFacet"] >= FACET_LIMIT
    assert settings["faceting"]["sortFacetValuesBy"]["*"] == "count"
    assert settings["pagination"]["maxTotalHits"] >= 1_000_000
    assert settings["displayedAttributes"] == ["*"]  # the verification reads _yk_bi from hits


def test_ensure_index_again_tolerates_the_existing_index(server: Server, meili: MeiliEngine,
                                                         prefix: str) -> None:
    meili.ensure_index(PAYMENTS)
    meili.replace_documents("payments", [{"id": "x1", "person_key": "ab", "date": "2024-01-01"}])
    meili.ensure_index(PAYMENTS)  # Meilisearch fails the creation task; the adapter goes on
    failed = server.client().get_tasks({"indexUids": [prefix + "payments"],
                                        "types": ["indexCreation"], "statuses": ["failed"]})
    assert [t.error["code"] for t in failed.results] == ["index_already_exists"]
    assert meili.count("payments") == 1


def test_documents_carry_hidden_shadow_fields(server: Server, meili: MeiliEngine,
                                              prefix: str) -> None:
    meili.ensure_index(DISCLOSURES)
    docs = [{"id": f"d{i}", "name_masked": "王*丰", "village": "王庄村", "county": "鲁山县",
             "year": 2024} for i in range(5)]
    assert meili.replace_documents("disclosures", docs, batch_size=2) == 5
    additions = server.client().get_tasks({"indexUids": [prefix + "disclosures"],
                                           "types": ["documentAdditionOrUpdate"]})
    assert sorted(t.details["receivedDocuments"] for t in additions.results) == [1, 2, 2]
    assert all(t.status == "succeeded" for t in additions.results)
    stored = server.client().index(prefix + "disclosures").get_document("d0")
    tokens = index_tokens(["王*丰", "王庄村", "鲁山县"])
    assert (stored._yk_bi, stored._yk_uni) == (tokens.bigrams, tokens.unigrams)
    assert meili.get("disclosures", "d0") == docs[0]
    assert meili.search("disclosures", SearchQuery(q="庄村")).hits[0] == docs[0]


def test_failed_document_task_is_an_error(meili: MeiliEngine) -> None:
    meili.ensure_index(DISCLOSURES)
    with pytest.raises(TaskFailed) as caught:
        meili.replace_documents("disclosures", [{"id": "a b"}])
    assert caught.value.code == "invalid_document_id"
    assert isinstance(caught.value, SearchError)
    assert meili.count("disclosures") == 0


# -- the portal's path: an index someone else built ------------------------------------------------


def test_portal_opens_an_index_it_did_not_create(server: Server, meili: MeiliEngine,
                                                 prefix: str) -> None:
    spec = IndexSpec("things", "id", searchable=["title"], filterable=["tag"],
                     sortable=["rank"], facetable=["tag"])
    meili.ensure_index(spec)
    meili.replace_documents("things", [{"id": f"t{i}", "title": f"王庄村{i}号", "tag": "ab"[i % 2],
                                        "rank": 10 - i} for i in range(6)])
    meili.ensure_index(PAYMENTS)
    portal = server.engine(prefix)  # never calls ensure_index
    result = portal.search("things", SearchQuery(q="庄村", filters={"tag": "a"}, facets=["tag"],
                                                 sort=[("rank", "asc")]))
    assert _ids(result.hits) == ["t4", "t2", "t0"]
    assert result.total == 3 and result.facets == {"tag": {"a": 3}}
    with pytest.raises(InvalidQuery):
        portal.search("things", SearchQuery(sort=[("title", "asc")]))
    with pytest.raises(InvalidQuery):
        portal.search("payments", SearchQuery(q="高龄"))
    assert portal.search("payments", SearchQuery(filters={"person_key": "x"})).total == 0
    assert portal.count("things") == 6


def test_stats_and_listing(server: Server, meili: MeiliEngine, prefix: str) -> None:
    meili.ensure_index(DISCLOSURES)
    meili.replace_documents("disclosures", make_disclosures(12))
    meili.ensure_index(PAYMENTS)
    other = server.engine(prefix + "x")
    other.ensure_index(PAYMENTS)
    try:
        stats = meili.stats()
        assert stats["engine"] == "meilisearch" and stats["url"] == server.url
        assert stats["database_bytes"] > 0
        assert stats["indexes"]["disclosures"] == {"documents": 12, "indexing": False}
        assert stats["indexes"]["payments"]["documents"] == 0
        assert meili.list_indexes() == ["disclosures", "payments", "xpayments"]
        assert other.list_indexes() == ["payments"]
    finally:
        other.delete_index("payments")


def test_listing_more_than_a_thousand_indexes(meili_standin: MeiliStandIn,
                                              standin: MeiliEngine, prefix: str) -> None:
    """``list_indexes`` pages through ``GET /indexes`` (one disclosures index per region)."""
    client = meilisearch.Client(meili_standin.url, STANDIN_KEY)
    names = [f"disclosures_{i:04d}" for i in range(1_005)]
    uids = [prefix + name for name in names] + ["zz_" + prefix + "other"]
    # one kept-alive connection for the set-up (the client opens one per request)
    with httpx.Client(base_url=meili_standin.url,
                      headers={"Authorization": f"Bearer {STANDIN_KEY}"}) as http:
        for uid in uids:
            last = http.post("/indexes", json={"uid": uid}).json()
        client.wait_for_task(last["taskUid"], interval_in_ms=5)
        try:
            assert standin.list_indexes() == names
            pages = [path for _, path, _ in meili_standin.requests[-2:]]
            assert pages == ["/indexes?limit=1000&offset=0", "/indexes?limit=1000&offset=1000"]
        finally:
            for uid in uids:
                last = http.delete(f"/indexes/{uid}").json()
            client.wait_for_task(last["taskUid"], interval_in_ms=5)


# -- long terms: exact by verification (docs/search.md) --------------------------------------------

SPLIT = IndexSpec("split", "id", searchable=["a", "b", "c", "d"], filterable=["tag"],
                  facetable=["tag"])


def test_meilisearch_phrases_alone_over_match_long_terms(server: Server, meili: MeiliEngine,
                                                         prefix: str) -> None:
    """Why the adapter verifies: the bare phrase query matches records without the term."""
    meili.ensure_index(SPLIT)
    meili.replace_documents("split", [
        {"id": "split5", "a": "甲乙丙丁", "b": "乙丙丁戊"},
        {"id": "split4", "a": "子丑", "b": "寅卯", "c": "子丑寅", "d": "丑寅卯"},
        {"id": "split3", "a": "甲乙", "b": "乙丙", "c": "甲乙 乙丙"},
        {"id": "spread8", "a": "一二三四五", "b": "四五六七八"},
    ])
    raw = server.client().index(prefix + "split")

    def bare(term: str) -> list[str]:
        return _ids(raw.search(phrase_query([term]), {"matchingStrategy": "all"})["hits"])

    assert bare("甲乙丙丁戊") == ["split5"]  # windows 甲乙丙丁 and 乙丙丁戊, in two fields
    assert bare("子丑寅卯") == ["split4"]  # 子丑 _ 寅卯 across the gap word, 子丑寅, 丑寅卯
    assert bare("甲乙丙") == ["split5"]  # 3 characters: exact (split3 holds 甲乙, 乙丙 apart)
    assert bare("一二三四五六七八") == []  # no field holds 三四五六
    for term in ("甲乙丙丁戊", "子丑寅卯"):
        assert meili.search("split", SearchQuery(q=term)).total == 0


def _split_corpus(n: int) -> list[dict]:
    """``n`` records: every 7th holds 甲乙丙丁戊's bigrams over two fields, the rest the term."""
    return [{"id": f"f{i:04d}", "a": "甲乙丙丁" if i % 7 == 3 else f"{i}甲乙丙丁戊",
             "b": "乙丙丁戊", "tag": ["x", "y", "z"][i % 3]} for i in range(n)]


def test_long_term_counts_beyond_the_verified_window(meili: MeiliEngine) -> None:
    """Hits are always exact; counts are exact once every candidate was verified, otherwise
    Meilisearch's counts minus the false candidates found (never below the truth)."""
    docs = _split_corpus(VERIFY_WINDOW + 200)
    meili.ensure_index(SPLIT)
    meili.replace_documents("split", docs)
    exact = brute_force(docs, SPLIT, "甲乙丙丁戊")
    false_in_window = sum(1 for d in docs[:VERIFY_WINDOW] if d["id"] not in _ids(exact))
    assert 0 < false_in_window < len(docs) - len(exact)

    first = meili.search("split", SearchQuery(q="甲乙丙丁戊", facets=["tag"]))
    assert _ids(first.hits) == _ids(exact[:20])
    assert first.total == len(docs) - false_in_window
    assert len(exact) < first.total
    tags = Counter(d["tag"] for d in docs)
    tags.subtract(d["tag"] for d in docs[:VERIFY_WINDOW] if d not in exact)
    assert first.facets == {"tag": dict(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0])))}

    last_page = len(exact) // 20
    deep = meili.search("split", SearchQuery(q="甲乙丙丁戊", page=last_page, facets=["tag"]))
    assert _ids(deep.hits) == _ids(exact[(last_page - 1) * 20:last_page * 20])
    assert deep.total == len(exact)  # page * per_page > window: every candidate was verified
    assert deep.facets == {"tag": dict(Counter(d["tag"] for d in exact).most_common())}

    narrow = meili.search("split", SearchQuery(q="甲乙丙丁戊", filters={"tag": "x"},
                                               facets=["tag"]))
    expected = [d for d in exact if d["tag"] == "x"]
    assert narrow.total == len(expected) and narrow.facets == {"tag": {"x": len(expected)}}


def test_search_request_on_the_wire(meili_standin: MeiliStandIn, standin: MeiliEngine,
                                    prefix: str) -> None:
    standin.ensure_index(DISCLOSURES)
    tricky = 'say "hi" \\ there'
    standin.replace_documents("disclosures", [
        {"id": "d1", "name_masked": "王*丰", "village": tricky, "region_codes": ["41", "410423"],
         "year": 2024, "date": "2024-03-01"},
        {"id": "d2", "name_masked": "王*", "village": "王庄村", "region_codes": ["41", "410423"],
         "year": 2023, "date": "2023-03-01"},
    ])
    result = standin.search("disclosures", SearchQuery(
        q="王 庄村", filters={"region_codes": "410423", "year": [2023, 2024]},
        facets=["village", "year"], sort=[("date", "desc")], page=1, per_page=10))
    assert _ids(result.hits) == ["d2"] and result.facets == {"village": {"王庄村": 1},
                                                             "year": {"2023": 1}}
    method, path, body = meili_standin.requests[-1]
    w = char_word
    assert (method, path) == ("POST", f"/indexes/{prefix}disclosures/search")
    assert body == {
        "q": f'"{w("王")}" "{w("庄")}{w("村")}"',
        "page": 1, "hitsPerPage": 10, "matchingStrategy": "all",
        "sort": ["date:desc", "id:asc"],
        "filter": ['region_codes = "410423"', 'year IN ["2023", "2024"]'],
        "facets": ["village", "year"],
    }
    quoted = standin.search("disclosures", SearchQuery(filters={"village": tricky}))
    assert _ids(quoted.hits) == ["d1"]
    assert meili_standin.requests[-1][2]["filter"] == ['village = "say \\"hi\\" \\\\ there"']
    standin.search("disclosures", SearchQuery(q="王庄村口", page=2, per_page=10))
    verify = meili_standin.requests[-1][2]
    assert (verify["page"], verify["hitsPerPage"]) == (1, VERIFY_WINDOW)


# -- tasks and errors ------------------------------------------------------------------------------


def test_writes_wait_for_their_tasks(meili_standin: MeiliStandIn, standin: MeiliEngine,
                                     prefix: str) -> None:
    standin.ensure_index(DISCLOSURES)
    done = threading.Event()

    def write() -> None:
        standin.replace_documents("disclosures", make_disclosures(3))
        done.set()

    with meili_standin.hold_tasks():
        writer = threading.Thread(target=write)
        writer.start()
        client = meilisearch.Client(meili_standin.url, STANDIN_KEY)
        deadline = time.monotonic() + 5
        while not client.get_tasks({"statuses": ["enqueued"],
                                    "indexUids": [prefix + "disclosures"]}).results:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.05)
        assert not done.is_set()  # still polling GET /tasks/{uid}
        assert standin.count("disclosures") == 0
    writer.join(5)
    assert done.is_set() and standin.count("disclosures") == 3


def test_meilisearch_errors_map_to_port_errors(server: Server, meili: MeiliEngine,
                                               prefix: str) -> None:
    meili.ensure_index(DISCLOSURES)
    meili.replace_documents("disclosures", make_disclosures(5))
    meili.search("disclosures", SearchQuery(filters={"kind": "result"}))
    # another client narrows the settings behind the adapter's back
    task = server.client().index(prefix + "disclosures").update_filterable_attributes(["year"])
    server.client().wait_for_task(task.task_uid, interval_in_ms=5)
    with pytest.raises(InvalidQuery):  # invalid_search_filter
        meili.search("disclosures", SearchQuery(filters={"kind": "result"}))
    task = server.client().delete_index(prefix + "disclosures")
    server.client().wait_for_task(task.task_uid, interval_in_ms=5)
    with pytest.raises(IndexNotFound):
        meili.search("disclosures", SearchQuery(q="王"))
    with pytest.raises(IndexNotFound):
        meili.delete_documents("disclosures", ["d00000"])
    with pytest.raises(InvalidQuery):  # refused before any request
        meili.search("disclosures", SearchQuery(q="王" * 101))


def test_wrong_api_key_is_an_error(server: Server, prefix: str) -> None:
    engine = MeiliEngine(server.url, "not-the-key", prefix=prefix)
    with pytest.raises(SearchError, match="invalid_api_key"):
        engine.search("disclosures", SearchQuery(q="王"))
    with pytest.raises(SearchError, match="invalid_api_key"):
        engine.ensure_index(DISCLOSURES)
    with pytest.raises(SearchError, match="invalid_api_key"):
        engine.stats()


def test_overloaded_server_is_unavailable(meili_standin: MeiliStandIn,
                                          standin: MeiliEngine) -> None:
    standin.ensure_index(DISCLOSURES)
    with meili_standin.overloaded(), pytest.raises(SearchUnavailable):
        standin.search("disclosures", SearchQuery(q="王"))
    assert standin.search("disclosures", SearchQuery(q="王")).total == 0


def test_server_older_than_1_12_is_refused_clearly() -> None:
    with MeiliStandIn(master_key="k", version="1.11.3") as old:
        engine = make_engine(None, old.url, "k")  # type: ignore[arg-type]
        with pytest.raises(SearchError, match=r"Meilisearch 1\.11\.3 is too old.*1\.12"):
            engine.ensure_index(DISCLOSURES)


def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = MeiliEngine(f"http://127.0.0.1:{port}", "key", timeout=2)
    with pytest.raises(SearchUnavailable):
        engine.search("disclosures", SearchQuery(q="王"))
    with pytest.raises(SearchUnavailable):
        engine.ensure_index(DISCLOSURES)
    with pytest.raises(SearchUnavailable):
        engine.count("disclosures")


def test_filter_expression_and_phrases() -> None:
    assert filter_expression({"kind": "result", "year": 2024}) == ['kind = "result"',
                                                                  'year = "2024"']
    assert filter_expression({"region_codes": ["41", "4104"]}) == [
        'region_codes IN ["41", "4104"]']
    assert phrase_query([]) == ""
    assert phrase_query(["王"]) == f'"{char_word("王")}"'
