"""The search port and its engines: what portal, bot and indexer share to read and write the indexes.

* :mod:`search.base` — the port (:class:`~search.base.SearchEngine`, queries, results, errors);
* :mod:`search.embedded` — tantivy under the data folder (the default, zero set-up);
* :mod:`search.meili` — Meilisearch, when ``MEILI_URL`` is set;
* :mod:`search.schemas` — the four index specs; :mod:`search.tokenize` — the Chinese word streams.

Imports only :mod:`core` (and its own modules): never a side of the wall.
"""

from __future__ import annotations

from pathlib import Path

from search.base import SearchEngine
from search.embedded import EmbeddedEngine

__all__ = ["make_engine"]


def make_engine(data_dir: Path, meili_url: str | None = None, meili_key: str | None = None,
                prefix: str = "") -> SearchEngine:
    """The Meilisearch engine when ``meili_url`` is set, else the embedded one in ``data_dir``."""
    if meili_url:
        # Lazy on purpose: the meilisearch client (and its requests stack, ~0.2 s to import) is a
        # heavy dependency that only a deployment with MEILI_URL needs.
        from search.meili import MeiliEngine

        return MeiliEngine(meili_url, meili_key, prefix=prefix)
    return EmbeddedEngine(Path(data_dir) / "search", prefix=prefix)
