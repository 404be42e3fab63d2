"""Alembic environment for the public store."""

from core.migrate_env import run
from portal.store import PublicBase

run(PublicBase.metadata, version_table="alembic_version_public")
