"""Fixtures for the indexer tests: a real search engine in the test's data folder, a document
builder with the test secrets, and helpers to read whole indexes back."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from core.config import Config
from indexer.documents import DocumentBuilder
from search import engine_for
from search.base import MAX_PER_PAGE, MAX_WINDOW, SearchEngine, SearchQuery


@pytest.fixture
def ix_engine(config: Config) -> SearchEngine:
    return engine_for(config)


@pytest.fixture
def doc_builder(config: Config) -> DocumentBuilder:
    return DocumentBuilder.from_config(config)


def all_docs(engine: SearchEngine, index: str) -> list[dict[str, Any]]:
    """Every document of a (small) index, by paging through a match-all search."""
    out: list[dict[str, Any]] = []
    for page in range(1, MAX_WINDOW // MAX_PER_PAGE + 1):
        result = engine.search(index, SearchQuery(page=page, per_page=MAX_PER_PAGE))
        out.extend(result.hits)
        if page * MAX_PER_PAGE >= result.total:
            break
    assert len(out) == engine.count(index), "index too large to read back whole in a test"
    return out


def by_id(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(d["id"]): d for d in docs}


def iter_all(engine: SearchEngine, *indexes: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for index in indexes:
        for doc in all_docs(engine, index):
            yield index, doc
