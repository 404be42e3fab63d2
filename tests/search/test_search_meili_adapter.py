"""The Meilisearch adapter without a server: the real client against a loopback fake.

The fake records every request (method, path, JSON body) and answers with Meilisearch-shaped
JSON: task infos (202), tasks (succeeded unless a test marks one failed), search answers and
error bodies as Meilisearch sends them.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from search import make_engine
from search.base import (
    FACET_LIMIT,
    IndexNotFound,
    InvalidQuery,
    SearchError,
    SearchQuery,
    SearchUnavailable,
)
from search.meili import (
    MAX_TOTAL_HITS,
    MeiliEngine,
    TaskFailed,
    filter_expression,
    phrase_query,
)
from search.schemas import DISCLOSURES, PAYMENTS
from search.tokenize import char_word, index_tokens

ENQUEUED = "2026-01-05T08:00:00.000000Z"


def _error(code: str, message: str, kind: str = "invalid_request") -> dict[str, str]:
    return {"message": message, "code": code, "type": kind,
            "link": f"https://docs.meilisearch.com/errors#{code}"}


class FakeMeili:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.routes: dict[tuple[str, str], tuple[int, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.fail_tasks: dict[str, dict[str, str]] = {}  # task type → error
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                status, answer = fake.handle(self.command, self.path, body,
                                             self.headers.get("Authorization"))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _task(self, index_uid: str | None, kind: str) -> tuple[int, dict[str, Any]]:
        uid = len(self.tasks)
        error = self.fail_tasks.get(kind)
        self.tasks[uid] = {
            "uid": uid, "batchUid": uid, "indexUid": index_uid,
            "status": "failed" if error else "succeeded", "type": kind, "canceledBy": None,
            "details": {}, "error": error, "duration": "PT0.001S", "enqueuedAt": ENQUEUED,
            "startedAt": ENQUEUED, "finishedAt": ENQUEUED,
        }
        return 202, {"taskUid": uid, "indexUid": index_uid, "status": "enqueued", "type": kind,
                     "enqueuedAt": ENQUEUED}

    def handle(self, method: str, path: str, body: Any, auth: str | None
               ) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if (method, path) in self.routes:
            return self.routes[(method, path)]
        parts = path.split("?")[0].strip("/").split("/")
        if method == "GET" and parts[0] == "tasks":
            return 200, self.tasks[int(parts[1])]
        if method == "POST" and parts == ["indexes"]:
            return self._task(body["uid"], "indexCreation")
        if method == "PATCH" and parts[-1] == "settings":
            return self._task(parts[1], "settingsUpdate")
        if method == "POST" and parts[-1] == "documents":
            return self._task(parts[1], "documentAdditionOrUpdate")
        if method == "POST" and parts[-1] == "delete-batch":
            return self._task(parts[1], "documentDeletion")
        if method == "POST" and parts == ["swap-indexes"]:
            return self._task(None, "indexSwap")
        if method == "DELETE" and parts[0] == "indexes":
            return self._task(parts[1], "indexDeletion")
        return 404, _error("not_found", f"no route {method} {path}")

    def paths(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests if not p.startswith("/tasks/")]


@pytest.fixture
def fake() -> Iterator[FakeMeili]:
    server = FakeMeili()
    yield server
    server.close()


@pytest.fixture
def meili(fake: FakeMeili) -> MeiliEngine:
    engine = make_engine(None, fake.url, "masterKey", prefix="t_")  # type: ignore[arg-type]
    assert isinstance(engine, MeiliEngine)
    engine.task_poll_ms = 1
    return engine


def test_ensure_index_creates_and_configures(fake: FakeMeili, meili: MeiliEngine) -> None:
    meili.ensure_index(DISCLOSURES)
    assert fake.paths() == [("POST", "/indexes"), ("PATCH", "/indexes/t_disclosures/settings")]
    assert fake.requests[0][2] == {"uid": "t_disclosures", "primaryKey": "id"}
    settings = fake.requests[2][2]
    assert settings == {
        "searchableAttributes": ["_yk_bi", "_yk_uni"],
        "displayedAttributes": ["*"],
        "filterableAttributes": ["county", "department", "kind", "project_code",
                                 "project_name", "region_codes", "township", "village",
                                 "year"],
        "sortableAttributes": ["amount_cents", "date", "id"],
        "rankingRules": ["sort", "words", "typo", "proximity", "attribute", "exactness"],
        "stopWords": [],
        "synonyms": {},
        "typoTolerance": {"enabled": False},
        "prefixSearch": "disabled",
        "proximityPrecision": "byWord",
        "facetSearch": False,
        "faceting": {"maxValuesPerFacet": FACET_LIMIT, "sortFacetValuesBy": {"*": "count"}},
        "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
    }


def test_ensure_index_tolerates_an_existing_index(fake: FakeMeili, meili: MeiliEngine) -> None:
    fake.fail_tasks["indexCreation"] = _error("index_already_exists", "Index already exists.")
    meili.ensure_index(PAYMENTS)
    assert fake.paths()[-1] == ("PATCH", "/indexes/t_payments/settings")


def test_documents_go_in_batches_with_shadow_fields(fake: FakeMeili, meili: MeiliEngine) -> None:
    meili.ensure_index(DISCLOSURES)
    docs = [{"id": f"d{i}", "name_masked": "王*丰", "village": "王庄村", "county": "鲁山县",
             "year": 2024} for i in range(5)]
    assert meili.replace_documents("disclosures", docs, batch_size=2) == 5
    posts = [(p, b) for m, p, b in fake.requests if p == "/indexes/t_disclosures/documents"]
    assert [len(b) for _, b in posts] == [2, 2, 1]
    tokens = index_tokens(["王*丰", "王庄村", "鲁山县"])
    assert posts[0][1][0] == {**docs[0], "_yk_bi": tokens.bigrams, "_yk_uni": tokens.unigrams}
    # every task was waited for
    waited = [p for m, p, _ in fake.requests if p.startswith("/tasks/")]
    assert len(waited) == len(fake.tasks)


def test_failed_document_task_is_an_error(fake: FakeMeili, meili: MeiliEngine) -> None:
    meili.ensure_index(DISCLOSURES)
    fake.fail_tasks["documentAdditionOrUpdate"] = _error(
        "invalid_document_id", "Document identifier `a b` is invalid.")
    with pytest.raises(TaskFailed) as caught:
        meili.replace_documents("disclosures", [{"id": "a b"}])
    assert caught.value.code == "invalid_document_id"
    assert isinstance(caught.value, SearchError)


def test_search_request_and_answer(fake: FakeMeili, meili: MeiliEngine) -> None:
    meili.ensure_index(DISCLOSURES)
    fake.routes[("POST", "/indexes/t_disclosures/search")] = (200, {
        "hits": [{"id": "d1", "name_masked": "王*丰", "village": "王庄村",
                  "_yk_bi": "x", "_yk_uni": "y"}],
        "query": "…", "processingTimeMs": 2, "hitsPerPage": 10, "page": 2,
        "totalPages": 5, "totalHits": 41,
        "facetDistribution": {"village": {"王庄村": 3, "李庄村": 38}, "year": {"2024": 41}},
        "facetStats": {},
    })
    result = meili.search("disclosures", SearchQuery(
        q="王 庄村", filters={"region_codes": "410423", "year": [2023, 2024],
                              "village": 'say "hi" \\ there'},
        facets=["village", "year"], sort=[("date", "desc")], page=2, per_page=10))
    method, path, body = fake.requests[-1]
    w = char_word
    assert body == {
        "q": f'"{w("王")}" "{w("庄")}{w("村")}"',
        "page": 2, "hitsPerPage": 10, "matchingStrategy": "all",
        "sort": ["date:desc", "id:asc"],
        "filter": ['region_codes = "410423"', 'year IN ["2023", "2024"]',
                   'village = "say \\"hi\\" \\\\ there"'],
        "facets": ["village", "year"],
    }
    assert result.hits == [{"id": "d1", "name_masked": "王*丰", "village": "王庄村"}]
    assert result.total == 41 and result.page == 2 and result.per_page == 10
    assert result.facets == {"village": {"李庄村": 38, "王庄村": 3}, "year": {"2024": 41}}


def test_search_without_text_sorts_by_primary_key(fake: FakeMeili, meili: MeiliEngine) -> None:
    meili.ensure_index(PAYMENTS)
    fake.routes[("POST", "/indexes/t_payments/search")] = (200, {
        "hits": [], "totalHits": 0, "page": 1, "hitsPerPage": 20, "totalPages": 0,
        "processingTimeMs": 0, "query": ""})
    result = meili.search("payments", SearchQuery(filters={"person_key": "ab12"}))
    assert fake.requests[-1][2] == {"q": "", "page": 1, "hitsPerPage": 20,
                                    "matchingStrategy": "all", "sort": ["id:asc"],
                                    "filter": ['person_key = "ab12"']}
    assert result.total == 0 and result.hits == []


def test_meilisearch_errors_map_to_port_errors(fake: FakeMeili, meili: MeiliEngine) -> None:
    meili.ensure_index(DISCLOSURES)
    route = ("POST", "/indexes/t_disclosures/search")
    fake.routes[route] = (400, _error("invalid_search_filter",
                                      "Attribute `kind` is not filterable."))
    with pytest.raises(InvalidQuery):
        meili.search("disclosures", SearchQuery(filters={"kind": "result"}))
    fake.routes[route] = (404, _error("index_not_found", "Index `t_disclosures` not found."))
    with pytest.raises(IndexNotFound):
        meili.search("disclosures", SearchQuery(q="王"))
    fake.routes[route] = (503, _error("internal", "overloaded", "internal"))
    with pytest.raises(SearchUnavailable):
        meili.search("disclosures", SearchQuery(q="王"))
    with pytest.raises(InvalidQuery):  # refused before any request
        meili.search("disclosures", SearchQuery(q="王" * 101))


def test_get_count_delete(fake: FakeMeili, meili: MeiliEngine) -> None:
    meili.ensure_index(DISCLOSURES)
    fake.routes[("GET", "/indexes/t_disclosures/documents/d1")] = (
        200, {"id": "d1", "village": "王庄村", "_yk_bi": "x", "_yk_uni": "y"})
    assert meili.get("disclosures", "d1") == {"id": "d1", "village": "王庄村"}
    fake.routes[("GET", "/indexes/t_disclosures/documents/d2")] = (
        404, _error("document_not_found", "Document `d2` not found."))
    assert meili.get("disclosures", "d2") is None
    fake.routes[("GET", "/indexes/t_disclosures/stats")] = (
        200, {"numberOfDocuments": 7, "isIndexing": False, "fieldDistribution": {}})
    assert meili.count("disclosures") == 7
    meili.delete_documents("disclosures", ["d1", 2])
    assert fake.requests[-2][:3] == ("POST", "/indexes/t_disclosures/documents/delete-batch",
                                     ["d1", "2"])
    meili.delete_documents("disclosures", [])  # nothing sent
    assert fake.requests[-1][1].startswith("/tasks/")


def test_swap_delete_list(fake: FakeMeili, meili: MeiliEngine) -> None:
    meili.swap("disclosures", "disclosures_next")
    assert fake.paths()[-1] == ("POST", "/swap-indexes")
    assert fake.requests[-2][2] == [{"indexes": ["t_disclosures", "t_disclosures_next"]}]
    fake.fail_tasks["indexSwap"] = _error("index_not_found", "Index `t_x` not found.")
    with pytest.raises(IndexNotFound):
        meili.swap("x", "disclosures")
    assert meili.delete_index("disclosures_next") is True
    fake.fail_tasks["indexDeletion"] = _error("index_not_found", "Index `t_gone` not found.")
    assert meili.delete_index("gone") is False
    fake.routes[("GET", "/indexes?limit=1000&offset=0")] = (200, {
        "results": [{"uid": "t_disclosures", "primaryKey": "id"},
                    {"uid": "other_policies", "primaryKey": "id"}],
        "offset": 0, "limit": 1000, "total": 2})
    assert meili.list_indexes() == ["disclosures"]


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
