"""(placeholder: being built) Middleware stack of the public app."""

from __future__ import annotations

from starlette.middleware import Middleware

from core.config import Config


def stack(config: Config) -> list[Middleware]:
    return []
