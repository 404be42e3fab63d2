"""Where the apps are assembled: the one place that puts the packages together and attaches
what exists only in demo mode, through the apps' own extension points.

Neither admin/, portal/ nor bot/ imports this module or demo/, so none imports another back.

- ``public_app``: the portal (portal/) with the WeChat endpoint (bot/) at ``/wechat`` and, in
  demo mode, the sample people on the home page and the kiosk's simulated card reader.
- ``admin_app``: the internal app (admin/) and, in demo mode, the demo's pages (the clerk's
  sample roster) and the demo accounts under the login form.
"""

from __future__ import annotations

from functools import partial

from starlette.applications import Starlette
from starlette.routing import Mount

from admin.app import create_admin_app
from bot import wechat
from core.config import Config, load_config
from demo import views as demo_views
from demo.people import load_demo_people
from portal.app import create_app
from search.base import SearchEngine

__all__ = ["admin_app", "public_app"]


def public_app(config: Config | None = None, *, search: SearchEngine | None = None) -> Starlette:
    """The public app (what `yikatong serve` serves); with no arguments, over the environment's config."""
    config = config or load_config()
    return create_app(
        config, search=search,
        sample_people=partial(load_demo_people, config.data_dir) if config.demo else None,
        extra_routes=[Mount("/wechat", routes=wechat.routes())],
    )


def admin_app(config: Config) -> Starlette:
    """The admin app; in demo mode with the demo's pages and the demo accounts under the login form."""
    if not config.demo:
        return create_admin_app(config)
    return create_admin_app(config, extra_routes=demo_views.routes(), login_notes=demo_views.login_notes)
