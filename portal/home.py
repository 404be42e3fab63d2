"""Home page (`/`) and the large-type switch (大字版, `/large-text`).

The home page: one search box (into the disclosure search), entry cards to every channel, the
latest published results and — in demo mode only — the sample demo people from
``core.demo_people`` (tolerated missing: then nothing is shown).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from search.base import SearchError, SearchQuery
from portal.filters import LARGE_TEXT_COOKIE
from portal.rendering import respond
from portal.services import services

__all__ = ["demo_people", "latest_results", "routes"]

log = logging.getLogger("yikatong.portal")

LATEST_COUNT = 8

CHANNELS: tuple[dict[str, str], ...] = (
    {"href": "/policies", "title": "政策清单", "text": "各级惠民惠农补贴政策：补贴标准、对象、范围和政策文件。"},
    {"href": "/disclosures", "title": "发放公开", "text": "按地区、项目、年度查询已公示的补贴名单和发放结果（已隐去个人敏感信息）。"},
    {"href": "/query", "title": "我的补贴", "text": "输入身份证号、姓名和社保卡号后四位，查询本人的补贴发放明细和明白条。"},
    {"href": "/complaints", "title": "投诉举报", "text": "对补贴发放有疑问或发现问题，可在线投诉举报，并凭查询码跟踪办理进度。"},
    {"href": "/statistics", "title": "统计", "text": "按项目、地区、年度汇总的发放金额、人次和发放及时情况。"},
)


def latest_results(request: Request, count: int = LATEST_COUNT) -> list[dict[str, Any]]:
    """The newest published disclosure lines (empty when the index is missing or down)."""
    search = services(request).search
    try:
        result = search.search("disclosures", SearchQuery(sort=[("date", "desc")], per_page=count))
    except SearchError:
        return []
    return result.hits


def demo_people(request: Request) -> list[dict[str, Any]]:
    """The demo people (demo mode only); nothing if the module or the data is not there."""
    config = services(request).config
    if not config.demo:
        return []
    try:
        from core.demo_people import load_demo_people  # type: ignore[import-not-found]
    except ImportError:
        return []
    try:
        people = load_demo_people(config.data_dir)
    except Exception:  # a broken demo file must not take the home page down
        log.warning("demo people could not be loaded")
        return []
    out = []
    for person in people or []:
        out.append(person if isinstance(person, dict) else _as_dict(person))
    return out


def _as_dict(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return dict(getattr(obj, "__dict__", {}))


async def home(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    latest = await run_in_threadpool(latest_results, request)
    people = demo_people(request)
    data = {"latest": latest, "channels": list(CHANNELS)}
    return respond(request, "home.html", {"people": people}, data)


def _safe_next(value: str | None) -> str:
    """Only a local path may be the target (no open redirect)."""
    if not value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def large_text(request: Request) -> Response:
    params: dict[str, str] = dict(request.query_params)
    if request.method == "POST":
        form = await request.form()
        params.update({k: str(v) for k, v in form.items() if isinstance(v, str)})
    on = params.get("on", "1") != "0"
    response = RedirectResponse(_safe_next(params.get("next")), status_code=303)
    if on:
        response.set_cookie(LARGE_TEXT_COOKIE, "1", max_age=365 * 24 * 3600, httponly=True, samesite="lax")
    else:
        response.delete_cookie(LARGE_TEXT_COOKIE, httponly=True, samesite="lax")
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/", home, name="home"),
        Route("/home.json", home, name="home_json"),
        Route("/large-text", large_text, methods=["GET", "POST"], name="large_text"),
    ]
