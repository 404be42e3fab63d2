"""The public Starlette app: portal pages, JSON API, kiosk API and the WeChat endpoint.

It reads only the search indexes and the public store; it never opens the batch database.
"""

from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from core.config import Config
from core.db import Database
from search.base import SearchEngine
from portal import (
    complaints,
    disclosures,
    health,
    home,
    kiosk,
    opendata,
    openapi,
    policies,
    query,
    statements,
    statistics,
)
from portal.errors import exception_handlers
from portal.services import STATIC_DIR, TEMPLATES_DIR, PublicServices


def make_templates(config: Config) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.globals["demo"] = config.demo
    templates.env.globals["site_name"] = "惠民惠农财政补贴资金“一卡通”公开查询"
    from portal import filters

    filters.install(templates.env)
    return templates


def build_services(config: Config, search: SearchEngine | None = None) -> PublicServices:
    from search import make_engine
    from portal import ratelimit

    public_db = Database(config.public_database_url)
    engine = search or make_engine(
        data_dir=config.data_dir, meili_url=config.meili_url, meili_key=config.meili_api_key,
        prefix=config.search_index_prefix,
    )
    return PublicServices(
        config=config,
        public_db=public_db,
        search=engine,
        templates=make_templates(config),
        limiter=ratelimit.make_limiter(config),
    )


def public_routes() -> list[BaseRoute]:
    from bot import wechat

    routes: list[BaseRoute] = []
    for module in (home, health, policies, disclosures, query, statements, complaints, statistics, opendata, openapi, kiosk):
        routes.extend(module.routes())
    routes.append(Mount("/wechat", routes=wechat.routes()))
    routes.append(Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"))
    return routes


def create_app(config: Config | None = None, *, search: SearchEngine | None = None,
               services: PublicServices | None = None) -> Starlette:
    config = config or Config.from_env()
    logging.basicConfig(level=config.log_level)
    svc = services or build_services(config, search)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        svc.public_db.dispose()

    from portal import middleware

    app = Starlette(routes=public_routes(), exception_handlers=exception_handlers(), lifespan=lifespan,
                    middleware=middleware.stack(config))
    app.state.services = svc
    app.state.templates = svc.templates
    app.state.config = config
    return app
