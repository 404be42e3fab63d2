"""The search port and its engines: what portal, bot and indexer share to read and write the indexes.

* :mod:`search.base` — the port (:class:`~search.base.SearchEngine`, queries, results, errors);
* :mod:`search.embedded` — tantivy under the data folder (the default, zero set-up);
* :mod:`search.meili` — Meilisearch, when ``MEILI_URL`` is set;
* :mod:`search.generation` — the index generation caches are keyed by;
* :mod:`search.schemas` — the five index specs; :mod:`search.tokenize` — the Chinese word streams.

Imports only :mod:`core` (and its own modules): never a side of the wall.
"""

from __future__ import annotations

from pathlib import Path

from core.config import Config
from search.base import SearchEngine
from search.embedded import EmbeddedEngine
from search.generation import make_generation

__all__ = ["engine_for", "make_engine"]


def make_engine(data_dir: Path, meili_url: str | None = None, meili_key: str | None = None,
                prefix: str = "", redis_url: str | None = None) -> SearchEngine:
    """The Meilisearch engine when ``meili_url`` is set, else the embedded one in ``data_dir``.

    Its ``generation`` (:mod:`search.generation`) is kept in Redis when ``redis_url`` is set,
    else in a file beside the indexes in ``data_dir``: writers and readers of one deployment
    pass the same settings, so they share it.
    """
    generation = make_generation(data_dir, redis_url, prefix)
    if meili_url:
        # Lazy on purpose: the meilisearch client (and its requests stack, ~0.2 s to import) is a
        # heavy dependency that only a deployment with MEILI_URL needs.
        from search.meili import MeiliEngine

        return MeiliEngine(meili_url, meili_key, prefix=prefix, generation=generation)
    return EmbeddedEngine(Path(data_dir) / "search", prefix=prefix, generation=generation)


def engine_for(config: Config) -> SearchEngine:
    """The deployment's engine, as every process of it must make it: the same search server or
    data folder, index prefix and generation store (Redis when ``REDIS_URL`` is set). A writer
    that kept its generation elsewhere than the portal's workers would leave their caches stale."""
    return make_engine(config.data_dir, config.meili_url, config.meili_api_key, config.search_index_prefix,
                       config.redis_url)
