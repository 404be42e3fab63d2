"""Response cache of the public pages, keyed by the request and the index generation.

On payment day a county sees bursts of the same few searches (the village name, the project);
the pages below depend only on the URL, a few request headers and what the search indexes
hold. So a finished response (status, headers, body — already gzipped, with its ETag) is kept
per worker and served again, without routing, views, search or rendering, for as long as the
index generation (:mod:`search.generation`) it was made under is current. The indexer bumps the
generation with every write it makes visible (each ``sync`` chunk, the rebuild's swap), in a
place every worker reads (a file beside the indexes, or Redis when ``REDIS_URL`` is set): a
publication is served within one sync round (``index sync --follow``: 1 s) plus, with Redis,
:data:`search.generation.REDIS_RECHECK`.

What may be cached — all of these, checked on every request and on every response:

* the path is one of :data:`CACHEABLE` (home, policy list and details, disclosure search,
  statistics, open-data page) and none of :data:`portal.middleware.PRIVATE_PREFIXES`;
* the method is GET; the response is a 200 that :class:`portal.middleware.HttpCaching` marked
  ``public`` with an ETag, and sets no cookie. A view whose answer depends on more than the
  indexes says ``Cache-Control: no-cache`` (revalidate every time: the ETag still gives 304) and
  is not kept (the home page in demo mode, which shows the sample-people file).

Personal answers (the personal query, statements, kiosk, WeChat, complaints, the JSON API) fail
every one of these tests: they are never stored, so nobody can be served another person's
answer. The key is the path, the raw query string, the ``Accept`` header (HTML or JSON twin),
whether gzip is accepted and the large-type cookie (the only request state the public templates
read). A matching ``If-None-Match`` gets a ``304`` from the cache.

Identical requests that arrive while the first is being computed wait for it instead of all
computing the same page (a burst after the payment SMS). Entries also expire after
:data:`MAX_AGE` seconds whatever the generation (a backstop), and the cache holds at most
:data:`MAX_BYTES` per worker (least recently used out first).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.filters import LARGE_TEXT_COOKIE
from portal.middleware import etag_matches, is_private_path
from search.generation import Generation

__all__ = ["CACHEABLE", "CACHEABLE_PREFIXES", "MAX_AGE", "MAX_BYTES", "ResponseCache", "is_cacheable_path"]

CACHEABLE: frozenset[str] = frozenset({
    "/", "/home.json", "/policies", "/policies.json", "/disclosures", "/disclosures.json",
    "/statistics", "/statistics.json", "/opendata",
})
CACHEABLE_PREFIXES: tuple[str, ...] = ("/policies/",)
MAX_AGE = 60.0
MAX_BYTES = 64 * 1024 * 1024
MAX_ENTRY_BYTES = 1024 * 1024
HEADERS_304 = (b"etag", b"cache-control", b"vary")

Key = tuple[str, bytes, bytes, bool, bool]


def is_cacheable_path(path: str) -> bool:
    return (path in CACHEABLE or path.startswith(CACHEABLE_PREFIXES)) and not is_private_path(path)


@dataclass(frozen=True)
class Entry:
    generation: int
    stored: float
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: str

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 200


def _large_text(cookie_header: str) -> bool:
    if LARGE_TEXT_COOKIE not in cookie_header:
        return False
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except Exception:  # a malformed Cookie header: the templates' parser sees no such cookie either
        return False
    morsel = cookies.get(LARGE_TEXT_COOKIE)
    return morsel is not None and morsel.value == "1"


def _storable(status: int, headers: list[tuple[bytes, bytes]]) -> str | None:
    """The response's ETag when it may be shared with everyone asking the same, else None."""
    if status != 200:
        return None
    etag = None
    public = False
    for name, value in headers:
        name = name.lower()
        if name == b"set-cookie":
            return None
        if name == b"cache-control":
            lowered = value.lower()
            if b"no-store" in lowered or b"private" in lowered or b"no-cache" in lowered:
                return None
            public = b"public" in lowered
        elif name == b"etag":
            etag = value.decode("latin-1")
    return etag if public else None


class ResponseCache:
    """ASGI middleware: the outermost layer of the public app (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, generation: Generation, max_bytes: int = MAX_BYTES,
                 max_age: float = MAX_AGE, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.generation = generation
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.clock = clock
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._bytes = 0
        self._inflight: dict[Key, asyncio.Future[Entry | None]] = {}

    def _key(self, scope: Scope) -> tuple[Key, str | None] | None:
        """The request's cache key and its If-None-Match (None: not cacheable)."""
        if scope["type"] != "http" or scope["method"] != "GET" or not is_cacheable_path(scope["path"]):
            return None
        accept, gzip, cookie, if_none_match = b"", False, "", None
        for name, value in scope["headers"]:  # one pass; ASGI header names are lower case
            if name == b"accept":
                accept = value
            elif name == b"accept-encoding":
                gzip = b"gzip" in value
            elif name == b"cookie":
                cookie = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        return (scope["path"], scope.get("query_string", b""), accept, gzip, _large_text(cookie)), if_none_match

    def _lookup(self, key: Key, generation: int) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != generation or self.clock() - entry.stored > self.max_age:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    def _store(self, key: Key, entry: Entry) -> None:
        if entry.size > MAX_ENTRY_BYTES:
            return
        self._drop(key)
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._key(scope)
        generation = self.generation.current() if found is not None else None
        if found is None or generation is None:
            await self.app(scope, receive, send)
            return
        key, if_none_match = found
        entry = self._lookup(key, generation)
        if entry is None and key in self._inflight:
            entry = await asyncio.shield(self._inflight[key])
            if entry is not None and entry.generation != generation:
                entry = None
        if entry is not None:
            await self._replay(entry, if_none_match, send)
            return
        await self._compute(scope, receive, send, key, generation)

    async def _compute(self, scope: Scope, receive: Receive, send: Send, key: Key, generation: int) -> None:
        waiting: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = waiting
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        entry: Entry | None = None
        try:
            await self.app(scope, receive, capture)
            etag = _storable(status, headers)
            if etag is not None:
                entry = Entry(generation, self.clock(), status, headers, b"".join(chunks), etag)
                self._store(key, entry)
        finally:
            if self._inflight.get(key) is waiting:
                del self._inflight[key]
            waiting.set_result(entry)

    async def _replay(self, entry: Entry, if_none_match: str | None, send: Send) -> None:
        if etag_matches(if_none_match, entry.etag):
            headers = [(k, v) for k, v in entry.headers if k.lower() in HEADERS_304]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": entry.status, "headers": entry.headers})
        await send({"type": "http.response.body", "body": entry.body})
