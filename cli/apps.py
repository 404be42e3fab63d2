"""Where the apps are assembled: the one place that puts the public packages together (and
attaches what exists only in demo mode), so that none of them imports another back.

``public_app`` — the portal (portal/) with the WeChat endpoint (bot/) at ``/wechat`` and, in
demo mode, the sample people on the home page and the kiosk's simulated card reader.
"""

from __future__ import annotations

from functools import partial

from starlette.applications import Starlette
from starlette.routing import Mount

from bot import wechat
from core.config import Config, load_config
from core.demo_people import load_demo_people
from portal.app import create_app
from search.base import SearchEngine

__all__ = ["public_app"]


def public_app(config: Config | None = None, *, search: SearchEngine | None = None) -> Starlette:
    """The public app (what `yikatong serve` serves); with no arguments, over the environment's config."""
    config = config or load_config()
    return create_app(
        config, search=search,
        sample_people=partial(load_demo_people, config.data_dir) if config.demo else None,
        extra_routes=[Mount("/wechat", routes=wechat.routes())],
    )
