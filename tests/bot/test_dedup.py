"""De-duplication stores: in-process by default, Redis (for real) when REDIS_URL is set."""

from __future__ import annotations

import secrets
import time

import pytest
import redis

from bot.dedup import Dedup, MemoryStore, RedisStore
from tests.bot.conftest import REDIS_URL, WechatTester, bind_person, bot_runtime, new_openid, text_xml


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    prefix = f"test:{secrets.token_hex(6)}:"
    yield client, prefix
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


def test_memory_store_claims_once_and_expires() -> None:
    clock = [1000.0]
    store = MemoryStore(clock=lambda: clock[0])
    dedup = Dedup(store, ttl=10)
    assert dedup.claim("msg:1") is True
    assert dedup.claim("msg:1") is False
    assert dedup.cached("msg:1") is None  # still being processed
    dedup.remember("msg:1", "答复")
    assert dedup.cached("msg:1") == "答复"
    clock[0] += 11
    assert dedup.cached("msg:1") is None
    assert dedup.claim("msg:1") is True
    assert [store.incr("n", 5) for _ in range(3)] == [1, 2, 3]
    clock[0] += 6
    assert store.incr("n", 5) == 1


def test_redis_store_claims_once_across_clients(redis_client) -> None:
    client, prefix = redis_client
    a = Dedup(RedisStore(client, prefix), ttl=30)
    b = Dedup(RedisStore(redis.Redis.from_url(REDIS_URL), prefix), ttl=30)  # another process
    assert a.claim("msg:42") is True
    assert b.claim("msg:42") is False
    a.remember("msg:42", "同一个答复")
    assert b.cached("msg:42") == "同一个答复"
    assert 0 < client.ttl(prefix + "dedup:msg:42") <= 30
    store = RedisStore(client, prefix)
    assert [store.incr("tries", 60) for _ in range(3)] == [1, 2, 3]
    assert 0 < client.ttl(prefix + "tries") <= 60


def test_replay_through_the_app_with_redis_is_processed_once(bot_app_factory, seeded, redis_client) -> None:
    client, config = bot_app_factory(REDIS_URL=REDIS_URL)
    wx = WechatTester(client, config.wechat_token, config.wechat_appid, config.wechat_aes_key, encrypt=False)
    runtime = bot_runtime(wx)
    assert isinstance(runtime.store, RedisStore)
    openid = new_openid()
    bind_person(wx, openid, seeded.people[0])
    before = runtime.processed
    xml = text_xml(openid, "解绑", msg_id=int(time.time() * 1000))
    replies = [wx.decode(wx.post_xml(xml)) for _ in range(4)]
    assert replies == ["已解除绑定。需要时可发送“绑定”重新绑定。"] * 4
    assert runtime.processed == before + 1
    # A second app process sharing the Redis answers the retry the same, without processing.
    client2, _ = bot_app_factory(REDIS_URL=REDIS_URL, SEARCH_INDEX_PREFIX=config.search_index_prefix)
    wx2 = WechatTester(client2, config.wechat_token, config.wechat_appid, config.wechat_aes_key, encrypt=False)
    assert wx2.decode(wx2.post_xml(xml)) == replies[0]
    assert bot_runtime(wx2).processed == 0
    redis_client[0].delete(*redis_client[0].keys(f"yikatong:{config.search_index_prefix}*") or ["none"])
