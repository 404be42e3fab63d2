"""The index generation: one number that changes whenever what the search indexes answer may
have changed, shared by every process that reads them.

Every engine bumps its generation after each write it made visible (the embedded engine after a
commit or a registry change — so the rebuild's swap and every ``sync`` chunk; Meilisearch after a
write task succeeded). Readers key their caches by it (:mod:`portal.cache`): an entry made under
generation *g* is served only while the generation is still *g*.

Where the number lives (:func:`make_generation`):

* :class:`FileGeneration` — a small file beside the indexes (``<data dir>/search/generation``),
  the default. One machine: the indexer and every portal worker share the data folder. Reading
  costs one ``stat`` call; the file is only ever replaced whole (``os.replace``), bumps are
  serialised by ``flock``.
* :class:`RedisGeneration` — a Redis counter (``INCR``), when ``REDIS_URL`` is set: portal
  workers on several machines (Meilisearch, PostgreSQL) see the indexer's bumps. A reader asks
  Redis at most every :data:`REDIS_RECHECK` seconds, so a publication is seen within that time
  (well inside the 5-second freshness bound). Redis not answering → :meth:`current` is ``None``
  (callers then do not cache; it is asked again after :data:`REDIS_RETRY` seconds) and
  :meth:`bump` raises (the indexer's chunk is retried).

Imports only the standard library (and ``redis`` lazily): the search package stays independent.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["REDIS_RECHECK", "FileGeneration", "Generation", "ProcessGeneration", "RedisGeneration", "generation_path", "make_generation"]

REDIS_RECHECK = 0.25
REDIS_RETRY = 5.0
REDIS_TIMEOUT = 0.5


@runtime_checkable
class Generation(Protocol):
    def current(self) -> int | None:
        """The generation now; ``None`` when it cannot be known (then nothing may be cached)."""

    def bump(self) -> int:
        """Move to a new generation (after a write); returns it."""


class ProcessGeneration:
    """A counter in this process only (an engine made without a shared place, e.g. in a script)."""

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    def current(self) -> int | None:
        return self._value

    def bump(self) -> int:
        with self._lock:
            self._value += 1
            return self._value


class FileGeneration:
    """A counter kept in ``path`` (created on the first bump; a missing file is generation 0)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._where = str(self.path)  # os.stat of a str: no path object converted per request
        self._stamp: tuple[int, int, int] | None = None
        self._value = 0
        self._lock = threading.Lock()

    def current(self) -> int | None:
        try:
            st = os.stat(self._where)
        except FileNotFoundError:
            return 0
        except OSError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return self._value
        with self._lock:
            value = self._read()
            if value is None:
                return None
            self._stamp, self._value = stamp, value
            return value

    def _read(self) -> int | None:
        try:
            return int(self.path.read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            return None

    def bump(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                value = (self._read() or 0) + 1
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
                tmp.write_text(str(value), encoding="ascii")
                os.replace(tmp, self.path)  # a new inode: every reader's stat sees the change
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return value


class RedisGeneration:
    """A counter in Redis under ``key``; read at most every ``recheck`` seconds per process."""

    def __init__(self, client: Any, key: str, recheck: float = REDIS_RECHECK,
                 clock: Any = time.monotonic) -> None:
        self._client = client
        self.key = key
        self._recheck = recheck
        self._clock = clock
        self._checked = float("-inf")
        self._value: int | None = None
        self._lock = threading.Lock()

    def current(self) -> int | None:
        now = self._clock()
        if now - self._checked < self._recheck:
            return self._value
        with self._lock:
            if now - self._checked < self._recheck:
                return self._value
            # Lazy on purpose: the redis client is only needed when REDIS_URL is set.
            import redis

            try:
                raw = self._client.get(self.key)
                self._value = int(raw or 0)
                self._checked = now
            except (redis.RedisError, ValueError):
                # unknown: nothing is served from a cache; ask again only after a pause, since
                # the caller may be an event loop that waits for the timeout
                self._value = None
                self._checked = now + REDIS_RETRY - self._recheck
            return self._value

    def bump(self) -> int:
        value = int(self._client.incr(self.key))
        with self._lock:
            self._value, self._checked = value, self._clock()
        return value


def make_generation(data_dir: Path | str | None, redis_url: str | None = None, prefix: str = "") -> Generation:
    """Redis when ``redis_url`` is set, else a file in ``<data_dir>/search`` (no data folder:
    this process only).

    ``prefix`` is the index-name prefix: deployments sharing one Redis or folder keep their own.
    """
    if redis_url:
        # Lazy on purpose: the redis client (~0.1 s to import) is only needed with REDIS_URL.
        import redis

        client = redis.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        return RedisGeneration(client, "yikatong:generation:" + prefix)
    if data_dir is None:
        return ProcessGeneration()
    return FileGeneration(generation_path(Path(data_dir) / "search", prefix))


def generation_path(search_root: Path, prefix: str = "") -> Path:
    """The generation file of the indexes under ``search_root`` (the embedded engine's folder)."""
    return search_root / ("generation" + (f"-{prefix}" if prefix else ""))
