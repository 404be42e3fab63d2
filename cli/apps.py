"""Where the apps are assembled, with what only the assembler may know about (demo mode).

Neither admin/ nor portal/ imports this module or demo/: demo mode attaches its pages and
hints here, through the apps' own extension points.
"""

from __future__ import annotations

from starlette.applications import Starlette

from admin.app import create_admin_app
from core.config import Config
from demo import views as demo_views

__all__ = ["admin_app"]


def admin_app(config: Config) -> Starlette:
    """The admin app; in demo mode with the demo's pages (the clerk's sample roster) and the demo
    accounts under the login form."""
    if not config.demo:
        return create_admin_app(config)
    return create_admin_app(config, extra_routes=demo_views.routes(), login_notes=demo_views.login_notes)
