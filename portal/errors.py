"""One error contract for the public side.

People get a page in Chinese; programs get `{"error": {"code": ..., "message": ...}}` with a
stable English code. Never a traceback, never a 500 for bad input. Which of the two a request
gets is `core.web.wants_json`: JSON routes (API endpoints, JSON twins) always answer in JSON,
also when the error is raised before their view runs (405 from the router, 413 from the body limit).
"""

from __future__ import annotations

import logging

import orjson

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from core.web import json_response, wants_json
from search.base import InvalidQuery, SearchError, SearchUnavailable

log = logging.getLogger("yikatong.portal")

STATUS_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求有误，请检查后重试。"),
    403: ("forbidden", "没有权限访问此页面。"),
    404: ("not_found", "您要找的页面不存在，可能已被移除或链接有误。"),
    405: ("method_not_allowed", "不支持此请求方式。"),
    413: ("too_large", "提交的内容太大，请精简后重试。"),
    415: ("unsupported_media_type", "不支持的内容格式。"),
    422: ("invalid_input", "填写的内容有误，请检查后重试。"),
    429: ("rate_limited", "查询过于频繁，请稍后再试。"),
    500: ("internal_error", "系统出现问题，请稍后再试。如多次出现，请拨打当地财政部门电话。"),
    503: ("unavailable", "查询服务暂时不可用，请稍后再试。"),
}


class PublicError(Exception):
    """An expected failure with a status, a stable code and a Chinese message."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.fields = fields or {}


def error_response(request: Request, status: int, code: str, message: str,
                   headers: dict[str, str] | None = None, fields: dict[str, str] | None = None) -> Response:
    headers = {"Cache-Control": "no-store", **(headers or {})}
    if wants_json(request):
        body: dict = {"error": {"code": code, "message": message}}
        if fields:
            body["error"]["fields"] = fields
        return json_response(body, status=status, headers=headers)
    templates = getattr(request.app.state, "templates", None)
    if templates is None:
        return Response(message, status_code=status, media_type="text/plain; charset=utf-8", headers=headers)
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "code": code, "message": message},
        status_code=status, headers=headers,
    )


def parse_json_body(body: bytes, headers: dict[str, str] | None = None) -> object:
    """A request body as JSON, or PublicError 400 ``invalid_json``: malformed, not UTF-8, nested
    too deep (RecursionError) or holding a lone surrogate (``"\\ud800"``, which no database or
    hash can encode)."""
    try:  # orjson refuses all of these itself, in one pass (no re-encoding to find a lone surrogate)
        payload = orjson.loads(body or b"null")
    except (ValueError, UnicodeError, RecursionError):
        raise PublicError(400, "invalid_json", "请求内容不是有效的JSON。", headers=headers) from None
    return payload


async def handle_public_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PublicError)
    return error_response(request, exc.status, exc.code, exc.message, exc.headers, exc.fields)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, message = STATUS_DEFAULTS.get(exc.status_code, ("error", "请求未能完成。"))
    return error_response(request, exc.status_code, code, message, dict(exc.headers or {}))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # Log the type and the route only: the message could hold user input.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    code, message = STATUS_DEFAULTS[500]
    return error_response(request, 500, code, message)


def exception_handlers() -> dict:
    async def unavailable(request: Request, exc: Exception) -> Response:
        code, message = STATUS_DEFAULTS[503]
        return error_response(request, 503, "search_unavailable", message, {"Retry-After": "30"})

    async def invalid_query(request: Request, exc: Exception) -> Response:
        code, message = STATUS_DEFAULTS[400]
        return error_response(request, 400, "invalid_query", "查询条件有误，请检查后重试。")

    return {
        PublicError: handle_public_error,
        HTTPException: handle_http_exception,
        SearchUnavailable: unavailable,
        # A missing index (not built yet) or a failing backend: the service is not ready, not broken input.
        SearchError: unavailable,
        InvalidQuery: invalid_query,
        Exception: handle_unexpected,
    }
