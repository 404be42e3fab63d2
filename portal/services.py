"""Everything a public view needs, built once per app (no globals, easy to swap in tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from core.config import Config
from core.db import Database
from search.base import SearchEngine

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "PublicServices", "SamplePeople", "services"]

# Package data: served from the installed package, whatever the working directory.
HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

# Sample people a newcomer may look up (demo mode): each a dict with ``id_number``, ``name``,
# ``card_number`` (or ``card_last4``) and ``shows`` (what their records show, in Chinese).
SamplePeople = Callable[[], list[dict[str, str]]]


@dataclass
class PublicServices:
    config: Config
    public_db: Database
    search: SearchEngine
    templates: Jinja2Templates
    limiter: Any = None
    # Shown on the home page and handed out by the kiosk's simulated card reader; None (the
    # default, and always outside demo mode): no sample people, no simulated reader.
    sample_people: SamplePeople | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def services(request: Request) -> PublicServices:
    return request.app.state.services
