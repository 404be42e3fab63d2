"""Alembic environment for the batch database."""

from admin.models import Base
from core.migrate_env import run

run(Base.metadata, version_table="alembic_version_batch")
