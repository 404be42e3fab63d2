"""Sessions, login and the current operator.

- The session is a signed cookie (itsdangerous, keyed by YIKATONG_SESSION_SECRET): httpOnly,
  SameSite=Lax, Secure when the request came over https, 8 hours.
- Every POST form carries `csrf_token`, which must equal the session's token: the session holds
  it from the first page, `admin.web.form_data` checks it (`admin.web.check_csrf`).
- `current_actor(request)` loads the operator on every request (a deactivated account is out at
  once) and forces the password change of a first login.
"""

from __future__ import annotations

import json
import secrets
from base64 import b64decode, b64encode
from typing import Any

from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin.access.roles import Actor, actor_of, allowed
from admin.models import Operator
from admin.web import LoginRequired, PasswordChangeRequired, forbidden, services

COOKIE = "yikatong_admin"
MAX_AGE = 8 * 3600


class SessionMiddleware:
    """Signed-cookie sessions (like Starlette's, plus Secure exactly when the request is https)."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.signer = TimestampSigner(secret, salt="yikatong.admin.session")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        initial: dict[str, Any] = {}
        raw = connection.cookies.get(COOKIE)
        if raw:
            try:
                initial = json.loads(b64decode(self.signer.unsign(raw.encode(), max_age=MAX_AGE)))
            except (BadSignature, ValueError):
                initial = {}
        scope["session"] = dict(initial)
        secure = scope.get("scheme") == "https"

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                headers = MutableHeaders(scope=message)
                flags = "; path=/; httponly; samesite=lax" + ("; secure" if secure else "")
                if session:  # re-signed on every response: the 8 hours run from the last request
                    data = b64encode(json.dumps(session).encode())
                    value = self.signer.sign(data).decode()
                    headers.append("Set-Cookie", f"{COOKIE}={value}; Max-Age={MAX_AGE}{flags}")
                elif initial:
                    headers.append("Set-Cookie", f"{COOKIE}=null; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0{flags}")
            await send(message)

        await self.app(scope, receive, send_wrapper)


# --- the current operator ---------------------------------------------------------------------


def login_session(request: Request, operator_id: int) -> None:
    request.session.clear()
    request.session["op"] = operator_id
    request.session["csrf"] = secrets.token_urlsafe(24)


def logout_session(request: Request) -> None:
    request.session.clear()


async def current_actor(request: Request, action: str | None = None, *, allow_password_change: bool = False) -> Actor:
    """The logged-in operator; raises LoginRequired / PasswordChangeRequired / 403."""
    operator_id = request.session.get("op")
    if not operator_id:
        raise LoginRequired()
    cached = request.scope.get("yikatong.actor")
    if cached is None:
        db = services(request).db

        def load(session: Any) -> tuple[Actor | None, bool]:
            operator = session.get(Operator, operator_id)
            if operator is None or not operator.active:
                return None, False
            return actor_of(session, operator), bool(operator.must_change_password)

        actor, must_change = await db.run(load)
        if actor is None:
            logout_session(request)
            raise LoginRequired()
        request.scope["yikatong.actor"] = (actor, must_change)
    else:
        actor, must_change = cached
    if must_change and not allow_password_change:
        raise PasswordChangeRequired()
    if action is not None and not allowed(actor, action):
        raise forbidden()
    return actor
