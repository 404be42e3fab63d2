"""The production search engine: Meilisearch through the official ``meilisearch`` client.

Meilisearch segments Chinese with jieba and matches words and word prefixes only, so this engine
never lets it see Chinese: every document gets two shadow attributes built by
:mod:`search.tokenize` — ``_yk_bi`` (bigram words, a gap word between fields) and
``_yk_uni`` (unigram words) — which are the only searchable attributes.  A query becomes one
quoted phrase per term (``matchingStrategy: all``), with typo tolerance and prefix search off.
Shadow attributes are stripped from returned hits.  Highlighting is the app's job
(``tokenize.highlight``).

Exactness.  Meilisearch checks a phrase in windows of three words (milli's
``compute_phrase_docids``): each pair of words in a window must stand close enough *somewhere*
in the document, and the windows need not be satisfied at the same place.  A term of one to three
characters (a phrase of at most :data:`EXACT_PHRASE_WORDS` words) is matched exactly.  A term of
four or more characters can match a record that holds its bigrams split over two fields
(``甲乙丙丁`` in one, ``乙丙丁戊`` in another for ``甲乙丙丁戊``), so for those terms Meilisearch's
hits are only *candidates*: :meth:`MeiliEngine.search` fetches them in result order, at least
:data:`VERIFY_WINDOW` at a time, and keeps those whose ``_yk_bi`` stream holds every long term
as consecutive words (:func:`~search.tokenize.stream_has_phrase`, the same rule as the
embedded engine's phrase query).  What that costs:

* hits: always exact (every returned hit was verified; order is Meilisearch's order);
* when all candidates were verified (at most :data:`VERIFY_WINDOW`, or ``page * per_page`` if
  more, plus as many as false candidates took): ``total`` and facet counts are exact, counted
  by the adapter over the verified hits;
* otherwise: ``total`` and facet counts are Meilisearch's counts over the candidates minus the
  false candidates found -- never below the exact value, above it only by false candidates
  beyond the verified prefix (rare: the term's bigrams must stand in the right places);
* one request of up to :data:`VERIFY_WINDOW` whole documents instead of one page.

Order is made deterministic by putting the ``sort`` ranking rule first and always sorting by the
requested key and then the primary key (both engines order the same way).

Failures: connection errors and timeouts, and 5xx answers → :class:`SearchUnavailable`;
``index_not_found`` → :class:`IndexNotFound`; ``invalid_search_*`` → :class:`InvalidQuery`;
a failed indexing task → :class:`TaskFailed` (a :class:`SearchError`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import meilisearch
from meilisearch.errors import (
    MeilisearchApiError,
    MeilisearchCommunicationError,
    MeilisearchTimeoutError,
)

from search.base import (
    FACET_LIMIT,
    IndexNotFound,
    IndexSpec,
    InvalidQuery,
    SearchError,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    filter_values,
    validate_index_name,
    validate_query,
)
from search.generation import Generation, ProcessGeneration
from search.schemas import SPECS
from search.tokenize import index_tokens, query_phrases, stream_has_phrase

__all__ = ["EXACT_PHRASE_WORDS", "MAX_TOTAL_HITS", "MIN_VERSION", "SHADOW_FIELDS", "VERIFY_WINDOW",
           "MeiliEngine", "TaskFailed", "filter_expression", "index_settings", "shadow_document"]

SHADOW_BI = "_yk_bi"
SHADOW_UNI = "_yk_uni"
SHADOW_FIELDS = (SHADOW_BI, SHADOW_UNI)
MAX_TOTAL_HITS = 1_000_000
MIN_VERSION = (1, 12)  # prefixSearch and facetSearch settings
EXACT_PHRASE_WORDS = 2  # Meilisearch matches phrases of up to this many words exactly
VERIFY_WINDOW = 500  # candidates fetched at a time for terms of 4+ characters
RANKING_RULES = ["sort", "words", "typo", "proximity", "attribute", "exactness"]


class TaskFailed(SearchError):
    """A Meilisearch task ended as failed or canceled."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def index_settings(spec: IndexSpec) -> dict[str, Any]:
    """The settings body (PATCH /indexes/{uid}/settings) for ``spec``."""
    return {
        "searchableAttributes": list(SHADOW_FIELDS),
        "displayedAttributes": ["*"],
        "filterableAttributes": sorted(set(spec.filterable) | set(spec.facetable)),
        "sortableAttributes": sorted(set(spec.sortable) | {spec.primary_key}),
        "rankingRules": RANKING_RULES,
        "stopWords": [],
        "synonyms": {},
        "typoTolerance": {"enabled": False},
        "prefixSearch": "disabled",
        "proximityPrecision": "byWord",
        "facetSearch": False,
        "faceting": {"maxValuesPerFacet": FACET_LIMIT, "sortFacetValuesBy": {"*": "count"}},
        "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
    }


def shadow_document(spec: IndexSpec, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` plus its tokenised shadow attributes."""
    out = dict(doc)
    if spec.searchable:
        tokens = index_tokens([doc.get(f) for f in spec.searchable])
        out[SHADOW_BI] = tokens.bigrams
        out[SHADOW_UNI] = tokens.unigrams
    return out


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filter_expression(filters: dict[str, object]) -> list[str]:
    """Meilisearch filter (a list of AND-ed expressions); every value quoted and escaped."""
    out = []
    for name, value in filters.items():
        values = filter_values(value)
        if len(values) == 1:
            out.append(f"{name} = {_quote(values[0])}")
        else:
            out.append(f"{name} IN [{', '.join(_quote(v) for v in values)}]")
    return out


def phrase_query(terms: list[str]) -> str:
    """The Meilisearch ``q``: one quoted phrase of opaque words per query term."""
    return " ".join('"' + " ".join(p) + '"' for p in query_phrases(" ".join(terms)))


def _count_values(docs: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, int]]:
    """Facet counts over ``docs`` as both engines count them (each value once per document)."""
    counts: dict[str, dict[str, int]] = {name: {} for name in names}
    for doc in docs:
        for name in names:
            for value in set(filter_values(doc.get(name))):
                counts[name][value] = counts[name].get(value, 0) + 1
    return counts


def _facet_counts(distribution: dict[str, Any], names: list[str]) -> dict[str, dict[str, int]]:
    """The port's facets: string keys, positive counts, most frequent first, at most 500."""
    facets = {}
    for name in names:
        pairs = [(str(k), int(v)) for k, v in (distribution.get(name) or {}).items() if int(v) > 0]
        pairs.sort(key=lambda kv: (-kv[1], kv[0]))
        facets[name] = dict(pairs[:FACET_LIMIT])
    return facets


def _spec_from_settings(name: str, settings: dict[str, Any], primary_key: str) -> IndexSpec:
    filterable = list(settings.get("filterableAttributes") or [])
    filterable = [f if isinstance(f, str) else f.get("attributePatterns", [""])[0]
                  for f in filterable]
    sortable = [f for f in settings.get("sortableAttributes") or [] if f != primary_key]
    searchable = ["*"] if SHADOW_BI in (settings.get("searchableAttributes") or []) else []
    return IndexSpec(name, primary_key, searchable, filterable, sortable, filterable)


class MeiliEngine:
    """The :class:`~search.base.SearchEngine` over a Meilisearch server."""

    def __init__(self, url: str, api_key: str | None = None, prefix: str = "",
                 timeout: float = 10, task_timeout_ms: int = 600_000,
                 task_poll_ms: int = 50, generation: Generation | None = None) -> None:
        self.url = url
        self.prefix = prefix
        # bumped after every write task that succeeded (see search.generation)
        self.generation: Generation = generation or ProcessGeneration()
        self.client = meilisearch.Client(url, api_key, timeout=timeout)
        self.task_timeout_ms = task_timeout_ms
        self.task_poll_ms = task_poll_ms
        self._specs: dict[str, IndexSpec] = {}

    # -- helpers ----------------------------------------------------------------------------

    def _uid(self, name: str) -> str:
        return self.prefix + validate_index_name(name)

    @contextlib.contextmanager
    def _errors(self, name: str | None = None) -> Iterator[None]:
        try:
            yield
        except (MeilisearchCommunicationError, MeilisearchTimeoutError) as exc:
            raise SearchUnavailable(f"Meilisearch unavailable: {exc.message}") from exc
        except MeilisearchApiError as exc:
            code = exc.code or ""
            if code == "index_not_found":
                raise IndexNotFound(f"search index {name!r} does not exist") from exc
            if exc.status_code >= 500:
                raise SearchUnavailable(f"Meilisearch error {exc.status_code}: {code}") from exc
            if code.startswith("invalid_search") or code.startswith("invalid_document_filter"):
                raise InvalidQuery(exc.message) from exc
            raise SearchError(f"Meilisearch {code or exc.status_code}: {exc.message}") from exc

    def _wait(self, task_info: Any, name: str | None = None) -> Any:
        uid = task_info["taskUid"] if isinstance(task_info, dict) else task_info.task_uid
        with self._errors(name):
            task = self.client.wait_for_task(uid, timeout_in_ms=self.task_timeout_ms,
                                             interval_in_ms=self.task_poll_ms)
        if task.status != "succeeded":
            error = task.error or {}
            code, message = error.get("code"), error.get("message", task.status)
            if code == "index_not_found":
                raise IndexNotFound(f"search index {name!r} does not exist")
            raise TaskFailed(code, message)
        self.generation.bump()
        return task

    def _spec(self, name: str) -> IndexSpec:
        spec = self._specs.get(name)
        if spec is not None:
            return spec
        uid = self._uid(name)
        with self._errors(name):
            info = self.client.http.get(f"indexes/{uid}")
            settings = self.client.http.get(f"indexes/{uid}/settings")
        known = SPECS.get(name)
        if known is not None and index_settings(known)["filterableAttributes"] == sorted(
                settings.get("filterableAttributes") or []):
            spec = known
        else:
            spec = _spec_from_settings(name, settings, info.get("primaryKey") or "id")
        self._specs[name] = spec
        return spec

    # -- the port ---------------------------------------------------------------------------

    def ensure_index(self, spec: IndexSpec) -> None:
        uid = self._uid(spec.name)
        with self._errors(spec.name):
            created = self.client.create_index(uid, {"primaryKey": spec.primary_key})
        try:
            self._wait(created, spec.name)
        except TaskFailed as exc:
            if exc.code != "index_already_exists":
                raise
        with self._errors(spec.name):
            try:
                task = self.client.index(uid).update_settings(index_settings(spec))
            except MeilisearchApiError as exc:
                if exc.code == "bad_request":  # e.g. "Unknown field `prefixSearch`"
                    self._require_version(exc)
                raise
        self._wait(task, spec.name)
        self._specs[spec.name] = spec

    def _require_version(self, cause: Exception) -> None:
        """Raise a clear :class:`SearchError` when the server is older than :data:`MIN_VERSION`."""
        with self._errors():
            version = str(self.client.get_version().get("pkgVersion", "0.0"))
        try:
            have = tuple(int(p) for p in version.split(".")[:2])
        except ValueError:
            return
        if have < MIN_VERSION:
            need = ".".join(map(str, MIN_VERSION))
            raise SearchError(f"Meilisearch {version} is too old: yikatong needs {need} or newer "
                              "(index settings prefixSearch, facetSearch)") from cause

    def replace_documents(self, index: str, docs: Iterable[dict[str, Any]],
                          batch_size: int = 5000) -> int:
        spec = self._spec(index)
        target = self.client.index(self._uid(index))
        tasks, batch, sent = [], [], 0
        for doc in docs:
            if doc.get(spec.primary_key) in (None, ""):
                raise SearchError(f"document without primary key {spec.primary_key!r}")
            batch.append(shadow_document(spec, doc))
            if len(batch) >= batch_size:
                with self._errors(index):
                    tasks.append(target.add_documents(batch))
                sent += len(batch)
                batch = []
        if batch:
            with self._errors(index):
                tasks.append(target.add_documents(batch))
            sent += len(batch)
        for task in tasks:
            self._wait(task, index)
        return sent

    def delete_documents(self, index: str, ids: Iterable[str | int]) -> None:
        ids = [str(i) for i in ids]
        if not ids:
            return
        with self._errors(index):
            task = self.client.http.post(
                f"indexes/{self._uid(index)}/documents/delete-batch", ids)
        self._wait(task, index)

    def write_documents(self, index: str, upserts: list[dict[str, Any]], deletes: list[str]) -> None:
        spec = self._spec(index)
        if any(doc.get(spec.primary_key) in (None, "") for doc in upserts):
            raise SearchError(f"document without primary key {spec.primary_key!r}")  # before deleting
        self.delete_documents(index, deletes)
        if upserts:
            self.replace_documents(index, upserts)

    def search(self, index: str, query: SearchQuery) -> SearchResult:
        started = time.perf_counter()
        spec = self._spec(index)
        terms = validate_query(spec, query)
        if any(not filter_values(v) for v in query.filters.values()):
            return SearchResult([], 0, {f: {} for f in query.facets}, query.page,
                                query.per_page, 0.0)
        sort = [f"{name}:{direction}" for name, direction in query.sort]
        if not any(name == spec.primary_key for name, _ in query.sort):
            sort.append(f"{spec.primary_key}:asc")
        params: dict[str, Any] = {
            "page": query.page,
            "hitsPerPage": query.per_page,
            "matchingStrategy": "all",
            "sort": sort,
        }
        if query.filters:
            params["filter"] = filter_expression(query.filters)
        if query.facets:
            params["facets"] = list(query.facets)
        target = self.client.index(self._uid(index))
        q = phrase_query(terms)
        long_phrases = [p for p in query_phrases(" ".join(terms)) if len(p) > EXACT_PHRASE_WORDS]
        if long_phrases:
            hits, total, facets = self._verified_search(target, index, q, params, query,
                                                        long_phrases)
        else:
            with self._errors(index):
                answer = target.search(q, params)
            hits = answer.get("hits", [])
            total = int(answer.get("totalHits", len(hits)))
            facets = _facet_counts(answer.get("facetDistribution") or {}, query.facets)
        return SearchResult(hits=[{k: v for k, v in hit.items() if k not in SHADOW_FIELDS}
                                  for hit in hits],
                            total=total, facets=facets, page=query.page, per_page=query.per_page,
                            took_ms=round((time.perf_counter() - started) * 1000, 3))

    def _verified_search(self, target: Any, index: str, q: str, params: dict[str, Any],
                         query: SearchQuery, phrases: list[list[str]]
                         ) -> tuple[list[dict[str, Any]], int, dict[str, dict[str, int]]]:
        """Hits, total and facets for a query with terms of 4+ characters (module docstring)."""
        need = query.page * query.per_page
        batch = max(VERIFY_WINDOW, need)
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        first: dict[str, Any] | None = None
        chunk = 0
        while True:
            chunk += 1
            body = dict(params, page=chunk, hitsPerPage=batch)
            if chunk > 1:
                body.pop("facets", None)
            with self._errors(index):
                answer = target.search(q, body)
            first = first or answer
            hits = answer.get("hits", [])
            for hit in hits:
                stream = hit.get(SHADOW_BI) or ""
                holds = all(stream_has_phrase(stream, p) for p in phrases)
                (kept if holds else dropped).append(hit)
            candidates = int(first.get("totalHits", 0))
            if len(hits) < batch or (chunk - 1) * batch + len(hits) >= candidates:
                exhaustive = True
                break
            if len(kept) >= need:
                exhaustive = False
                break
        page = kept[need - query.per_page:need]
        if exhaustive:
            return page, len(kept), _facet_counts(_count_values(kept, query.facets),
                                                  query.facets)
        wrong = _count_values(dropped, query.facets)
        distribution = {
            name: {str(k): int(v) - wrong[name].get(str(k), 0)
                   for k, v in ((first.get("facetDistribution") or {}).get(name) or {}).items()}
            for name in query.facets
        }
        return page, candidates - len(dropped), _facet_counts(distribution, query.facets)

    def get(self, index: str, id: str | int) -> dict[str, Any] | None:
        uid = self._uid(index)
        try:
            with self._errors(index):
                doc = self.client.http.get(f"indexes/{uid}/documents/{quote(str(id), safe='')}")
        except SearchError as exc:
            cause = exc.__cause__
            if isinstance(cause, MeilisearchApiError) and cause.code == "document_not_found":
                return None
            raise
        return {k: v for k, v in doc.items() if k not in SHADOW_FIELDS}

    def count(self, index: str) -> int:
        with self._errors(index):
            stats = self.client.http.get(f"indexes/{self._uid(index)}/stats")
        return int(stats["numberOfDocuments"])

    def swap(self, a: str, b: str) -> None:
        with self._errors(a):
            task = self.client.swap_indexes([{"indexes": [self._uid(a), self._uid(b)]}])
        self._wait(task, f"{a}/{b}")
        spec_a, spec_b = self._specs.pop(a, None), self._specs.pop(b, None)
        if spec_b is not None:
            self._specs[a] = spec_b.renamed(a)
        if spec_a is not None:
            self._specs[b] = spec_a.renamed(b)

    def delete_index(self, name: str) -> bool:
        with self._errors(name):
            task = self.client.delete_index(self._uid(name))
        self._specs.pop(name, None)
        try:
            self._wait(task, name)
        except IndexNotFound:
            return False
        return True

    def list_indexes(self) -> list[str]:
        names: list[str] = []
        offset = 0
        while True:
            with self._errors():
                page = self.client.get_raw_indexes({"limit": 1000, "offset": offset})
            results = page.get("results", [])
            names.extend(r["uid"][len(self.prefix):] for r in results
                         if r["uid"].startswith(self.prefix))
            offset += len(results)
            if not results or offset >= page.get("total", 0):
                return sorted(names)

    def stats(self) -> dict[str, Any]:
        with self._errors():
            raw = self.client.get_all_stats()
        indexes = {
            uid[len(self.prefix):]: {"documents": s.get("numberOfDocuments"),
                                     "indexing": s.get("isIndexing")}
            for uid, s in (raw.get("indexes") or {}).items() if uid.startswith(self.prefix)
        }
        return {"engine": "meilisearch", "url": self.url, "database_bytes":
                raw.get("databaseSize"), "indexes": indexes}
