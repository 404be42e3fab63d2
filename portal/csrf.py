"""CSRF protection for the portal's forms (double-submit cookie, signed).

A GET that renders a form calls :func:`token_for` (put the value in a hidden ``csrf_token``
field) and :func:`set_cookie` on its response. The cookie holds a random value; the form
field holds that value signed with ``YIKATONG_SESSION_SECRET`` (itsdangerous, salt "csrf",
valid for :data:`MAX_AGE`). A POST handler calls :func:`verified_form`, which checks that the
field's signature is good and that it signs the cookie's value — a page on another site can
neither read the cookie nor forge the signature. Failures are a 403 with a Chinese page.

JSON APIs do not use cookies for anything and are rate limited instead, so they need no token.
"""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from portal.errors import PublicError
from portal.ratelimit import read_body_limited

__all__ = ["COOKIE_NAME", "FIELD_NAME", "MAX_AGE", "MAX_FORM_BYTES", "set_cookie", "token_for",
           "verified_form", "verify"]

COOKIE_NAME = "yikatong_csrf"
FIELD_NAME = "csrf_token"
MAX_AGE = 2 * 3600
MAX_FORM_BYTES = 16 * 1024

EXPIRED_MESSAGE = "页面停留时间过长，表单已失效。请刷新页面后重新填写提交。"
FAILED_MESSAGE = "表单校验未通过（可能是从其他网站提交，或浏览器禁用了Cookie）。请返回本站重新打开页面后再提交。"


def _serializer(request: Request) -> URLSafeTimedSerializer:
    secret = request.app.state.config.session_secret
    return URLSafeTimedSerializer(secret, salt="csrf")


def _cookie_value(request: Request) -> str:
    existing = getattr(request.state, "csrf_cookie", None)
    if existing:
        return existing
    value = request.cookies.get(COOKIE_NAME, "")
    if not (16 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()):
        value = secrets.token_urlsafe(24)
        request.state.csrf_new = True
    request.state.csrf_cookie = value
    return value


def token_for(request: Request) -> str:
    """The hidden-field value for a form on this page."""
    return _serializer(request).dumps(_cookie_value(request))


def set_cookie(request: Request, response: Response) -> None:
    """Send the CSRF cookie with ``response`` when this request created it."""
    if getattr(request.state, "csrf_new", False):
        response.set_cookie(COOKIE_NAME, request.state.csrf_cookie, max_age=12 * 3600, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https", path="/")


def verify(request: Request, token: str | None) -> None:
    """Raise a 403 PublicError unless ``token`` signs this browser's CSRF cookie."""
    cookie = request.cookies.get(COOKIE_NAME)
    if not token or not cookie:
        raise PublicError(403, "csrf_failed", FAILED_MESSAGE)
    try:
        signed = _serializer(request).loads(token, max_age=MAX_AGE)
    except SignatureExpired:
        raise PublicError(403, "csrf_expired", EXPIRED_MESSAGE) from None
    except BadSignature:
        raise PublicError(403, "csrf_failed", FAILED_MESSAGE) from None
    if not isinstance(signed, str) or not secrets.compare_digest(signed.encode("utf-8", "replace"),
                                                                 cookie.encode("utf-8", "replace")):
        raise PublicError(403, "csrf_failed", FAILED_MESSAGE)


async def verified_form(request: Request, max_bytes: int = MAX_FORM_BYTES) -> FormData:
    """The POSTed form after the size and CSRF checks (413 / 403 PublicError otherwise)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise PublicError(415, "unsupported_media_type", "请通过网页表单提交。")
    await read_body_limited(request, max_bytes)
    form = await request.form(max_files=0, max_fields=50)
    token = form.get(FIELD_NAME)
    verify(request, token if isinstance(token, str) else None)
    return form
