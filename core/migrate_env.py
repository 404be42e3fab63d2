"""The one Alembic environment body, shared by the batch database and the public store.

Each side's `migrations/env.py` only names its metadata and version table. Both databases may
share one PostgreSQL database, so each side only ever touches its own tables and keeps its own
version table.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, create_engine, pool


def run(target_metadata: MetaData, version_table: str) -> None:
    def include_name(name, type_, parent_names) -> bool:  # noqa: ANN001 - Alembic's hook signature
        return name in target_metadata.tables if type_ == "table" else True

    options = dict(target_metadata=target_metadata, render_as_batch=True, version_table=version_table,
                   include_name=include_name)
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, compare_type=True, **options)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
