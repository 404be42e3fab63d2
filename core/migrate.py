"""Alembic migrations for the two databases, run programmatically (no alembic.ini needed).

`upgrade(url, "batch")` / `upgrade(url, "public")`; `downgrade(url, which, "base")`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config as AlembicConfig

ROOT = Path(__file__).resolve().parent.parent
LOCATIONS = {"batch": ROOT / "admin" / "migrations", "public": ROOT / "portal" / "migrations"}

Which = Literal["batch", "public"]


def alembic_config(url: str, which: Which) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(LOCATIONS[which]))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, which: Which, revision: str = "head") -> None:
    command.upgrade(alembic_config(url, which), revision)


def downgrade(url: str, which: Which, revision: str = "base") -> None:
    command.downgrade(alembic_config(url, which), revision)


def revision(url: str, which: Which, message: str) -> None:
    """Autogenerate a new revision from the models (developer tool)."""
    command.revision(alembic_config(url, which), message=message, autogenerate=True)
