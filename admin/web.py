"""The internal admin app (内部管理端): a Starlette app of its own, internal network only.

`create_admin_app(config)` builds it over the batch database (`Config.batch_database_url`);
`yikatong admin serve` runs it on 127.0.0.1:8001. Every page is in Chinese; permissions are
checked in one place (admin/roles.py) by every view.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from admin import roles
from admin.auth import AdminError, LoginRequired, PasswordChangeRequired, SessionMiddleware, csrf_token, pop_flashes
from core.config import Config
from core.db import Database
from core.timeutil import format_date_zh, format_datetime_zh, local

HERE = Path(__file__).resolve().parent
log = logging.getLogger("yikatong.admin")


@dataclass
class AdminServices:
    config: Config
    db: Database
    templates: Jinja2Templates


def services(request: Request) -> AdminServices:
    return request.app.state.admin


def money(value: Any) -> str:
    """An amount in yuan as Chinese offices write it: thousands separated, 2 places (1,234.50)."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value):,.2f}"


def yuan(value: Any) -> str:
    """An amount with its unit: 1,234.50元."""
    text = money(value)
    return text + "元" if text else ""


def zh_date(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "hour"):
        return format_datetime_zh(value)
    return format_date_zh(value)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["money"] = money
    templates.env.filters["zh_date"] = zh_date
    templates.env.filters["yuan"] = yuan
    templates.env.globals["ROLE_LABELS"] = roles.ROLE_LABELS
    templates.env.globals["can"] = roles.can
    from admin.batches import period_label

    templates.env.globals["period_label"] = period_label
    return templates


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200) -> Response:
    actor_state = request.scope.get("yikatong.actor")
    ctx = {"actor": actor_state[0] if actor_state else None, "csrf_token": csrf_token(request),
           "flashes": pop_flashes(request), "demo": services(request).config.demo, **(context or {})}
    return services(request).templates.TemplateResponse(request, template, ctx, status_code=status,
                                                        headers={"Cache-Control": "no-store"})


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json") or (
        "application/json" in request.headers.get("accept", "") and "text/html" not in request.headers.get("accept", ""))


def wants_json(request: Request) -> bool:
    """The JSON twin of a page was asked for: a `.json` path, or Accept: application/json."""
    return _wants_json(request)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return local(value).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def json_response(data: Any, *, status: int = 200) -> JSONResponse:
    """A JSON twin: amounts as "0.00" strings, dates ISO 8601, never cached."""
    return JSONResponse(_plain(data), status_code=status, headers={"Cache-Control": "no-store"})


def _error(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


async def _admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminError)
    return _error(request, exc.status, exc.code, exc.message)


async def _login_required(request: Request, exc: Exception) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": {"code": "login_required", "message": "请先登录"}}, status_code=401)
    target = request.url.path + (("?" + request.url.query) if request.url.query else "")
    return redirect("/login?next=" + quote(target))


async def _password_change(request: Request, exc: Exception) -> Response:
    return redirect("/password")


_HTTP_MESSAGES = {404: ("not_found", "页面不存在。"), 405: ("method_not_allowed", "不支持此请求方式。"),
                  400: ("bad_request", "请求有误，请检查后重试。"), 413: ("too_large", "上传的文件太大。")}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, message = _HTTP_MESSAGES.get(exc.status_code, ("error", "请求未能完成。"))
    return _error(request, exc.status_code, code, message)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return _error(request, 500, "internal_error", "系统出现问题，操作未完成（未做任何修改）。请稍后再试或联系系统管理员。")


class RefuseNul:
    """A query string holding NUL (``%00``) is a 400: PostgreSQL cannot compare text with NUL
    (psycopg raises ValueError), and no list filter needs it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"%00" in query or b"\x00" in query:
            response = _error(Request(scope, receive), 400, "bad_request", "查询条件含有无效字符（空字符），请检查后重试。")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_admin_app(config: Config | None = None) -> Starlette:
    from admin import demo_views, views_audit, views_auth, views_batches, views_library, views_operators, views_people

    config = config or Config.from_env()
    db = Database(config.batch_database_url)
    routes: list[Any] = []
    for module in (views_auth, views_batches, views_library, views_people, views_operators, views_audit, demo_views):
        routes.extend(module.routes())
    routes.append(Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"))
    app = Starlette(
        routes=routes,
        exception_handlers={AdminError: _admin_error, LoginRequired: _login_required,
                            PasswordChangeRequired: _password_change, HTTPException: _http_error,
                            Exception: _unexpected},
    )
    app.add_middleware(RefuseNul)  # inside the session middleware: the error page reads the session
    app.add_middleware(SessionMiddleware, secret=config.session_secret)
    app.state.admin = AdminServices(config=config, db=db, templates=make_templates())
    return app


__all__ = ["create_admin_app", "json_response", "render", "redirect", "services", "wants_json", "Route"]
