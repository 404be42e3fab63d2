"""``/healthz`` (is this process able to serve?) and ``/status.json`` (how fresh is the data?).

``/healthz``: ``{status, versions: {app, python, starlette, engine}, indexes: {name: documents},
public_store: bool}``; 200 when the search engine and the public store answer, else 503
(``status: "degraded"``). Never cached.

``/status.json``: ``{indexes, disclosures: {total, newest_date, by_kind, by_year}, policies,
checked_at}`` — what a monitor or a journalist needs to see whether publication is up to date.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from core import timeutil
from core.web import json_response, json_route
from search.base import SearchError, SearchQuery
from search.schemas import SPECS
from portal.services import PublicServices, services

__all__ = ["index_counts", "routes"]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def index_counts(svc: PublicServices) -> dict[str, int | None]:
    counts: dict[str, int | None] = {}
    for name in SPECS:
        try:
            counts[name] = svc.search.count(name)
        except SearchError:
            counts[name] = None
    return counts


def _engine_version(svc: PublicServices) -> str:
    try:
        kind = str(svc.search.stats().get("engine", type(svc.search).__name__))
    except SearchError:
        kind = type(svc.search).__name__
    package = {"embedded": "tantivy", "meilisearch": "meilisearch"}.get(kind, "")
    version = _version(package) if package else None
    return f"{kind} ({package} {version})" if version else kind


def _store_ok(svc: PublicServices) -> bool:
    try:
        with svc.public_db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def _health(svc: PublicServices) -> dict[str, Any]:
    counts = index_counts(svc)
    store = _store_ok(svc)
    ok = store and all(v is not None for v in counts.values())
    return {
        "status": "ok" if ok else "degraded",
        "versions": {
            "app": _version("yikatong") or "unknown",
            "python": platform.python_version(),
            "starlette": _version("starlette"),
            "engine": _engine_version(svc),
        },
        "indexes": counts,
        "public_store": store,
    }


async def healthz(request: Request) -> Response:
    data = await run_in_threadpool(_health, services(request))
    return json_response(data, status=200 if data["status"] == "ok" else 503,
                         headers={"Cache-Control": "no-store"})


def _status(svc: PublicServices) -> dict[str, Any]:
    counts = index_counts(svc)
    disclosures: dict[str, Any] = {"total": counts.get("disclosures"), "newest_date": None, "by_kind": {}, "by_year": {}}
    try:
        result = svc.search.search("disclosures", SearchQuery(facets=["kind", "year"], sort=[("date", "desc")], per_page=1))
        disclosures.update(total=result.total, by_kind=result.facets.get("kind", {}),
                           by_year=result.facets.get("year", {}),
                           newest_date=result.hits[0].get("date") if result.hits else None)
    except SearchError:
        pass
    return {"indexes": counts, "disclosures": disclosures, "policies": counts.get("policies"),
            "checked_at": timeutil.now().isoformat(timespec="seconds")}


async def status(request: Request) -> Response:
    data = await run_in_threadpool(_status, services(request))
    return json_response(data, headers={"Cache-Control": "public, max-age=30"})


def routes() -> list[BaseRoute]:
    return [
        json_route("/healthz", healthz, name="healthz", methods=["GET"]),
        json_route("/status.json", status, name="status_json", methods=["GET"]),
    ]
