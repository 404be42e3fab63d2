"""The portal's Starlette app: pages, JSON API and kiosk API.

It reads only the search indexes and the public store; it never opens the batch database.
`create_app` builds the portal alone; the public app people reach (the portal plus the WeChat
endpoint at ``/wechat``, and in demo mode the sample people) is assembled in `cli.apps`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from core import regions
from core.config import Config, load_config
from core.db import Database
from core.web import SHARED_TEMPLATES, install_url_for
from portal import (
    complaints,
    disclosures,
    filters,
    health,
    home,
    kiosk,
    middleware,
    opendata,
    openapi,
    policies,
    query,
    ratelimit,
    statements,
    statistics,
)
from portal.cache import ResponseCache
from portal.errors import exception_handlers
from portal.services import STATIC_DIR, TEMPLATES_DIR, PublicServices, SamplePeople
from search import engine_for
from search.base import SearchEngine

__all__ = ["build_services", "create_app", "make_templates", "portal_routes"]

SITE_NAME = "惠民惠农财政补贴资金“一卡通”公开查询"


def make_templates(config: Config) -> Jinja2Templates:
    templates = install_url_for(Jinja2Templates(directory=[str(TEMPLATES_DIR), SHARED_TEMPLATES]))
    templates.env.globals["demo"] = config.demo
    templates.env.globals["site_name"] = SITE_NAME
    filters.install(templates.env)
    return templates


def build_services(config: Config, search: SearchEngine | None = None, *,
                   sample_people: SamplePeople | None = None) -> PublicServices:
    engine = search or engine_for(config)
    return PublicServices(
        config=config,
        public_db=Database(config.public_database_url),
        search=engine,
        templates=make_templates(config),
        limiter=ratelimit.make_limiter(config),
        sample_people=sample_people,
    )


def portal_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    # The personal paths first: every request of theirs is routed (the response cache answers
    # most others before routing), and Starlette tries the routes in order.
    for module in (query, kiosk, home, health, policies, disclosures, statements, complaints, statistics, opendata,
                   openapi):
        routes.extend(module.routes())
    return routes


def create_app(config: Config | None = None, *, search: SearchEngine | None = None,
               services: PublicServices | None = None, sample_people: SamplePeople | None = None,
               extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The portal over ``config``; ``extra_routes`` (e.g. the ``/wechat`` mount) are served with it."""
    config = config or load_config()
    logging.basicConfig(level=config.log_level)
    svc = services or build_services(config, search, sample_people=sample_people)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(regions.load)  # not on the first request of a fresh worker
        # What start-up loaded (region tables, templates, routes, the engine: ~190,000 objects at
        # 1M lines) lives as long as the worker: out of the cyclic collector's sight, so that an
        # occasional full collection no longer walks it (≈ 90 ms stalls under load, the p99 of
        # docs/benchmarks.md). gc.freeze() is the standard library's tool for exactly this.
        gc.freeze()
        yield
        svc.public_db.dispose()

    routes = [*portal_routes(), *extra_routes,
              Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static")]
    app = Starlette(routes=routes, exception_handlers=exception_handlers(), lifespan=lifespan,
                    middleware=[Middleware(ResponseCache, generation=svc.search.generation),
                                *middleware.stack(config)])
    app.state.services = svc
    app.state.templates = svc.templates
    app.state.config = config
    return app
