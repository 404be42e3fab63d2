"""Binding a WeChat user (openid) to a person — without an ID number ever passing through chat.

"绑定" in chat answers with a link to ``/wechat/bind/{state}``: ``state`` is the openid signed
with ``YIKATONG_SESSION_SECRET`` (itsdangerous, valid :data:`STATE_MAX_AGE` seconds), so only the
user who asked can bind their own account, and only for a while. On that page the person types
ID number, name and the card's last 4 digits (CSRF-protected form, rate limited like the
personal query); when ``portal.lookup`` finds them, ``openid → person_key`` is stored
(:class:`portal.store.WechatBinding`). The ID number is never stored, logged or echoed.
"""

from __future__ import annotations

import logging

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from core.db import Database
from core.timeutil import now
from core.web import NO_STORE, route
from portal import csrf
from portal.errors import PublicError
from portal.lookup import NOT_FOUND_MESSAGE, guarded_lookup, validate_fields
from portal.services import services
from portal.store import WechatBinding

log = logging.getLogger("yikatong.bot")

STATE_MAX_AGE = 30 * 60  # seconds
_SALT = "yikatong.wechat.bind"


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def make_state(secret: str, openid: str) -> str:
    return _serializer(secret).dumps(openid)


def read_state(secret: str, state: str, max_age: int = STATE_MAX_AGE) -> str:
    """The openid of a valid state; PublicError 403/410 for a forged or expired one."""
    try:
        openid = _serializer(secret).loads(state, max_age=max_age)
    except SignatureExpired:
        raise PublicError(410, "bind_link_expired",
                          "绑定链接已过期，请回到公众号重新发送“绑定”获取新链接。") from None
    except BadSignature:
        raise PublicError(403, "bind_link_invalid",
                          "绑定链接无效，请回到公众号发送“绑定”获取链接。") from None
    if not isinstance(openid, str) or not openid or len(openid) > 64:
        raise PublicError(403, "bind_link_invalid", "绑定链接无效，请回到公众号发送“绑定”获取链接。")
    return openid


def bind_link(base_url: str, secret: str, openid: str) -> str:
    return f"{base_url.rstrip('/')}/wechat/bind/{make_state(secret, openid)}"


# --- the store ---------------------------------------------------------------------------------


def person_key_of(db: Database, openid: str) -> str | None:
    with db.session() as session:
        binding = session.get(WechatBinding, openid)
        return binding.person_key if binding else None


def bind(db: Database, openid: str, person_key: str) -> None:
    """Store (or move) the binding of ``openid``."""
    with db.session() as session:
        binding = session.get(WechatBinding, openid)
        if binding is None:
            session.add(WechatBinding(openid=openid, person_key=person_key, bound_at=now()))
        else:
            binding.person_key = person_key
            binding.bound_at = now()


def unbind(db: Database, openid: str) -> bool:
    """Remove the binding; False when there was none."""
    with db.session() as session:
        binding = session.get(WechatBinding, openid)
        if binding is None:
            return False
        session.delete(binding)
        return True


def all_bindings(db: Database) -> list[tuple[str, str, object]]:
    """(openid, person_key, bound_at) of every binding."""
    with db.session() as session:
        rows = session.execute(select(WechatBinding.openid, WechatBinding.person_key,
                                      WechatBinding.bound_at).order_by(WechatBinding.openid))
        return [tuple(r) for r in rows]


# --- the page ----------------------------------------------------------------------------------

FIELD_NAMES = ("id_number", "name", "card_digits")


def _page(request: Request, state: str, *, fields: dict[str, str] | None = None, error: str | None = None,
          values: dict[str, str] | None = None, status: int = 200) -> Response:
    token = csrf.token_for(request)
    # Never echo the ID number back into the page: only the name and the digits.
    safe = {"name": (values or {}).get("name", ""), "card_digits": (values or {}).get("card_digits", "")}
    response = request.app.state.templates.TemplateResponse(
        request, "wechat_bind.html",
        {"state": state, "csrf_token": token, "fields": fields or {}, "error": error, "values": safe},
        status_code=status, headers=NO_STORE,
    )
    csrf.set_cookie(request, response)
    return response


async def bind_form(request: Request) -> Response:
    state = request.path_params["state"]
    read_state(services(request).config.session_secret, state)
    return _page(request, state)


async def bind_submit(request: Request) -> Response:
    svc = services(request)
    state = request.path_params["state"]
    openid = read_state(svc.config.session_secret, state)
    form = await csrf.verified_form(request)
    values = {k: str(form.get(k) or "") for k in FIELD_NAMES}
    fields = validate_fields(values)
    if fields:
        return _page(request, state, fields=fields, error="请按提示修改后再提交。", values=values, status=422)
    person = await guarded_lookup(request, id_number=values["id_number"], name=values["name"],
                                        card_digits=values["card_digits"])
    if person is None:
        return _page(request, state, error=NOT_FOUND_MESSAGE, values=values, status=404)
    await run_in_threadpool(bind, svc.public_db, openid, person.person_key)
    log.info("wechat binding stored")
    return request.app.state.templates.TemplateResponse(
        request, "wechat_bound.html", {}, headers=NO_STORE,
    )


def routes() -> list[BaseRoute]:
    return [
        *route("/bind/{state}", bind_form, name="wechat_bind", methods=["GET"]),
        *route("/bind/{state}", bind_submit, name="wechat_bind_submit", methods=["POST"]),
    ]
