"""Message de-duplication: WeChat retries a message 3 times when it gets no reply within 5 s.

The same message (FromUserName+MsgId, or FromUserName+CreateTime+Event for events) is processed once; every
retry gets the same answer (the cached reply text). Two stores behind one small interface:
:class:`MemoryStore` (one process, the default) and :class:`RedisStore` (several processes,
when ``REDIS_URL`` is set). Both also count attempts (:meth:`KeyValueStore.incr`), which the
binding page uses to limit guesses per WeChat user.

Cached values are reply texts: they never contain an ID number (commands refuse to echo one).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from core.config import Config

DEFAULT_TTL = 300  # seconds: WeChat retries within ~15 s; keep replies well beyond that
PENDING = "\x00pending"


class KeyValueStore(Protocol):
    def add(self, key: str, value: str, ttl: int) -> bool:
        """Set ``key`` only if absent; True when this call set it."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl: int) -> None: ...

    def incr(self, key: str, ttl: int) -> int:
        """Increment a counter that expires ``ttl`` seconds after its first increment."""


class MemoryStore:
    """In-process store with expiry (default without Redis)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._data: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._data[key]
            return None
        return item[1]

    def _sweep(self) -> None:
        if len(self._data) > 10_000:
            now = self._clock()
            for key in [k for k, (exp, _) in self._data.items() if exp <= now]:
                del self._data[key]

    def add(self, key: str, value: str, ttl: int) -> bool:
        with self._lock:
            self._sweep()
            if self._live(key) is not None:
                return False
            self._data[key] = (self._clock() + ttl, value)
            return True

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(key)

    def set(self, key: str, value: str, ttl: int) -> None:
        with self._lock:
            self._data[key] = (self._clock() + ttl, value)

    def incr(self, key: str, ttl: int) -> int:
        with self._lock:
            current = self._live(key)
            if current is None:
                self._data[key] = (self._clock() + ttl, "1")
                return 1
            expires = self._data[key][0]
            count = int(current) + 1
            self._data[key] = (expires, str(count))
            return count


class RedisStore:
    """Redis-backed store shared by several bot processes."""

    def __init__(self, redis_client, prefix: str) -> None:
        self.redis = redis_client
        self.prefix = prefix

    def _k(self, key: str) -> str:
        return self.prefix + key

    def add(self, key: str, value: str, ttl: int) -> bool:
        return bool(self.redis.set(self._k(key), value, nx=True, ex=ttl))

    def get(self, key: str) -> str | None:
        value = self.redis.get(self._k(key))
        if value is None:
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    def set(self, key: str, value: str, ttl: int) -> None:
        self.redis.set(self._k(key), value, ex=ttl)

    def incr(self, key: str, ttl: int) -> int:
        pipe = self.redis.pipeline()
        pipe.incr(self._k(key))
        pipe.expire(self._k(key), ttl, nx=True)
        count, _ = pipe.execute()
        return int(count)


def redis_prefix(config: Config) -> str:
    return f"yikatong:{config.search_index_prefix}wechat:"


def make_store(config: Config) -> KeyValueStore:
    """Redis when ``config.redis_url`` is set, else in-process."""
    if config.redis_url:
        # Lazy on purpose: the redis client (~0.1 s to import) is a heavy optional dependency, only
        # needed when REDIS_URL is set.
        import redis

        return RedisStore(redis.Redis.from_url(config.redis_url), redis_prefix(config))
    return MemoryStore()


def message_key(message) -> str:
    """The de-dup key of a parsed wechatpy message or event."""
    msg_id = getattr(message, "id", None)
    if message.type != "event" and msg_id:
        return f"msg:{message.source}:{msg_id}"
    event = getattr(message, "event", "") or ""
    return f"evt:{message.source}:{message.time}:{event}"


class Dedup:
    """Claim a message once; remember its reply for the retries."""

    def __init__(self, store: KeyValueStore, ttl: int = DEFAULT_TTL) -> None:
        self.store = store
        self.ttl = ttl

    def claim(self, key: str) -> bool:
        """True for the first delivery of ``key``; False for a retry."""
        return self.store.add("dedup:" + key, PENDING, self.ttl)

    def remember(self, key: str, reply: str) -> None:
        self.store.set("dedup:" + key, reply, self.ttl)

    def cached(self, key: str) -> str | None:
        """The reply of an already processed message, or None while it is still being processed."""
        value = self.store.get("dedup:" + key)
        if value is None or value == PENDING:
            return None
        return value
