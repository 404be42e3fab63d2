"""Alembic environment for the public store."""

from alembic import context
from sqlalchemy import create_engine, pool

from portal.store import PublicBase

target_metadata = PublicBase.metadata
VERSION_TABLE = "alembic_version_public"


def include_name(name, type_, parent_names):
    """Both databases may share one PostgreSQL database: only ever touch our own tables."""
    if type_ == "table":
        return name in target_metadata.tables
    return True


def run_migrations_offline() -> None:
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, version_table=VERSION_TABLE, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True, version_table=VERSION_TABLE, include_name=include_name,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
