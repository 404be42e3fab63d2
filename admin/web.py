"""The admin app's web toolkit, shared by every feature's views.

- `services(request)`: the app's `AdminServices` (config, batch database, templates, login notes,
  the business-day clock read by `business_day(request)`);
- rendering: `render` (Jinja2 pages with the operator, CSRF token and flash messages), `redirect`
  (303 after a POST), the Chinese filters `money`, `yuan`, `zh_date`;
- errors: `AdminError` (status, stable code, Chinese message), `forbidden()`, `not_found()`,
  `LoginRequired`, `PasswordChangeRequired`, and the handlers that turn them (and any 404/405/500)
  into an error page or its JSON twin `{"error": {"code", "message"}}`;
- request parsing: `as_id`, `path_id`, `page_number` (`PAGE_SIZE` lines a page), `form_data` (the
  POSTed form, CSRF-checked), `limit_body` (a request refused with 413 past a size), `read_upload`;
- JSON twins: `wants_json` and the JSON encoder are core/web.py's (one for both apps); `json_response` adds no-store.

Nothing here knows a feature: admin/app.py assembles the app from the features' routes.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import quote

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from core.config import Config
from core.db import Database
from core.timeutil import format_date_zh, format_datetime_zh
from core.web import json_response as core_json_response
from core.web import SHARED_TEMPLATES, install_url_for, wants_json
from core.workdays import today as shanghai_today

HERE = Path(__file__).resolve().parent
log = logging.getLogger("yikatong.admin")

PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Notes under the login form (HTML), e.g. the accounts of a demo deployment: config → notes.
LoginNotes = Callable[[Config], Sequence[Markup]]


def no_login_notes(config: Config) -> Sequence[Markup]:
    return ()


@dataclass
class AdminServices:
    config: Config
    db: Database
    templates: Jinja2Templates
    login_notes: LoginNotes = field(default=no_login_notes)
    # The business day the workflow acts on (deadlines, publicity dates): today in Asia/Shanghai,
    # unless whoever assembles the app runs it on another calendar (a demo replaying its own day).
    today: Callable[[], date] = field(default=shanghai_today)


def services(request: Request) -> AdminServices:
    return request.app.state.admin


def business_day(request: Request) -> date:
    """The day a workflow action is taken on and deadlines are counted from (``AdminServices.today``)."""
    return services(request).today()


# --- errors -----------------------------------------------------------------------------------


class AdminError(Exception):
    """An expected failure shown to the operator (Chinese message) with a status and a stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class LoginRequired(Exception):
    pass


class PasswordChangeRequired(Exception):
    pass


def forbidden() -> AdminError:
    return AdminError(403, "forbidden", "您没有权限查看或操作此内容（超出您的管辖区域或项目范围）。")


def not_found() -> AdminError:
    return AdminError(404, "not_found", "找不到该记录，或不在您的管辖范围内。")


# --- rendering --------------------------------------------------------------------------------


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
    """admin/templates (shared layout and partials at the root, each feature's pages in its folder), then
    the partials shared with the portal (core/templates)."""
    templates = Jinja2Templates(directory=[str(HERE / "templates"), SHARED_TEMPLATES])
    templates.env.filters["money"] = money
    templates.env.filters["zh_date"] = zh_date
    templates.env.filters["yuan"] = yuan
    return install_url_for(templates)


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200) -> Response:
    actor_state = request.scope.get("yikatong.actor")
    ctx = {"actor": actor_state[0] if actor_state else None, "csrf_token": csrf_token(request),
           "flashes": pop_flashes(request), "demo": services(request).config.demo, **(context or {})}
    return services(request).templates.TemplateResponse(request, template, ctx, status_code=status,
                                                        headers={"Cache-Control": "no-store"})


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- CSRF and flash messages ------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, form: FormData) -> None:
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(
            sent.encode("utf-8", "replace"), str(expected).encode("utf-8", "replace")):
        raise AdminError(403, "csrf_failed", "页面已过期或来源不明，请刷新页面后重新提交。")


def flash(request: Request, message: str, kind: str = "success") -> None:
    request.session.setdefault("flash", []).append([kind, message])


def pop_flashes(request: Request) -> list[list[str]]:
    return request.session.pop("flash", []) if "flash" in request.session else []


# --- request parsing --------------------------------------------------------------------------


def as_id(raw: object) -> int | None:
    """A number typed into a URL or form (an id, a year, a page): ASCII digits that fit a 64-bit
    integer, else None. ``str.isdigit`` alone lets "²" (int() fails) and 10**30 (the database
    overflows) through."""
    text = str(raw)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    if as_id(raw) is None or not 1 <= int(raw) <= 100000:
        raise AdminError(400, "bad_page", "页码应为正整数。")
    return int(raw)


def path_id(request: Request, name: str) -> int:
    value = as_id(request.path_params[name])
    if value is None:
        raise not_found()
    return value


async def form_data(request: Request, *, max_files: int = 1) -> FormData:
    """The POSTed form, CSRF-checked. Uploads are limited in size by the caller."""
    try:
        form = await request.form(max_files=max_files, max_part_size=40 * 1024 * 1024)
    except AdminError:
        raise
    except Exception:
        raise AdminError(400, "bad_form", "提交的表单无法读取，请刷新页面后重试。") from None
    check_csrf(request, form)
    if any(isinstance(v, str) and "\x00" in v for v in form.values()):
        # PostgreSQL cannot store NUL in text (psycopg raises ValueError): refuse it up front.
        raise AdminError(400, "bad_form", "提交的内容含有无效字符（空字符），请检查后重试。")
    return form


def limit_body(request: Request, max_bytes: int) -> Request:
    """The same request, refused with 413 once its body exceeds ``max_bytes``: at once when the
    declared Content-Length says so, else while it is read (a chunked upload cannot grow a
    temporary file without bound)."""
    declared = request.headers.get("content-length")
    if declared is not None and (as_id(declared) is None or int(declared) > max_bytes):
        raise AdminError(413, "too_large", f"提交的内容太大（不超过 {max_bytes // (1024 * 1024)} MB）。")
    received = 0
    receive = request.receive

    async def bounded() -> Any:
        nonlocal received
        message = await receive()
        if message.get("type") == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise AdminError(413, "too_large", f"提交的内容太大（不超过 {max_bytes // (1024 * 1024)} MB）。")
        return message

    return Request(request.scope, bounded)


async def read_upload(request: Request, max_bytes: int) -> tuple[FormData, bytes, str]:
    """The form and its `file` upload (at most `max_bytes` + 1 bytes read, for the caller to refuse)."""
    form = await form_data(request)
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        raise AdminError(400, "no_file", "请选择要导入的文件")
    return form, await upload.read(max_bytes + 1), upload.filename


# --- JSON twins -------------------------------------------------------------------------------


def json_response(data: Any, *, status: int = 200) -> JSONResponse:
    """A JSON twin: the one encoder of core/web.py (amounts as "0.00" strings, dates ISO 8601), never cached."""
    return core_json_response(data, status=status, headers={"Cache-Control": "no-store"})


# --- error pages ------------------------------------------------------------------------------


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    if wants_json(request):
        return core_json_response({"error": {"code": code, "message": message}}, status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


async def _admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminError)
    return error_response(request, exc.status, exc.code, exc.message)


async def _login_required(request: Request, exc: Exception) -> Response:
    if wants_json(request):
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
    return error_response(request, exc.status_code, code, message)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_response(request, 500, "internal_error",
                          "系统出现问题，操作未完成（未做任何修改）。请稍后再试或联系系统管理员。")


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Any]] = {
    AdminError: _admin_error, LoginRequired: _login_required, PasswordChangeRequired: _password_change,
    HTTPException: _http_error, Exception: _unexpected,
}


class RefuseNul:
    """A query string holding NUL (``%00``) is a 400: PostgreSQL cannot compare text with NUL
    (psycopg raises ValueError), and no list filter needs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"%00" in query or b"\x00" in query:
            response = error_response(Request(scope, receive), 400, "bad_request",
                                      "查询条件含有无效字符（空字符），请检查后重试。")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def refused(request: Request, status: int, error: dict[str, Any], back: str) -> Response:
    """A refused action (:class:`admin.actions.WorkflowError` ``.status`` and ``.as_dict()``): the
    JSON error with its status; 403/404 as the error page; any other refusal back to ``back``
    with the reason flashed. Nothing was changed."""
    if wants_json(request):
        return json_response({"error": error}, status=status)
    if status in (403, 404):
        raise AdminError(status, error["code"], error["message"])
    flash(request, error["message"], "error")
    return redirect(back)



def xlsx_download(body: bytes, filename: str) -> Response:
    """An .xlsx export as an attachment named ``filename`` (Chinese, RFC 5987), never stored by a
    browser or a proxy: exports hold internal data."""
    return Response(body, media_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}", "Cache-Control": "no-store"})


__all__ = ["EXCEPTION_HANDLERS", "PAGE_SIZE", "XLSX", "AdminError", "AdminServices", "LoginNotes", "LoginRequired",
           "PasswordChangeRequired", "RefuseNul", "as_id", "check_csrf", "csrf_token", "error_response", "flash",
           "forbidden", "form_data", "json_response", "make_templates", "money", "no_login_notes", "not_found",
           "page_number", "path_id", "pop_flashes", "read_upload", "redirect", "refused", "render", "services", "wants_json", "xlsx_download",
           "yuan", "zh_date", "business_day", "limit_body"]
