"""Middleware stack of the public app (outermost first).

0. :class:`portal.cache.ResponseCache` (added by ``portal.app.create_app``, outside this stack):
   finished public pages served again while the index generation is unchanged.
1. :class:`SecurityHeaders` — CSP without inline script or style (external files only),
   frame-ancestors none + X-Frame-Options DENY, Referrer-Policy no-referrer, nosniff,
   Permissions-Policy, COOP; HSTS when the public base URL is https.
2. :class:`BodyLimit` — request bodies above the limit for the path get 413 (by Content-Length
   up front, or while streaming), before the view reads anything.
3. GZip (Starlette's) for responses ≥ 500 bytes.
4. :class:`HttpCaching` — public GET pages and JSON get ``Cache-Control: public, max-age=60``,
   a weak ETag over the body and ``304 Not Modified`` for a matching ``If-None-Match``.
   Personal paths (:data:`PRIVATE_PREFIXES`: the personal query, statements, kiosk, WeChat,
   complaints, the JSON API) always get ``Cache-Control: no-store`` and no ETag.
   Streaming exports (``.csv``) and ``/static`` (own ETag) are passed through.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Config
from portal.errors import STATUS_DEFAULTS, PublicError, error_response

__all__ = [
    "BODY_LIMIT_DEFAULT",
    "BODY_LIMITS",
    "CSP",
    "PRIVATE_PREFIXES",
    "BodyLimit",
    "HttpCaching",
    "SecurityHeaders",
    "etag_matches",
    "is_private_path",
    "stack",
]

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
])

PERMISSIONS_POLICY = ("camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
                      "interest-cohort=(), browsing-topics=()")

PRIVATE_PREFIXES: tuple[str, ...] = (
    "/query", "/api/", "/statement", "/kiosk", "/wechat", "/complaints", "/large-text",
)

BODY_LIMIT_DEFAULT = 64 * 1024
# Longest prefix wins. Complaints may carry a long text (and the form its CSRF token etc.).
BODY_LIMITS: dict[str, int] = {
    "/complaints": 256 * 1024,
    "/api/complaints": 256 * 1024,
    "/wechat": 64 * 1024,
    "/kiosk": 64 * 1024,
}

PUBLIC_MAX_AGE = 60


def is_private_path(path: str) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p) for p in PRIVATE_PREFIXES)


def body_limit_for(path: str) -> int:
    best = ""
    for prefix in BODY_LIMITS:
        if path.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return BODY_LIMITS[best] if best else BODY_LIMIT_DEFAULT


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.extra: list[tuple[bytes, bytes]] = [
            (b"content-security-policy", CSP.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"permissions-policy", PERMISSIONS_POLICY.encode()),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if hsts:
            self.extra.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                raw.extend((name, value) for name, value in self.extra if name not in present)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(scope["path"])
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > limit:
                await self._reject(scope, receive, send, limit)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PublicError(413, "too_large", _too_large(limit))
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(Request(scope, receive), 413, "too_large", _too_large(limit),
                                  {"Connection": "close"})
        await response(scope, receive, send)


def _too_large(limit: int) -> str:
    return f"{STATUS_DEFAULTS[413][1]}（上限 {limit // 1024} KB）"


class HttpCaching:
    def __init__(self, app: ASGIApp, *, max_age: int = PUBLIC_MAX_AGE) -> None:
        self.app = app
        self.max_age = max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if is_private_path(path):
            await self.app(scope, receive, _no_store(send))
            return
        if scope["method"] not in ("GET", "HEAD") or path.startswith("/static/") or path.endswith(".csv"):
            await self.app(scope, receive, send)
            return

        start: Message | None = None
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                if message["status"] != 200:
                    start = None
                    await send(message)
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._finish(scope, start, b"".join(chunks), send)

        await self.app(scope, receive, buffer)

    async def _finish(self, scope: Scope, start: Message, body: bytes, send: Send) -> None:
        headers = MutableHeaders(scope=start)
        cache_control = headers.get("cache-control", "")
        if "no-store" in cache_control or "private" in cache_control:
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        etag = 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        headers["etag"] = etag
        if not cache_control:
            headers["cache-control"] = f"public, max-age={self.max_age}"
        _add_vary(headers, ("Accept", "Cookie"))
        if etag_matches(Headers(scope=scope).get("if-none-match"), etag):
            keep = {k: v for k, v in headers.items() if k in ("etag", "cache-control", "vary")}
            not_modified = MutableHeaders()
            for k, v in keep.items():
                not_modified[k] = v
            await send({"type": "http.response.start", "status": 304, "headers": not_modified.raw})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(start)
        await send({"type": "http.response.body", "body": body})


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Does an ``If-None-Match`` header name ``etag`` (weak comparison, ``*`` matches)?"""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    weak = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == weak for tag in if_none_match.split(","))


def _add_vary(headers: MutableHeaders, names: Iterable[str]) -> None:
    present = {v.strip().lower() for v in headers.get("vary", "").split(",") if v.strip()}
    for name in names:
        if name.lower() not in present:
            headers.add_vary_header(name)


def _no_store(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers["cache-control"] = "no-store"
            headers["pragma"] = "no-cache"
            if "etag" in headers:
                del headers["etag"]
        await send(message)

    return wrapped


def stack(config: Config) -> list[Middleware]:
    return [
        Middleware(SecurityHeaders, hsts=config.public_base_url.startswith("https://")),
        Middleware(BodyLimit),
        # level 6 (zlib's default) instead of Starlette's 9: a third of the CPU on a 30 KB page,
        # a few per cent larger; cached pages are compressed once anyway (portal.cache)
        Middleware(GZipMiddleware, minimum_size=500, compresslevel=6),
        Middleware(HttpCaching),
    ]
