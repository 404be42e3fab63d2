"""(placeholder: being built)"""

from __future__ import annotations

from core.config import Config


def make_limiter(config: Config) -> None:
    return None
