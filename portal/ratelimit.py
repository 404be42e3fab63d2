"""Rate limits (and request size limits) for the public side.

A :class:`RateLimiter` counts events per key in a sliding window. Two implementations:
:class:`InProcessLimiter` (one process, thread-safe) and :class:`RedisLimiter` (shared by every
portal process; atomic Lua scripts over a sorted set per key). ``make_limiter(config)`` picks
Redis when ``REDIS_URL`` is set.

Personal queries are limited twice (DESIGN.md): per client address (every query counts,
``RATE_LIMIT_QUERY_PER_CLIENT``) so the ID space cannot be enumerated, and per person key
(failed lookups only, ``RATE_LIMIT_QUERY_PER_PERSON``) so one person's second factor cannot be
brute-forced from many addresses. Once a person key has used up its failures every lookup of it
is refused until the window passes — even with the right factor, and also for keys that belong
to nobody, so the refusal itself reveals nothing.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from core.config import Config
from portal.errors import PublicError

__all__ = [
    "InProcessLimiter",
    "RateDecision",
    "RateLimiter",
    "RedisLimiter",
    "client_address",
    "enforce",
    "enforce_query_limits",
    "enforce_query_limits_async",
    "make_limiter",
    "read_body_limited",
    "record_failed_lookup",
    "record_failed_lookup_async",
]


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    remaining: int
    retry_after: int  # whole seconds until one more event is allowed (0 when allowed)


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, window: int) -> RateDecision:
        """Count one event for ``key`` if fewer than ``limit`` happened in the last ``window``
        seconds; a refused event is not counted."""

    def peek(self, key: str, limit: int, window: int) -> RateDecision:
        """Would one more event be allowed? Counts nothing."""

    def hit_then_peek(self, hit: tuple[str, int, int], peek: tuple[str, int, int]) -> tuple[RateDecision, RateDecision | None]:
        """``hit(*hit)``, then — only when that was allowed — ``peek(*peek)``, in one step (one
        lock, one Redis round trip). The second decision is ``None`` when the first refused."""

    def reset(self, key: str) -> None: ...


class InProcessLimiter:
    """Sliding-window log per key, guarded by one lock. Memory: at most ``limit`` timestamps per
    active key; idle keys are swept out every few thousand calls."""

    SWEEP_EVERY = 4096

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._events: dict[str, tuple[deque[float], int]] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def _prune(self, key: str, window: int, now: float) -> deque[float]:
        entry = self._events.get(key)
        events = entry[0] if entry else deque()
        while events and events[0] <= now - window:
            events.popleft()
        self._events[key] = (events, max(window, entry[1] if entry else 0))
        return events

    def _sweep(self, now: float) -> None:
        for key in [k for k, (ev, w) in self._events.items() if not ev or ev[-1] <= now - w]:
            del self._events[key]

    def _decide(self, events: deque[float], limit: int, window: int, now: float) -> RateDecision:
        if len(events) < limit:
            return RateDecision(True, limit - len(events), 0)
        oldest = events[len(events) - limit]
        return RateDecision(False, 0, max(1, math.ceil(oldest + window - now)))

    def hit(self, key: str, limit: int, window: int) -> RateDecision:
        with self._lock:
            now = self._clock()
            self._calls += 1
            if self._calls % self.SWEEP_EVERY == 0:
                self._sweep(now)
            events = self._prune(key, window, now)
            decision = self._decide(events, limit, window, now)
            if decision.allowed:
                events.append(now)
                return RateDecision(True, decision.remaining - 1, 0)
            return decision

    def peek(self, key: str, limit: int, window: int) -> RateDecision:
        with self._lock:
            now = self._clock()
            return self._decide(self._prune(key, window, now), limit, window, now)

    def hit_then_peek(self, hit: tuple[str, int, int], peek: tuple[str, int, int]) -> tuple[RateDecision, RateDecision | None]:
        with self._lock:  # re-entrant use of hit/peek would need an RLock: do both inline
            now = self._clock()
            self._calls += 1
            if self._calls % self.SWEEP_EVERY == 0:
                self._sweep(now)
            key, limit, window = hit
            events = self._prune(key, window, now)
            first = self._decide(events, limit, window, now)
            if not first.allowed:
                return first, None
            events.append(now)
            key, limit, window = peek
            return (RateDecision(True, first.remaining - 1, 0),
                    self._decide(self._prune(key, window, now), limit, window, now))

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


# Time comes from the Redis server, so every portal process shares one clock. ``decide`` is the
# sliding window over one key's sorted set: drop what left the window, count, and (``member`` given,
# the event allowed) record the event; a refusal says how long until one more event fits.
_DECIDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function decide(key, limit, window, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count < limit then
    if member then
      redis.call('ZADD', key, now, member)
      redis.call('PEXPIRE', key, window)
      return 1, limit - count - 1, 0
    end
    return 1, limit - count, 0
  end
  local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  local wait = tonumber(oldest[2]) + window - now
  if wait < 1 then wait = 1 end
  return 0, 0, wait
end
"""

# KEYS[1] the window's sorted set; ARGV: limit, window ms, member, count (1 = hit, 0 = peek).
_SCRIPT = _DECIDE + """
local a, r, w = decide(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[4] == '1' and ARGV[3] or false)
return {a, r, w}
"""

# The personal query's two limits for each of n queries, in one round trip (a portal worker sends
# the checks of all its queries waiting at that moment together, see :class:`_PairBatch`). For
# query i: KEYS[2i-1] counted (hit), KEYS[2i] looked at (peek) only when the first allowed the
# event; ARGV[1] = n, then five per query: limit 1, window 1 ms, member, limit 2, window 2 ms.
# Returns six numbers per query (the second triple is 1, 0, 0 when the first refused: never read).
# Queries are decided in order, so two of one client in one call count as two events.
_SCRIPT_PAIRS = _DECIDE + """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local a = 1 + (i - 1) * 5
  local a1, r1, w1 = decide(KEYS[2 * i - 1], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3])
  local a2, r2, w2 = 1, 0, 0
  if a1 == 1 then
    a2, r2, w2 = decide(KEYS[2 * i], tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]), false)
  end
  for _, v in ipairs({a1, r1, w1, a2, r2, w2}) do out[#out + 1] = v end
end
return out
"""

Pair = tuple[tuple[str, int, int], tuple[str, int, int]]


class _PairBatch:
    """Coalesces one worker's concurrent personal-query checks into one Redis call.

    A check arriving while none is in flight is sent at once (no added wait when idle); checks
    arriving while one is in flight queue up and go together, as one ``_SCRIPT_PAIRS`` call, the
    moment it returns. Under a burst a worker thus makes one round trip for all the queries it is
    serving instead of one each: fewer client-side encodings, socket writes and Redis wake-ups.
    One per event loop (a redis.asyncio client belongs to one loop)."""

    def __init__(self, send: Any) -> None:
        self._send = send  # async (pairs) -> list[int], six per pair
        self._waiting: list[tuple[Pair, asyncio.Future[list[int]]]] = []
        self._busy = False
        self._task: asyncio.Task[None] | None = None  # held: the loop keeps only weak references to tasks

    async def check(self, pair: Pair) -> list[int]:
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((pair, future))
        if not self._busy:
            self._busy = True
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                taken, self._waiting = self._waiting, []
                try:
                    answer = await self._send([pair for pair, _ in taken])
                except Exception as exc:  # noqa: BLE001 - handed to every waiting query
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # cancelled (the worker stops): so are the queries
                    for _, future in taken + self._waiting:
                        future.cancel()
                    raise
                for i, (_, future) in enumerate(taken):
                    if not future.done():
                        future.set_result(answer[6 * i:6 * i + 6])
        finally:
            self._busy = False


def _unavailable() -> PublicError:
    """Redis did not answer: the query is refused (503), never let through unlimited."""
    return PublicError(503, "rate_limiter_unavailable", "查询服务暂时不可用，请稍后再试。",
                       headers={"Retry-After": "30"})


class RedisLimiter:
    """Sliding window in Redis: one sorted set per key (``prefix + key``), scored by the
    server's clock in milliseconds, updated atomically by one Lua script."""

    def __init__(self, client: Any, prefix: str = "yikatong:rl:", url: str | None = None) -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_SCRIPT)
        self._pairs = client.register_script(_SCRIPT_PAIRS)
        # ``url``: the async methods talk to Redis through redis.asyncio (no thread, no GIL
        # hand-over: a pool thread per query doubled the CPU of a personal query under load);
        # without it they run the blocking calls on a pool thread.
        self.url = url
        self._async: tuple[Any, Any, Any, _PairBatch] | None = None  # (loop, client, script, batch)

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> list[int]:
        # Lazy on purpose: the redis client (~0.1 s to import) is a heavy optional dependency, only
        # needed when REDIS_URL is set.
        import redis

        try:
            return [int(v) for v in script(keys=keys, args=args)]
        except redis.RedisError:
            raise _unavailable() from None

    @staticmethod
    def _decision(allowed: int, remaining: int, wait_ms: int) -> RateDecision:
        return RateDecision(bool(allowed), remaining, math.ceil(wait_ms / 1000) if not allowed else 0)

    @classmethod
    def _pair_decisions(cls, answer: list[int]) -> tuple[RateDecision, RateDecision | None]:
        first = cls._decision(*answer[:3])
        return first, (cls._decision(*answer[3:6]) if first.allowed else None)

    def _pairs_call(self, pairs: list[Pair]) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of ``_SCRIPT_PAIRS`` for these queries."""
        keys: list[str] = []
        args: list[Any] = [len(pairs)]
        for hit, peek in pairs:
            keys += [self._prefix + hit[0], self._prefix + peek[0]]
            args += [hit[1], hit[2] * 1000, uuid.uuid4().hex, peek[1], peek[2] * 1000]
        return keys, args

    def _call(self, key: str, limit: int, window: int, count: bool) -> RateDecision:
        answer = self._run(self._script, [self._prefix + key],
                           [limit, window * 1000, uuid.uuid4().hex, "1" if count else "0"])
        return self._decision(*answer)

    def hit_then_peek(self, hit: tuple[str, int, int], peek: tuple[str, int, int]) -> tuple[RateDecision, RateDecision | None]:
        return self._pair_decisions(self._run(self._pairs, *self._pairs_call([(hit, peek)])))

    def _async_state(self) -> tuple[Any, _PairBatch]:
        """The asyncio client's single-key script and the query batch, made once per event loop
        (a client belongs to one loop; a portal worker runs one loop for its whole life)."""
        # Lazy on purpose: the redis client (~0.1 s to import) is a heavy optional dependency, only
        # needed when REDIS_URL is set.
        import redis.asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            client = redis.asyncio.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
            pairs = client.register_script(_SCRIPT_PAIRS)

            async def send(batch: list[Pair]) -> list[int]:
                return await self._run_async(pairs, *self._pairs_call(batch))

            self._async = (loop, client, client.register_script(_SCRIPT), _PairBatch(send))
        return self._async[2], self._async[3]

    async def _run_async(self, script: Any, keys: list[str], args: list[Any]) -> list[int]:
        import redis  # lazy, as above

        try:
            return [int(v) for v in await script(keys=keys, args=args)]
        except redis.RedisError:
            raise _unavailable() from None

    async def hit_then_peek_async(self, hit: tuple[str, int, int],
                                  peek: tuple[str, int, int]) -> tuple[RateDecision, RateDecision | None]:
        """One query's two limits; the worker's concurrent queries share one round trip
        (:class:`_PairBatch`)."""
        if not self.url:
            return await run_in_threadpool(self.hit_then_peek, hit, peek)
        _, batch = self._async_state()
        return self._pair_decisions(await batch.check((hit, peek)))

    async def hit_async(self, key: str, limit: int, window: int) -> RateDecision:
        if not self.url:
            return await run_in_threadpool(self.hit, key, limit, window)
        single, _ = self._async_state()
        return self._decision(*await self._run_async(single, [self._prefix + key],
                                                     [limit, window * 1000, uuid.uuid4().hex, "1"]))

    def hit(self, key: str, limit: int, window: int) -> RateDecision:
        return self._call(key, limit, window, True)

    def peek(self, key: str, limit: int, window: int) -> RateDecision:
        return self._call(key, limit, window, False)

    def reset(self, key: str) -> None:
        self._client.delete(self._prefix + key)


def make_limiter(config: Config) -> RateLimiter:
    """Redis when ``REDIS_URL`` is set (several portal processes share it), else in-process."""
    if config.redis_url:
        # Lazy on purpose: the redis client (~0.1 s to import) is a heavy optional dependency, only
        # needed when REDIS_URL is set.
        import redis

        client = redis.Redis.from_url(config.redis_url, socket_timeout=2, socket_connect_timeout=2)
        return RedisLimiter(client, prefix="yikatong:rl:" + config.search_index_prefix, url=config.redis_url)
    return InProcessLimiter()


# --- what the views call -------------------------------------------------------------------


def client_address(request: Request) -> str:
    """The client address as the app sees it (a trusted proxy rewrites it in middleware)."""
    return request.client.host if request.client else "unknown"


def _minutes(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}秒"
    return f"{math.ceil(seconds / 60)}分钟"


def too_many(retry_after: int, message: str) -> PublicError:
    return PublicError(429, "rate_limited", message,
                       headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"})


def enforce(limiter: RateLimiter, key: str, rate: tuple[int, int], message: str | None = None) -> None:
    """Count one event for ``key``; raise a 429 PublicError (with Retry-After) when over."""
    decision = limiter.hit(key, rate[0], rate[1])
    if not decision.allowed:
        raise too_many(decision.retry_after, message or
                       f"操作过于频繁，请{_minutes(decision.retry_after)}后再试。")


def enforce_query_limits(limiter: RateLimiter, config: Config, client: str, person_key: str) -> None:
    """Before a personal lookup: the client's budget, then the person key's failure budget.

    A kiosk (client ``kiosk:<device id>``) serves a queue of villagers: it has its own budget.
    """
    first, decision = limiter.hit_then_peek(*_query_keys(config, client, person_key))
    _refuse_query(first, decision)


async def enforce_query_limits_async(limiter: RateLimiter, config: Config, client: str, person_key: str) -> None:
    """:func:`enforce_query_limits` without blocking the event loop: the in-process limiter at once,
    Redis through its asyncio client (one round trip), any other limiter on a pool thread."""
    keys = _query_keys(config, client, person_key)
    if isinstance(limiter, InProcessLimiter):
        first, decision = limiter.hit_then_peek(*keys)
    elif isinstance(limiter, RedisLimiter):
        first, decision = await limiter.hit_then_peek_async(*keys)
    else:
        first, decision = await run_in_threadpool(limiter.hit_then_peek, *keys)
    _refuse_query(first, decision)


def _query_keys(config: Config, client: str, person_key: str) -> tuple[tuple[str, int, int], tuple[str, int, int]]:
    """A kiosk (client ``kiosk:<device id>``) serves a queue of villagers: it has its own budget."""
    count, window = config.rate_kiosk_per_device if client.startswith("kiosk:") else config.rate_query_per_client
    person_count, person_window = config.rate_query_per_person
    return ("q:c:" + client, count, window), ("q:p:" + person_key, person_count, person_window)


def _refuse_query(first: RateDecision, decision: RateDecision | None) -> None:
    if decision is None:
        raise too_many(first.retry_after,
                       f"查询过于频繁，请{_minutes(first.retry_after)}后再试。")
    if not decision.allowed:
        raise too_many(decision.retry_after,
                       "该身份证号码的查询信息多次填写不正确，为保护您的信息安全，"
                       f"请{_minutes(decision.retry_after)}后再试，或携带身份证到乡镇（街道）咨询。")


def record_failed_lookup(limiter: RateLimiter, config: Config, person_key: str) -> None:
    count, window = config.rate_query_per_person
    limiter.hit("q:p:" + person_key, count, window)


async def record_failed_lookup_async(limiter: RateLimiter, config: Config, person_key: str) -> None:
    count, window = config.rate_query_per_person
    if isinstance(limiter, InProcessLimiter):
        limiter.hit("q:p:" + person_key, count, window)
    elif isinstance(limiter, RedisLimiter):
        await limiter.hit_async("q:p:" + person_key, count, window)
    else:
        await run_in_threadpool(limiter.hit, "q:p:" + person_key, count, window)


async def read_body_limited(request: Request, max_bytes: int) -> bytes:
    """The request body, or a 413 PublicError once it grows past ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PublicError(413, "too_large", "提交的内容太大，请精简后重试。")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PublicError(413, "too_large", "提交的内容太大，请精简后重试。")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # so request.form() / request.json() read the same bytes again
    return body
