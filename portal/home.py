"""Home page (`/`) and the large-type switch (大字版, `/large-text`).

The home page: one search box (into the disclosure search), entry cards to every channel, the
latest published results and the sample people of the app's sample-people provider
(``PublicServices.sample_people``: attached by the assembler in demo mode only; without one,
or when it fails, nothing is shown).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from core.web import path_for, route
from portal.filters import LARGE_TEXT_COOKIE
from portal.rendering import respond
from portal.services import services
from search.base import SearchError, SearchQuery

__all__ = ["channels", "latest_results", "routes", "sample_people"]

log = logging.getLogger("yikatong.portal")

LATEST_COUNT = 8

# (route name, title, text) of each entry card.
CHANNELS: tuple[tuple[str, str, str], ...] = (
    ("policies", "政策清单", "各级惠民惠农补贴政策：补贴标准、对象、范围和政策文件。"),
    ("disclosures", "发放公开", "按地区、项目、年度查询已公示的补贴名单和发放结果（已隐去个人敏感信息）。"),
    ("query_form", "我的补贴", "输入身份证号、姓名和社保卡号后四位，查询本人的补贴发放明细和明白条。"),
    ("complaints_index", "投诉举报", "对补贴发放有疑问或发现问题，可在线投诉举报，并凭查询码跟踪办理进度。"),
    ("statistics", "统计", "按项目、地区、年度汇总的发放金额、人次和发放及时情况。"),
)


def latest_results(request: Request, count: int = LATEST_COUNT) -> list[dict[str, Any]]:
    """The newest published disclosure lines (empty when the index is missing or down)."""
    search = services(request).search
    try:
        result = search.search("disclosures", SearchQuery(sort=[("date", "desc")], per_page=count))
    except SearchError:
        return []
    return result.hits


def channels(request: Request) -> list[dict[str, str]]:
    return [{"href": path_for(request, name), "title": title, "text": text} for name, title, text in CHANNELS]


def sample_people(request: Request) -> list[dict[str, Any]]:
    """The sample people to show (the provider's list; nothing without one or if it fails)."""
    provider = services(request).sample_people
    if provider is None:
        return []
    try:
        people = provider()
    except Exception:  # a broken sample file must not take the home page down
        log.warning("sample people could not be loaded")
        return []
    return [person for person in people or [] if isinstance(person, dict)]


async def home(request: Request) -> Response:
    latest = await run_in_threadpool(latest_results, request)
    people = await run_in_threadpool(sample_people, request)
    data = {"latest": latest, "channels": channels(request)}
    # With sample people (demo mode) the page also shows a file the index generation does not
    # cover: revalidated on every request (ETag still answers 304), never kept by portal.cache.
    headers = {"Cache-Control": "no-cache"} if services(request).sample_people is not None else None
    return respond(request, "home.html", {"people": people}, data, headers=headers)


def _safe_next(value: str | None, fallback: str) -> str:
    """Only a local path may be the target (no open redirect); else ``fallback``."""
    if not value:
        return fallback
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return fallback
    return value


async def large_text(request: Request) -> Response:
    params: dict[str, str] = dict(request.query_params)
    if request.method == "POST":
        form = await request.form()
        params.update({k: str(v) for k, v in form.items() if isinstance(v, str)})
    on = params.get("on", "1") != "0"
    response = RedirectResponse(_safe_next(params.get("next"), path_for(request, "home")), status_code=303)
    if on:
        response.set_cookie(LARGE_TEXT_COOKIE, "1", max_age=365 * 24 * 3600, httponly=True, samesite="lax")
    else:
        response.delete_cookie(LARGE_TEXT_COOKIE, httponly=True, samesite="lax")
    return response


def routes() -> list[BaseRoute]:
    return [
        *route("/", home, name="home", methods=["GET"], json_path="/home.json"),
        *route("/large-text", large_text, name="large_text", methods=["GET", "POST"]),
    ]
