"""The index generation (search/generation.py): shared through a file or Redis, bumped by every
write an engine makes visible."""

from __future__ import annotations

import os
import secrets

import pytest

from search import make_engine
from search.generation import FileGeneration, RedisGeneration, make_generation
from search.schemas import POLICIES

REDIS_URL = os.environ.get("YIKATONG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_file_generation_is_shared_by_every_reader_of_the_folder(tmp_path) -> None:
    writer, reader = FileGeneration(tmp_path / "generation"), FileGeneration(tmp_path / "generation")
    assert reader.current() == 0  # no file yet
    assert writer.bump() == 1 and reader.current() == 1
    assert writer.bump() == 2 and reader.current() == 2
    assert FileGeneration(tmp_path / "generation").bump() == 3 and writer.current() == 3


def test_every_visible_write_of_the_embedded_engine_bumps(tmp_path) -> None:
    engine = make_engine(tmp_path)
    other = make_generation(tmp_path)  # another process reading the same folder
    start = other.current()
    engine.ensure_index(POLICIES)
    after_create = other.current()
    engine.replace_documents("policies", [{"id": "p1", "name": "耕地地力保护补贴"}])
    after_write = other.current()
    engine.delete_documents("policies", ["p1"])
    after_delete = other.current()
    assert start < after_create < after_write < after_delete
    engine.ensure_index(POLICIES)  # unchanged settings: nothing visible changed
    assert other.current() == after_delete


def test_redis_generation_is_read_again_after_the_recheck_interval() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    key = "yikatong:generation:test-" + secrets.token_hex(4)
    now = [100.0]
    reader = RedisGeneration(client, key, recheck=0.25, clock=lambda: now[0])
    writer = RedisGeneration(client, key)
    try:
        assert reader.current() == 0
        writer.bump()
        assert reader.current() == 0  # within the recheck interval: the value read before
        now[0] += 0.3
        assert reader.current() == 1
    finally:
        client.delete(key)
        client.close()


def test_redis_not_answering_means_unknown_not_stale() -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    assert RedisGeneration(client, "k").current() is None
