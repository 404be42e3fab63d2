"""The search port: the only way the public side reads published data.

Two engines implement :class:`SearchEngine` — the embedded one (:mod:`search.embedded`,
tantivy under a data folder, zero set-up) and Meilisearch (:mod:`search.meili`).  One
contract suite (``tests/search``) runs against both.

Semantics every engine gives:

* text: every whitespace-separated term of ``q`` is a substring of one searchable field
  (after NFKC + lower case), see :mod:`search.tokenize`;
* filters: equality per field; a list value means any-of; a field holding a list matches when any
  element equals; values are compared as strings (``2023`` equals ``"2023"``);
* facets: value → count over the whole hit set, most frequent first (ties by value), at most
  :data:`FACET_LIMIT` values per facet; keys are strings;
* order: by the requested sort key (at most one); ties, and the order with no sort, are
  engine-defined but fixed while the index does not change (embedded: index order; Meilisearch:
  primary key ascending) — so paging is stable;
* paging: ``page`` is 1-based; ``page * per_page`` may not exceed :data:`MAX_WINDOW`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from search.generation import Generation
from search.tokenize import MAX_QUERY_CHARS, MAX_QUERY_TERMS, query_terms

__all__ = [
    "FACET_LIMIT",
    "MAX_PER_PAGE",
    "MAX_WINDOW",
    "IndexNotFound",
    "IndexSpec",
    "InvalidQuery",
    "SearchEngine",
    "SearchError",
    "SearchQuery",
    "SearchResult",
    "SearchUnavailable",
    "filter_values",
    "validate_index_name",
    "validate_query",
]

FACET_LIMIT = 500
MAX_WINDOW = 10_000
MAX_PER_PAGE = 100
_INDEX_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")

FilterValue = str | int | list[str | int]


class SearchError(Exception):
    """Any failure of the search backend (a failed indexing task, a corrupt index …)."""


class SearchUnavailable(SearchError):
    """The backend cannot be reached or is not answering: the app answers 503."""


class IndexNotFound(SearchError):
    """The named index does not exist."""


class InvalidQuery(SearchError, ValueError):
    """The query is not acceptable (too long, too many terms, page too deep, unknown field)."""


@dataclass(frozen=True)
class IndexSpec:
    name: str
    primary_key: str
    searchable: list[str] = field(default_factory=list)
    filterable: list[str] = field(default_factory=list)
    sortable: list[str] = field(default_factory=list)
    facetable: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexSpec:
        return cls(**data)

    def renamed(self, name: str) -> IndexSpec:
        return IndexSpec(name, self.primary_key, list(self.searchable), list(self.filterable),
                         list(self.sortable), list(self.facetable))


@dataclass
class SearchQuery:
    q: str = ""
    filters: dict[str, FilterValue] = field(default_factory=dict)
    facets: list[str] = field(default_factory=list)
    sort: list[tuple[str, Literal["asc", "desc"]]] = field(default_factory=list)
    page: int = 1
    per_page: int = 20


@dataclass
class SearchResult:
    hits: list[dict[str, Any]]
    total: int
    facets: dict[str, dict[str, int]]
    page: int
    per_page: int
    took_ms: float

    @property
    def pages(self) -> int:
        return (self.total + self.per_page - 1) // self.per_page


@runtime_checkable
class SearchEngine(Protocol):
    """What the indexer writes through and the portal/bot read through.

    ``generation`` (:mod:`search.generation`) changes after every write the engine made visible;
    readers key their caches by it.
    """

    generation: Generation

    def ensure_index(self, spec: IndexSpec) -> None:
        """Create the index or bring its settings up to ``spec`` (idempotent)."""

    def replace_documents(self, index: str, docs: Iterable[dict[str, Any]],
                          batch_size: int = 5000) -> int:
        """Upsert documents by primary key; returns how many were sent."""

    def delete_documents(self, index: str, ids: Iterable[str | int]) -> None: ...

    def write_documents(self, index: str, upserts: list[dict[str, Any]], deletes: list[str]) -> None:
        """Delete ``deletes`` and upsert ``upserts`` as one change: the embedded engine makes it
        one commit, so readers never see the deletions without the additions (a batch moving
        from its publicity list to its results would otherwise vanish for a moment); Meilisearch
        gets the two tasks back to back and processes them in order."""

    def search(self, index: str, query: SearchQuery) -> SearchResult: ...

    def get(self, index: str, id: str | int) -> dict[str, Any] | None: ...

    def count(self, index: str) -> int: ...

    def swap(self, a: str, b: str) -> None:
        """Exchange the contents of two existing indexes atomically for readers."""

    def delete_index(self, name: str) -> bool:
        """Delete an index; False when it did not exist."""

    def list_indexes(self) -> list[str]: ...

    def stats(self) -> dict[str, Any]: ...


def validate_index_name(name: str) -> str:
    if not _INDEX_NAME.match(name or ""):
        raise InvalidQuery(f"invalid index name {name!r}")
    return name


def filter_values(value: object) -> list[str]:
    """A filter value (scalar or any-of list) as the strings it compares equal to."""
    if isinstance(value, str):
        return [value]
    values = value if isinstance(value, (list, tuple, set)) else [value]
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif v is None:
            continue
        else:
            out.append(str(v))
    return out


def validate_query(spec: IndexSpec, query: SearchQuery) -> list[str]:
    """Check ``query`` against the limits and ``spec``; return its normalised terms."""
    q = query.q or ""
    if len(q.strip()) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"query longer than {MAX_QUERY_CHARS} characters")
    terms = query_terms(q)
    if len(terms) > MAX_QUERY_TERMS:
        raise InvalidQuery(f"more than {MAX_QUERY_TERMS} query terms")
    if terms and not spec.searchable:
        raise InvalidQuery(f"index {spec.name!r} has no text search")
    if not isinstance(query.page, int) or query.page < 1:
        raise InvalidQuery("page must be a positive integer")
    if not isinstance(query.per_page, int) or not 1 <= query.per_page <= MAX_PER_PAGE:
        raise InvalidQuery(f"per_page must be between 1 and {MAX_PER_PAGE}")
    if query.page * query.per_page > MAX_WINDOW:
        raise InvalidQuery(f"cannot page beyond {MAX_WINDOW} results")
    for name in query.filters:
        if name not in spec.filterable:
            raise InvalidQuery(f"unknown filter field {name!r}")
    for name in query.facets:
        if name not in spec.facetable:
            raise InvalidQuery(f"unknown facet field {name!r}")
    if len(query.sort) > 1:
        raise InvalidQuery("sort by at most one field")
    for name, direction in query.sort:
        if name not in spec.sortable and name != spec.primary_key:
            raise InvalidQuery(f"unknown sort field {name!r}")
        if direction not in ("asc", "desc"):
            raise InvalidQuery(f"sort direction must be asc or desc, not {direction!r}")
    return terms
