"""Everything a public view needs, built once per app (no globals, easy to swap in tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from core.config import Config
from core.db import Database
from search.base import SearchEngine

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"


@dataclass
class PublicServices:
    config: Config
    public_db: Database
    search: SearchEngine
    templates: Jinja2Templates
    limiter: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


def services(request: Request) -> PublicServices:
    return request.app.state.services
