"""Jinja2 filters and globals of the public portal (installed by `portal.app.make_templates`).

Filters: ``yuan`` (Decimal/str amount → "1,234.50 元"), ``date_zh`` ("2024-03-05" → 2024年3月5日),
``highlight(text, q)`` (escaped text with ``<mark>`` around the query's matches, using the search
tokenizer's rules), ``region_name`` (code → NBS name).

Globals: ``url_for(name, **params)`` (root-relative path of a named route, from core.web),
``large_text(request)``, ``current_url(request)``, ``url_with(request, **params)``
(the current URL with some query parameters replaced; ``None`` removes one; ``page`` is reset
unless given), ``paginate(request, page, pages)``, ``nav_items``, ``nav_current``,
``static_url(path)``, ``error_title(status)``, ``site_owner``, ``site_phone``.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from markupsafe import Markup, escape
from starlette.requests import Request

from core import regions
from search.tokenize import highlight as split_matches
from portal.services import STATIC_DIR

LARGE_TEXT_COOKIE = "yk_large"

# (route name, label) of the main navigation; templates link them with url_for.
NAV_ITEMS: tuple[tuple[str, str], ...] = (
    ("home", "首页"),
    ("policies", "政策清单"),
    ("disclosures", "发放公开"),
    ("query_form", "我的补贴"),
    ("complaints_index", "投诉举报"),
    ("statistics", "统计"),
)

ERROR_TITLES = {
    400: "请求有误",
    403: "没有权限",
    404: "页面不存在",
    405: "不支持的请求方式",
    413: "提交内容过大",
    415: "不支持的内容格式",
    422: "填写有误",
    429: "操作过于频繁",
    500: "系统出现问题",
    503: "服务暂时不可用",
}


def yuan(value: Any, unit: bool = True) -> str:
    """An amount in yuan with thousands separators and exactly 2 places; never via float."""
    if value is None or value == "":
        return ""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{amount.quantize(Decimal('0.01')):,}"
    return f"{text} 元" if unit else text


def date_zh(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    return str(value)


def highlight(text: Any, q: str | None) -> Markup:
    """Escaped ``text`` with every match of the query terms wrapped in ``<mark>``."""
    if text is None:
        return Markup("")
    text = str(text)
    if not q or not q.strip():
        return Markup(escape(text))
    out = []
    for segment, matched in split_matches(text, q):
        out.append(Markup("<mark>%s</mark>") % segment if matched else escape(segment))
    return Markup("").join(out)


def region_name(code: Any) -> str:
    if not code:
        return ""
    region = regions.get(str(code))
    return region.name if region else str(code)


def large_text(request: Request | None) -> bool:
    return request is not None and request.cookies.get(LARGE_TEXT_COOKIE) == "1"


def current_url(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def url_with(request: Request, _path: str | None = None, **params: Any) -> str:
    """The current URL (or ``_path``) with ``params`` replacing query parameters.

    A value of ``None`` or ``""`` removes the parameter. Changing any filter drops ``page``
    (back to the first page) unless ``page`` is one of ``params``.
    """
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in params and k != "page"]
    if "page" not in params and request.query_params.get("page") and not params:
        items.append(("page", request.query_params["page"]))
    for key, value in params.items():
        if value is None or value == "":
            continue
        items.append((key, str(value)))
    path = _path or request.url.path
    return path + ("?" + urlencode(items) if items else "")


def paginate(request: Request, page: int, pages: int, window: int = 2) -> dict[str, Any]:
    """Links for a pager: first, last and ``window`` pages around the current one, gaps as None."""
    numbers: list[int | None] = []
    wanted = {1, pages} | set(range(max(1, page - window), min(pages, page + window) + 1))
    last = 0
    for n in sorted(x for x in wanted if x >= 1):
        if n - last > 1:
            numbers.append(None)
        numbers.append(n)
        last = n
    links = [{"number": n, "url": url_with(request, page=n) if n else None, "current": n == page}
             for n in numbers]
    return {
        "page": page,
        "pages": pages,
        "links": links,
        "prev_url": url_with(request, page=page - 1) if page > 1 else None,
        "next_url": url_with(request, page=page + 1) if page < pages else None,
    }


def nav_current(request: Request, href: str) -> bool:
    path = request.url.path
    if href == "/":
        return path == "/"
    return path == href or path.startswith(href + "/") or path.startswith(href + ".")


def _static_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            versions[path.relative_to(STATIC_DIR).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    return versions


def install(env: Environment, *, site_owner: str = "（主办单位名称）", site_phone: str = "（联系电话）") -> None:
    versions = _static_versions()

    def static_url(path: str) -> str:
        version = versions.get(path)
        return f"/static/{path}" + (f"?v={version}" if version else "")

    env.filters.update(yuan=yuan, date_zh=date_zh, highlight=highlight, region_name=region_name)
    env.globals.update(
        large_text=large_text,
        current_url=current_url,
        url_with=url_with,
        paginate=paginate,
        nav_items=NAV_ITEMS,
        nav_current=nav_current,
        static_url=static_url,
        error_title=lambda status: ERROR_TITLES.get(int(status), "请求未能完成"),
        site_owner=site_owner,
        site_phone=site_phone,
    )
