"""The internal admin app (内部管理端): a Starlette app of its own, internal network only.

`create_admin_app(config)` builds it over the batch database (`Config.batch_database_url`) from
the routes of each feature package (access, batches, library, people, audit, complaints); `yikatong admin
serve` runs it on 127.0.0.1:8001 (cli/serve.py, through cli/apps.py). Every page is in Chinese;
permissions are checked in one place (admin/access/roles.py) by every view.

Three extension points, for whoever assembles the app (demo mode does, in cli/apps.py):
`extra_routes` (more pages, after the product's own), `login_notes` (HTML notes shown under
the login form) and `today` (the business day the workflow acts on and counts deadlines from;
by default today in Asia/Shanghai). By default there are none.
"""

from __future__ import annotations

from datetime import date
from typing import Callable, Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from admin.access import roles
from admin.access import views as access_views
from admin.access.auth import SessionMiddleware
from admin.audit import views as audit_views
from admin.bank import views as bank_views
from admin.batches import publicity_views
from admin.batches import views as batches_views
from admin.batches import workflow_views
from admin.batches.service import period_label
from admin.complaints import views as complaints_views
from admin.library import views as library_views
from admin.people import views as people_views
from admin.supervision import report_views, signal_views, spot_check_views
from admin.web import EXCEPTION_HANDLERS, HERE, AdminServices, LoginNotes, RefuseNul, make_templates, no_login_notes
from core.config import Config
from core.db import Database

__all__ = ["create_admin_app", "routes"]


def routes() -> list[BaseRoute]:
    """The product's pages, feature by feature, and the static files."""
    table: list[BaseRoute] = []
    for feature in (access_views, batches_views, workflow_views, publicity_views, bank_views, library_views,
                    people_views, audit_views, complaints_views, signal_views, spot_check_views, report_views):
        table.extend(feature.routes())
    table.append(Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"))
    return table


def create_admin_app(config: Config | None = None, *, extra_routes: Sequence[BaseRoute] = (),
                     login_notes: LoginNotes = no_login_notes,
                     today: Callable[[], date] | None = None) -> Starlette:
    config = config or Config.from_env()
    templates = make_templates()
    templates.env.globals.update(ROLE_LABELS=roles.ROLE_LABELS, can=roles.can, period_label=period_label)
    app = Starlette(routes=[*routes(), *extra_routes], exception_handlers=EXCEPTION_HANDLERS)
    app.add_middleware(RefuseNul)  # inside the session middleware: the error page reads the session
    app.add_middleware(SessionMiddleware, secret=config.session_secret)
    app.state.admin = AdminServices(config=config, db=Database(config.batch_database_url), templates=templates,
                                    login_notes=login_notes)
    if today is not None:
        app.state.admin.today = today
    return app
