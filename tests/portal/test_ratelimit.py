"""Rate limits: the in-process and Redis limiters, and the personal query's two limits."""

from __future__ import annotations

import secrets
import threading
import time

import pytest
from starlette.testclient import TestClient

from core.config import Config
from portal.ratelimit import InProcessLimiter, RedisLimiter, make_limiter
from tests.conftest import REDIS_URL
from tests.portal.test_lookup import NOBODY_ID



class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    yield client
    client.close()


@pytest.fixture
def redis_limiter(redis_client):
    prefix = f"test:rl:{secrets.token_hex(6)}:"
    yield RedisLimiter(redis_client, prefix=prefix)
    for key in redis_client.scan_iter(prefix + "*"):
        redis_client.delete(key)


def test_in_process_sliding_window():
    clock = FakeClock()
    limiter = InProcessLimiter(clock)
    for _ in range(3):
        assert limiter.hit("a", 3, 60).allowed
        clock.t += 10
    refused = limiter.hit("a", 3, 60)  # events at 1000, 1010, 1020; now 1030
    assert not refused.allowed and refused.remaining == 0 and refused.retry_after == 30
    assert limiter.hit("b", 3, 60).allowed  # keys are independent
    clock.t = 1060.5  # the first event left the window, the others not yet
    assert limiter.hit("a", 3, 60).allowed
    again = limiter.hit("a", 3, 60)
    assert not again.allowed and again.retry_after == 10  # 1010 + 60 - 1060.5, rounded up


def test_in_process_peek_counts_nothing():
    limiter = InProcessLimiter(FakeClock())
    for _ in range(5):
        assert limiter.peek("p", 2, 60).allowed
    limiter.hit("p", 2, 60)
    limiter.hit("p", 2, 60)
    assert not limiter.peek("p", 2, 60).allowed


def test_in_process_is_thread_safe():
    limiter = InProcessLimiter()
    allowed = []
    lock = threading.Lock()

    def worker():
        mine = sum(limiter.hit("shared", 500, 60).allowed for _ in range(200))
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 500  # exactly the limit, never more, under contention


def test_in_process_forgets_idle_keys():
    clock = FakeClock()
    limiter = InProcessLimiter(clock)
    limiter.SWEEP_EVERY = 10
    for n in range(9):
        limiter.hit(f"k{n}", 5, 10)
    clock.t += 11
    limiter.hit("fresh", 5, 10)
    assert len(limiter._events) == 1


def test_redis_sliding_window(redis_limiter):
    decisions = [redis_limiter.hit("a", 3, 2) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert 1 <= decisions[3].retry_after <= 2
    assert redis_limiter.hit("other", 3, 2).allowed
    assert not redis_limiter.peek("a", 3, 2).allowed
    time.sleep(2.05)
    assert redis_limiter.peek("a", 3, 2).allowed
    assert redis_limiter.hit("a", 3, 2).allowed


def test_redis_keys_expire_and_reset(redis_limiter, redis_client):
    redis_limiter.hit("x", 5, 30)
    key = redis_limiter._prefix + "x"
    assert 0 < redis_client.pttl(key) <= 30_000
    redis_limiter.reset("x")
    assert not redis_client.exists(key)


def test_redis_limit_is_shared_and_atomic_across_clients(redis_client):
    import redis

    prefix = f"test:rl:{secrets.token_hex(6)}:"
    results = []
    lock = threading.Lock()

    def worker():
        client = redis.Redis.from_url(REDIS_URL)  # like a second portal process
        limiter = RedisLimiter(client, prefix=prefix)
        mine = sum(limiter.hit("shared", 50, 60).allowed for _ in range(25))
        client.close()
        with lock:
            results.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    redis_client.delete(prefix + "shared")
    assert sum(results) == 50


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_hit_then_peek_counts_the_first_key_and_only_looks_at_the_second(backend, request):
    """The personal query's two limits in one step (one lock, one Redis round trip)."""
    limiter = InProcessLimiter() if backend == "memory" else request.getfixturevalue("redis_limiter")
    for _ in range(2):
        limiter.hit("p", 2, 60)  # the person key has used up its failures
    first, second = limiter.hit_then_peek(("c", 3, 60), ("p", 2, 60))
    assert first.allowed and first.remaining == 2
    assert second is not None and not second.allowed and 1 <= second.retry_after <= 60
    first, second = limiter.hit_then_peek(("c", 3, 60), ("q", 2, 60))
    assert first.allowed and first.remaining == 1 and second is not None and second.allowed and second.remaining == 2
    assert limiter.peek("q", 2, 60).remaining == 2  # looked at, not counted
    limiter.hit_then_peek(("c", 3, 60), ("q", 2, 60))
    refused, unseen = limiter.hit_then_peek(("c", 3, 60), ("q", 2, 60))
    assert not refused.allowed and unseen is None and 1 <= refused.retry_after <= 60
    assert limiter.peek("c", 3, 60).remaining == 0  # the refused event was not counted either


def test_redis_async_path_shares_the_sync_window(redis_client, redis_url):
    """The portal's event loop talks to Redis through redis.asyncio (no pool thread): same keys,
    same window as the blocking calls."""
    import asyncio

    prefix = f"test:rl:{secrets.token_hex(6)}:"
    limiter = RedisLimiter(redis_client, prefix=prefix, url=redis_url)

    async def run():
        answers = [await limiter.hit_then_peek_async(("c", 2, 60), ("p", 1, 60)) for _ in range(3)]
        failed = await limiter.hit_async("p", 1, 60)
        return answers, failed

    try:
        answers, failed = asyncio.run(run())
        assert [a.allowed for a, _ in answers] == [True, True, False]
        assert answers[0][1] is not None and answers[0][1].allowed and answers[2][1] is None
        assert failed.allowed and not limiter.peek("p", 1, 60).allowed  # seen by the blocking side
        assert limiter.peek("c", 2, 60).remaining == 0
    finally:
        for key in redis_client.scan_iter(prefix + "*"):
            redis_client.delete(key)


def test_redis_async_burst_shares_round_trips_and_keeps_the_limit(redis_client, redis_url):
    """A burst of concurrent queries on one worker: exactly the client's budget is let through
    (in arrival order, each person's failure budget checked), and the checks waiting together go
    to Redis together — far fewer script calls than queries."""
    import asyncio

    prefix = f"test:rl:{secrets.token_hex(6)}:"
    limiter = RedisLimiter(redis_client, prefix=prefix, url=redis_url)
    for _ in range(2):
        limiter.hit("p-locked", 2, 60)  # this person's failures are used up

    def calls() -> int:
        stats = redis_client.info("commandstats")
        return sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))

    async def burst():
        people = ["p-locked" if i == 7 else f"p{i}" for i in range(40)]
        return await asyncio.gather(*(limiter.hit_then_peek_async(("c", 30, 60), (person, 2, 60))
                                      for person in people))

    try:
        before = calls()
        answers = asyncio.run(burst())
        used = calls() - before
        allowed = [first.allowed for first, _ in answers]
        assert allowed == [True] * 30 + [False] * 10  # the first 30 in arrival order
        assert all(second is None for _, second in answers[30:])
        assert [second.allowed for _, second in answers[:30]] == [i != 7 for i in range(30)]
        assert limiter.peek("c", 30, 60).remaining == 0  # refused queries were not counted
        assert used < 10, f"{used} script calls for 40 concurrent queries"
    finally:
        for key in redis_client.scan_iter(prefix + "*"):
            redis_client.delete(key)


def test_redis_down_on_the_async_path_is_a_503():
    import asyncio

    import redis

    from portal.errors import PublicError

    limiter = RedisLimiter(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2),
                           url="redis://127.0.0.1:1/0")
    with pytest.raises(PublicError) as caught:
        asyncio.run(limiter.hit_then_peek_async(("c", 1, 1), ("p", 1, 1)))
    assert caught.value.status == 503


def test_make_limiter_chooses_redis_when_configured(make_config, redis_client):
    assert isinstance(make_limiter(make_config()), InProcessLimiter)
    assert isinstance(make_limiter(make_config(REDIS_URL=REDIS_URL)), RedisLimiter)


def test_redis_down_is_a_503_not_a_crash():
    import redis

    from portal.errors import PublicError

    limiter = RedisLimiter(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    with pytest.raises(PublicError) as caught:
        limiter.hit("a", 1, 1)
    assert caught.value.status == 503


# --- the personal query's limits -------------------------------------------------------------


def _client(make_config, engine, **env) -> TestClient:
    from portal.app import create_app

    config: Config = make_config(**env)
    return TestClient(create_app(config, search=engine))


def _ask(client: TestClient, person, card_digits: str | None = None, id_number: str | None = None):
    return client.post("/api/query", json={"id_number": id_number or person.id_number, "name": person.name,
                                           "card_digits": card_digits or person.card_last4})


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_per_client_limit_with_retry_after(make_config, search_engine, seeded, public_db, backend, request):
    wang, li = seeded.people[0], seeded.people[1]
    env = {"RATE_LIMIT_QUERY_PER_CLIENT": "3/60", "RATE_LIMIT_QUERY_PER_PERSON": "100/3600"}
    if backend == "redis":  # the in-memory variant never needs a Redis
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    with _client(make_config, search_engine, **env) as client:
        assert [_ask(client, wang).status_code for _ in range(3)] == [200, 200, 200]
        refused = _ask(client, li, "0000")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "查询过于频繁" in refused.json()["error"]["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # the HTML form gets the same refusal as a Chinese page
        page = client.get("/query")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        html = client.post("/query", data={"csrf_token": token, "id_number": wang.id_number, "name": wang.name,
                                           "card_digits": wang.card_last4})
        assert html.status_code == 429 and "查询过于频繁" in html.text and "retry-after" in html.headers


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_per_person_limit_stops_guessing_the_card_from_many_addresses(make_config, search_engine, seeded, public_db,
                                                                      backend, request):
    wang, li = seeded.people[0], seeded.people[1]
    env = {"RATE_LIMIT_QUERY_PER_CLIENT": "1000/60", "RATE_LIMIT_QUERY_PER_PERSON": "3/3600"}
    if backend == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    with _client(make_config, search_engine, **env) as client:
        for guess in ("1111", "2222", "3333"):
            assert _ask(client, wang, guess).status_code == 404
        # even the right digits are refused now, so guessing further is pointless
        refused = _ask(client, wang)
        assert refused.status_code == 429
        assert "多次填写不正确" in refused.json()["error"]["message"]
        assert 3000 < int(refused.headers["retry-after"]) <= 3600
        # other people are not affected
        assert _ask(client, li).status_code == 200


def test_person_limit_answers_the_same_for_unknown_people(make_config, search_engine, seeded, public_db):
    wang = seeded.people[0]
    env = {"RATE_LIMIT_QUERY_PER_CLIENT": "1000/60", "RATE_LIMIT_QUERY_PER_PERSON": "2/3600"}
    with _client(make_config, search_engine, **env) as client:
        answers = {}
        for who in (wang.id_number, NOBODY_ID):
            for guess in ("1111", "2222"):
                assert _ask(client, wang, guess, id_number=who).status_code == 404
            answers[who] = _ask(client, wang, "3333", id_number=who)
        known, unknown = answers[wang.id_number], answers[NOBODY_ID]
        assert known.status_code == unknown.status_code == 429
        assert known.json() == unknown.json()


def test_successful_lookups_do_not_use_the_person_budget(make_config, search_engine, seeded, public_db):
    env = {"RATE_LIMIT_QUERY_PER_CLIENT": "1000/60", "RATE_LIMIT_QUERY_PER_PERSON": "1/3600"}
    with _client(make_config, search_engine, **env) as client:
        for _ in range(3):
            assert _ask(client, seeded.people[0]).status_code == 200
