"""Shared fixtures: real databases (SQLite files, or PostgreSQL when YIKATONG_TEST_DATABASE_URL
is set — `make test` runs the whole suite both ways), a test Config, the in-process search engine,
and the Redis at YIKATONG_TEST_REDIS_URL.

Each test gets its own fresh schema, so tests never see each other's rows. The rules of a whole
run (skips fail under CI, the record `make test` summarises) are in tests/suite.py.
"""

from __future__ import annotations

import os
import secrets as _secrets
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest
import redis
from sqlalchemy import create_engine, text

from core.config import Config
from core.db import Database

pytest_plugins = ("tests.suite",)

PG_URL = os.environ.get("YIKATONG_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("YIKATONG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _fresh_url(tmp_path: Path, name: str) -> tuple[str, object]:
    """A URL to an empty database and a cleanup callable."""
    if not PG_URL:
        return f"sqlite:///{tmp_path / (name + '.sqlite3')}", lambda: None
    schema = f"t_{name}_{_secrets.token_hex(6)}"
    admin_engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options={quote('-csearch_path=' + schema)}"

    def cleanup() -> None:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin_engine.dispose()

    return url, cleanup


@pytest.fixture
def batch_db_url(tmp_path: Path) -> Iterator[str]:
    url, cleanup = _fresh_url(tmp_path, "batch")
    yield url
    cleanup()  # type: ignore[operator]


@pytest.fixture
def public_db_url(tmp_path: Path) -> Iterator[str]:
    url, cleanup = _fresh_url(tmp_path, "public")
    yield url
    cleanup()  # type: ignore[operator]


@pytest.fixture
def batch_db(batch_db_url: str) -> Iterator[Database]:
    from admin.models import Base

    db = Database(batch_db_url)
    Base.metadata.create_all(db.engine)
    yield db
    db.dispose()


@pytest.fixture
def public_db(public_db_url: str) -> Iterator[Database]:
    from portal.store import PublicBase

    db = Database(public_db_url)
    PublicBase.metadata.create_all(db.engine)
    yield db
    db.dispose()


TEST_SECRETS = {
    "YIKATONG_HMAC_KEY": "test-hmac-key-not-for-production-0001",
    "YIKATONG_SESSION_SECRET": "test-session-secret-not-for-production",
    "YIKATONG_FIELD_KEY": "x3Qv5c8yQ2kCwq3Wz1wJb3p0aGVxYjJ6b3lqbGx4eGs=",
    "WECHAT_TOKEN": "testtoken123",
    "WECHAT_APPID": "wx0123456789abcdef",
    "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
}


@pytest.fixture
def make_config(tmp_path: Path, batch_db_url: str, public_db_url: str):
    """Build a Config for a test: real secrets, fresh databases, data dir under tmp_path."""

    def factory(**overrides: str) -> Config:
        env = {
            "YIKATONG_DATA_DIR": str(tmp_path / "data"),
            "BATCH_DATABASE_URL": batch_db_url,
            "PUBLIC_DATABASE_URL": public_db_url,
            "SEARCH_INDEX_PREFIX": "t" + _secrets.token_hex(4) + "_",
            **TEST_SECRETS,
        }
        if os.environ.get("MEILI_URL"):
            env["MEILI_URL"] = os.environ["MEILI_URL"]
            env["MEILI_API_KEY"] = os.environ.get("MEILI_API_KEY", "")
        env.update(overrides)
        return Config.from_env(env)

    return factory


@pytest.fixture
def config(make_config) -> Config:
    return make_config()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """YIKATONG_TEST_REDIS_URL once a Redis answers there; otherwise the test is skipped with the
    reason (a failure under CI, see tests/suite.py). Marks the test ``redis`` for the run record."""
    request.applymarker(pytest.mark.redis)
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"no Redis at {REDIS_URL} ({error.__class__.__name__}); set YIKATONG_TEST_REDIS_URL")
    finally:
        client.close()
    return REDIS_URL
