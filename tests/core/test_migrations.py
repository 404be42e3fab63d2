"""Migrations run up and down on the test database (SQLite, or PostgreSQL in CI's second leg)."""

from sqlalchemy import create_engine, inspect

from admin.models import Base
from core import migrate
from portal.store import PublicBase


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_batch_and_public_migrations_go_up_and_down_in_one_database(batch_db_url: str) -> None:
    # Both schemas may share one database (DATABASE_URL): they must not collide.
    migrate.upgrade(batch_db_url, "batch")
    migrate.upgrade(batch_db_url, "public")
    tables = _tables(batch_db_url)
    assert set(Base.metadata.tables) <= tables
    assert set(PublicBase.metadata.tables) <= tables
    migrate.downgrade(batch_db_url, "public")
    tables = _tables(batch_db_url)
    assert not (set(PublicBase.metadata.tables) & tables)
    assert set(Base.metadata.tables) <= tables
    migrate.downgrade(batch_db_url, "batch")
    assert not (set(Base.metadata.tables) & _tables(batch_db_url))


def test_migrations_match_the_models(batch_db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate.upgrade(batch_db_url, "batch")
    migrate.upgrade(batch_db_url, "public")
    engine = create_engine(batch_db_url)
    with engine.connect() as conn:
        for metadata in (Base.metadata, PublicBase.metadata):
            ctx = MigrationContext.configure(
                conn,
                opts={"include_name": lambda name, type_, parent, md=metadata: type_ != "table" or name in md.tables},
            )
            diff = compare_metadata(ctx, metadata)
            assert diff == [], diff
    engine.dispose()
