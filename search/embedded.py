"""The embedded search engine: tantivy indexes under a data folder, zero set-up.

Chosen after measurement (docs/adr/0002-embedded-search-engine.md): tantivy over the
unigram/bigram word streams of :mod:`search.tokenize` answers the contract exactly and
computes facets over the whole hit set in Rust.

Layout of ``root``::

    registry.json      {"indexes": {name: {"dir": "<version dir>", "spec": {...}}}}
    registry.lock      flock held while the registry is changed
    generation         the index generation (search.generation), bumped after every commit
                       and registry change: caches of readers are keyed by it
    v/<name>-<time>-<random>/   one tantivy index per version (+ spec.json, write.lock)

Processes share the folder: the indexer writes, portal and bot processes read.

* Readers stat ``registry.json`` and the version's ``meta.json`` on every call (two stat calls)
  and reopen/reload only when one changed.  ``registry.json`` is only ever replaced whole with
  ``os.replace``, so a reader sees the old or the new mapping, never a half one.
* A write (``replace_documents``/``delete_documents``/``write_documents``) holds the version's ``write.lock`` and is
  one tantivy commit: readers see all of it or none of it.  A crash before the commit leaves the
  previous commit serving.
* Rebuild = ``ensure_index(tmp)``, fill ``tmp``, ``swap(live, tmp)``, ``delete_index(tmp)``: the
  swap exchanges two registry entries in one ``os.replace``.  Old version directories are removed
  after the swap; readers still holding them keep their memory maps until they notice the change.

Schema per index: ``_pk`` (primary key, raw: get/delete), ``_src`` (the
document as stored JSON), ``_bi`` (bigram stream, positions) and ``_uni`` (unigram stream),
``f_<field>`` (raw fast string values of every filterable/facetable field, lists multi-valued) and
``oa_<field>``/``od_<field>`` (unsigned order keys for ascending/descending sort, see
:func:`sort_key`).  Ordering by a string fast field costs time linear in the page offset in
tantivy-py (≈ 75 µs per skipped hit), unsigned keys do not.  With no sort, hits come in index
order (all scores equal, ties by document address): fixed between writes, so paging is stable.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import tantivy

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
from search.generation import FileGeneration, Generation, generation_path
from search.tokenize import index_tokens, query_phrases

__all__ = ["EmbeddedEngine", "sort_key"]

_HEAP = 256_000_000
_SEGMENT_SIZE = 1_000_000


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _facet_pool() -> ThreadPoolExecutor:
    """Threads that count facets while the caller's thread collects the page (per process)."""
    global _pool
    pid = os.getpid()
    if _pool is None or _pool[0] != pid:  # a forked child gets its own threads
        with _pool_lock:
            if _pool is None or _pool[0] != pid:
                _pool = (pid, ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2),
                                                 thread_name_prefix="yk-facets"))
    return _pool[1]


def _spec_body(spec: IndexSpec | dict[str, Any]) -> dict[str, Any]:
    data = dict(spec.to_dict() if isinstance(spec, IndexSpec) else spec)
    data.pop("name", None)
    return data


_MAX = 0xFFFF_FFFF_FFFF_FFFF
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _number_key(value: float) -> int:
    bits = struct.unpack(">Q", struct.pack(">d", float(value)))[0]
    return (~bits & _MAX) if bits >> 63 else bits | (1 << 63)


def sort_key(value: object, desc: bool = False) -> int:
    """An unsigned 64-bit key whose order is the order of ``value`` (reversed when ``desc``).

    Exact for numbers (integers up to 2**53) and ``YYYY-MM-DD`` dates; other strings order by
    their first nine ASCII characters.  Missing values sort last in both directions (as
    Meilisearch does).  Equal keys keep the index order, which is fixed between writes.
    """
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value is None:
        return _MAX
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        key = _number_key(value)
    elif isinstance(value, str) and _DATE.match(value):
        key = _number_key(int(value.replace("-", "")))
    else:
        key = 0
        for ch in str(value)[:9].ljust(9, "\0"):
            key = (key << 7) | min(ord(ch), 0x7F)
    key = min(key, _MAX - 1)
    return _MAX - 1 - key if desc else key


class _Handle:
    """One opened version directory: tantivy index, its spec and a freshness check."""

    def __init__(self, path: Path, spec: IndexSpec) -> None:
        self.path = path
        self.spec = spec
        self.index = tantivy.Index.open(str(path))
        self.index.config_reader(reload_policy="manual")
        self.schema = self.index.schema
        self.filter_fields = list(dict.fromkeys([*spec.filterable, *spec.facetable]))
        self.sort_fields = list(dict.fromkeys([*spec.sortable, spec.primary_key]))
        self._meta_path = str(path / "meta.json")  # a str: no path join on every search
        self._meta_stat = self._stat()
        self._lock = threading.Lock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._meta_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def searcher(self) -> tantivy.Searcher:
        current = self._stat()
        if current != self._meta_stat:
            with self._lock:
                if current != self._meta_stat:
                    self.index.reload()
                    self._meta_stat = current
        return self.index.searcher()

    def to_tantivy(self, doc: dict[str, Any], pk: str) -> tantivy.Document:
        spec = self.spec
        tokens = index_tokens([doc.get(f) for f in spec.searchable])
        data: dict[str, Any] = {
            "_pk": pk,
            "_src": json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(),
            "_bi": tokens.bigrams,
            "_uni": tokens.unigrams,
        }
        for name in self.filter_fields:
            values = filter_values(doc.get(name))
            if values:
                data["f_" + name] = values
        for name in self.sort_fields:
            value = doc.get(name)
            data["oa_" + name] = sort_key(value)
            data["od_" + name] = sort_key(value, desc=True)
        return tantivy.Document.from_dict(data, self.schema)


def _build_schema(spec: IndexSpec) -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("_pk", tokenizer_name="raw", index_option="basic")
    sb.add_bytes_field("_src", stored=True)
    sb.add_text_field("_bi", tokenizer_name="whitespace", index_option="position")
    sb.add_text_field("_uni", tokenizer_name="whitespace", index_option="basic")
    for name in dict.fromkeys([*spec.filterable, *spec.facetable]):
        sb.add_text_field("f_" + name, fast=True, tokenizer_name="raw", index_option="basic")
    for name in dict.fromkeys([*spec.sortable, spec.primary_key]):
        sb.add_unsigned_field("oa_" + name, fast=True)
        sb.add_unsigned_field("od_" + name, fast=True)
    return sb.build()


class EmbeddedEngine:
    """The :class:`~search.base.SearchEngine` over tantivy in a local folder."""

    def __init__(self, root: Path | str, prefix: str = "", generation: Generation | None = None) -> None:
        self.root = Path(root)
        self.prefix = prefix
        # bumped after every commit and registry change (see search.generation)
        self.generation: Generation = generation or FileGeneration(generation_path(self.root, prefix))
        try:
            (self.root / "v").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SearchUnavailable(f"search folder {self.root} is not usable: {exc}") from exc
        self._registry_path = self.root / "registry.json"
        self._registry_file = str(self._registry_path)  # stat on every call: no path join each time
        self._lock = threading.RLock()
        self._registry_stat: tuple[int, int, int] | None = None
        self._registry: dict[str, dict[str, Any]] = {}
        self._handles: dict[str, _Handle] = {}

    # -- registry ---------------------------------------------------------------------------

    def _full(self, name: str) -> str:
        return self.prefix + validate_index_name(name)

    def _read_registry(self, force: bool = False) -> dict[str, dict[str, Any]]:
        try:
            st = os.stat(self._registry_file)
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if force or stamp != self._registry_stat:
                if stamp is None:
                    registry: dict[str, dict[str, Any]] = {}
                else:
                    try:
                        registry = json.loads(self._registry_path.read_text())["indexes"]
                    except FileNotFoundError:
                        registry = {}
                    except (OSError, ValueError, KeyError) as exc:
                        raise SearchUnavailable(f"search registry unreadable: {exc}") from exc
                self._registry, self._registry_stat = registry, stamp
                live = {entry["dir"] for entry in registry.values()}
                for key in [k for k in self._handles if k not in live]:
                    del self._handles[key]
            return self._registry

    @contextlib.contextmanager
    def _changing_registry(self) -> Iterator[dict[str, dict[str, Any]]]:
        """Exclusive across processes; yields a fresh copy that is written back atomically."""
        with open(self.root / "registry.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                registry = {k: dict(v) for k, v in self._read_registry(force=True).items()}
                yield registry
                tmp = self.root / f".registry.{os.getpid()}.{secrets.token_hex(4)}.tmp"
                with open(tmp, "w") as fh:
                    json.dump({"indexes": registry}, fh, ensure_ascii=False, indent=1)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self._registry_path)
                _fsync_dir(self.root)
                self._read_registry(force=True)
                self.generation.bump()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _handle(self, name: str) -> _Handle:
        full = self._full(name)
        for attempt in range(2):
            registry = self._read_registry(force=attempt > 0)
            entry = registry.get(full)
            if entry is None:
                raise IndexNotFound(f"search index {name!r} does not exist")
            with self._lock:
                handle = self._handles.get(entry["dir"])
                if handle is not None:
                    return handle
                try:
                    handle = _Handle(self.root / "v" / entry["dir"],
                                     IndexSpec.from_dict({**entry["spec"], "name": name}))
                except ValueError:
                    continue  # removed by a swap + delete in another process: re-read
                self._handles[entry["dir"]] = handle
                return handle
        raise SearchUnavailable(f"search index {name!r} could not be opened")

    @contextlib.contextmanager
    def _writing(self, handle: _Handle) -> Iterator[tantivy.IndexWriter]:
        """One commit, under the version's write lock (writers in other processes wait)."""
        with open(handle.path / "write.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                writer = handle.index.writer(heap_size=_HEAP, num_threads=1)
                try:
                    yield writer
                except BaseException:
                    writer.rollback()
                    raise
                writer.commit()
                # Visible from here (readers reload on meta.json): tell the caches now. The segment
                # merges the commit started change no document, only how they are stored, and on a
                # 1M-document index can take seconds; the next writer waits for them (the lock).
                self.generation.bump()
                writer.wait_merging_threads()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _new_version(self, name: str, spec: IndexSpec) -> str:
        dirname = f"{name}-{time.time_ns()}-{secrets.token_hex(3)}"
        path = self.root / "v" / dirname
        path.mkdir(parents=True)
        index = tantivy.Index(_build_schema(spec), path=str(path), reuse=False)
        writer = index.writer(heap_size=15_000_000, num_threads=1)
        writer.commit()
        writer.wait_merging_threads()
        (path / "spec.json").write_text(json.dumps(spec.to_dict(), ensure_ascii=False))
        return dirname

    # -- the port ---------------------------------------------------------------------------

    def ensure_index(self, spec: IndexSpec) -> None:
        full = self._full(spec.name)
        entry = self._read_registry().get(full)
        if entry is not None and entry["spec"] == _spec_body(spec):
            return
        with self._changing_registry() as registry:
            entry = registry.get(full)
            if entry is not None and entry["spec"] == _spec_body(spec):
                return
            dirname = self._new_version(full, spec)
            if entry is not None:  # settings changed: re-index the stored documents
                old = self._handle(spec.name)
                new = _Handle(self.root / "v" / dirname, spec)
                with self._writing(old), self._writing(new) as writer:
                    for doc in _all_documents(old):
                        pk = str(doc[spec.primary_key])
                        writer.add_document(new.to_tantivy(doc, pk))
            registry[full] = {"dir": dirname, "spec": _spec_body(spec)}
        if entry is not None:
            shutil.rmtree(self.root / "v" / entry["dir"], ignore_errors=True)

    def replace_documents(self, index: str, docs: Iterable[dict[str, Any]],
                          batch_size: int = 5000) -> int:
        handle = self._handle(index)
        pk_field = handle.spec.primary_key
        sent = 0
        with self._writing(handle) as writer:
            was_empty = handle.searcher().num_docs == 0
            seen: set[str] = set()
            for doc in docs:
                if pk_field not in doc or doc[pk_field] in (None, ""):
                    raise SearchError(f"document without primary key {pk_field!r}")
                pk = str(doc[pk_field])
                if not was_empty or pk in seen:
                    writer.delete_documents_by_term("_pk", pk)
                if was_empty:
                    seen.add(pk)
                writer.add_document(handle.to_tantivy(doc, pk))
                sent += 1
        return sent

    def delete_documents(self, index: str, ids: Iterable[str | int]) -> None:
        self.write_documents(index, [], [str(i) for i in ids])

    def write_documents(self, index: str, upserts: list[dict[str, Any]], deletes: list[str]) -> None:
        handle = self._handle(index)
        pk_field = handle.spec.primary_key
        for doc in upserts:
            if pk_field not in doc or doc[pk_field] in (None, ""):
                raise SearchError(f"document without primary key {pk_field!r}")
        with self._writing(handle) as writer:
            for id_ in deletes:
                writer.delete_documents_by_term("_pk", str(id_))
            for doc in upserts:
                pk = str(doc[pk_field])
                writer.delete_documents_by_term("_pk", pk)
                writer.add_document(handle.to_tantivy(doc, pk))

    def search(self, index: str, query: SearchQuery) -> SearchResult:
        started = time.perf_counter()
        handle = self._handle(index)
        terms = validate_query(handle.spec, query)
        schema = handle.schema
        must: list[tantivy.Query] = []
        # ``loose``: the same conditions with each phrase as the AND of its words -- a superset
        # of the hits, several times cheaper to collect than the phrase (no positions read).
        loose: list[tantivy.Query] = []
        has_phrase = False
        for phrase in query_phrases(" ".join(terms)):
            if len(phrase) > 1:
                has_phrase = True
                must.append(tantivy.Query.phrase_query(schema, "_bi", phrase))
                loose.extend(tantivy.Query.term_query(schema, "_bi", word)
                             for word in dict.fromkeys(phrase))
                continue
            if len(phrase[0]) == 6:
                term = tantivy.Query.term_query(schema, "_uni", phrase[0])
            else:
                term = tantivy.Query.term_query(schema, "_bi", phrase[0])
            must.append(term)
            loose.append(term)
        for name, value in query.filters.items():
            values = filter_values(value)
            if not values:
                cond = tantivy.Query.empty_query()
            elif len(values) == 1:
                cond = tantivy.Query.term_query(schema, "f_" + name, values[0])
            else:
                cond = tantivy.Query.term_set_query(schema, "f_" + name, values)
            must.append(cond)
            loose.append(cond)
        tq = _all_of(must)

        searcher = handle.searcher()
        offset = (query.page - 1) * query.per_page

        def page(q: tantivy.Query) -> tantivy.SearchResult:
            try:
                if query.sort:
                    name, direction = query.sort[0]
                    return searcher.search(q, limit=query.per_page, count=True,
                                           order_by_field=("oa_" if direction == "asc"
                                                           else "od_") + name,
                                           offset=offset, order=tantivy.Order.Asc)
                # index order: every score equal, ties by document address
                return searcher.search(tantivy.Query.const_score_query(q, 1.0),
                                       limit=query.per_page, count=True, offset=offset)
            except ValueError as exc:
                raise InvalidQuery(str(exc)) from exc

        facets: dict[str, dict[str, int]] = {name: {} for name in query.facets}
        if not query.facets:
            result = page(tq)
        else:
            # Facets are tantivy terms aggregations over the whole hit set: a second pass of
            # the query.  It runs on a pool thread (tantivy releases the GIL) while this thread
            # collects the page; if no pool thread is free by then, it runs here.  With a
            # phrase in the query, the aggregation runs over the loose query (no positions to
            # read) and also counts its hits: when that count equals the exact total, the two
            # hit sets are equal (the loose one contains the exact one) and so are the facet
            # counts; otherwise the facets are counted again over the exact query.
            aggs: dict[str, Any] = {
                "f_" + name: {"terms": {"field": "f_" + name, "size": FACET_LIMIT,
                                        "segment_size": _SEGMENT_SIZE}}
                for name in query.facets
            }
            fq = tq
            if has_phrase:
                fq = _all_of(loose)
                aggs["total"] = {"value_count": {"field": "oa_" + handle.spec.primary_key}}
            pending: Future[dict[str, Any]] = _facet_pool().submit(searcher.aggregate, fq, aggs)
            try:
                result = page(tq)
            except BaseException:
                if not pending.cancel():
                    with contextlib.suppress(Exception):
                        pending.result()
                raise
            answer = searcher.aggregate(fq, aggs) if pending.cancel() else pending.result()
            if has_phrase and (result.count or 0) != int(answer["total"]["value"]):
                answer = searcher.aggregate(tq, aggs)
            for name in query.facets:
                buckets = answer.get("f_" + name, {}).get("buckets", [])
                pairs = sorted(((str(b["key"]), int(b["doc_count"])) for b in buckets),
                               key=lambda kv: (-kv[1], kv[0]))
                facets[name] = dict(pairs)
        hits = _sources(searcher, result.hits)
        total = result.count or 0
        return SearchResult(hits=hits, total=total, facets=facets, page=query.page,
                            per_page=query.per_page,
                            took_ms=round((time.perf_counter() - started) * 1000, 3))

    def get(self, index: str, id: str | int) -> dict[str, Any] | None:
        handle = self._handle(index)
        searcher = handle.searcher()
        tq = tantivy.Query.term_query(handle.schema, "_pk", str(id))
        result = searcher.search(tq, limit=1, count=False)
        if not result.hits:
            return None
        return orjson.loads(searcher.doc(result.hits[0][1])["_src"][0])

    def count(self, index: str) -> int:
        return self._handle(index).searcher().num_docs

    def swap(self, a: str, b: str) -> None:
        full_a, full_b = self._full(a), self._full(b)
        with self._changing_registry() as registry:
            for name, full in ((a, full_a), (b, full_b)):
                if full not in registry:
                    raise IndexNotFound(f"search index {name!r} does not exist")
            registry[full_a], registry[full_b] = registry[full_b], registry[full_a]

    def delete_index(self, name: str) -> bool:
        full = self._full(name)
        with self._changing_registry() as registry:
            entry = registry.pop(full, None)
        if entry is None:
            return False
        shutil.rmtree(self.root / "v" / entry["dir"], ignore_errors=True)
        return True

    def list_indexes(self) -> list[str]:
        n = len(self.prefix)
        return sorted(k[n:] for k in self._read_registry() if k.startswith(self.prefix))

    def stats(self) -> dict[str, Any]:
        indexes = {}
        for name in self.list_indexes():
            entry = self._read_registry()[self.prefix + name]
            path = self.root / "v" / entry["dir"]
            size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
            indexes[name] = {"documents": self.count(name), "bytes": size,
                             "version": entry["dir"]}
        return {"engine": "embedded", "path": str(self.root), "indexes": indexes}


def _all_of(queries: list[tantivy.Query]) -> tantivy.Query:
    if not queries:
        return tantivy.Query.all_query()
    if len(queries) == 1:
        return queries[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])


def _sources(searcher: tantivy.Searcher, hits: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """The stored documents of ``hits``, decoded as one JSON array by orjson: a person's 47
    payment lines in 49 µs (one ``json.loads`` per document: 220 µs)."""
    if not hits:
        return []
    return orjson.loads(b"[" + b",".join([searcher.doc(address)["_src"][0] for _, address in hits]) + b"]")


def _all_documents(handle: _Handle) -> Iterator[dict[str, Any]]:
    searcher = handle.searcher()
    total = searcher.num_docs
    if not total:
        return
    result = searcher.search(tantivy.Query.all_query(), limit=total, count=False)
    for _, address in result.hits:
        yield json.loads(searcher.doc(address)["_src"][0])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
