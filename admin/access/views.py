"""Login, logout, password change, home page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin import operators, roles
from admin.app import redirect, render, services
from admin.auth import current_actor, flash, form_data, login_session, logout_session
from admin.models import Batch, BATCH_STATE_LABELS, Operator


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return "/"


def _demo_accounts(request: Request) -> list[dict[str, str]]:
    """Demo mode only: the demo accounts to log in with (empty outside demo mode)."""
    config = services(request).config
    if not config.demo:
        return []
    from admin.demo_accounts import demo_accounts

    return demo_accounts(config)


async def login_page(request: Request) -> Response:
    return render(request, "login.html", {"next": _safe_next(request.query_params.get("next")),
                                          "demo_accounts": _demo_accounts(request)})


async def login_submit(request: Request) -> Response:
    form = await form_data(request)
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:200]
    target = _safe_next(str(form.get("next", "")))

    def attempt(session: Any) -> tuple[int | None, str | None]:
        result = operators.authenticate(session, username, password)
        return (result.operator.id if result.operator else None), result.message

    operator_id, message = await services(request).db.run(attempt)
    if operator_id is None:
        return render(request, "login.html", {"error": message, "username": username, "next": target,
                                              "demo_accounts": _demo_accounts(request)}, status=400)
    login_session(request, operator_id)
    return redirect(target)


async def logout(request: Request) -> Response:
    await form_data(request)
    logout_session(request)
    return redirect("/login")


async def password_page(request: Request) -> Response:
    await current_actor(request, allow_password_change=True)
    return render(request, "password.html")


async def password_submit(request: Request) -> Response:
    actor = await current_actor(request, allow_password_change=True)
    form = await form_data(request)
    old, new, again = (str(form.get(k, ""))[:200] for k in ("old", "new", "again"))
    if new != again:
        return render(request, "password.html", {"error": "两次输入的新密码不一致"}, status=400)

    def change(session: Any) -> str | None:
        operator = session.get(Operator, actor.id)
        try:
            operators.change_password(session, operator, old, new)
        except operators.OperatorError as exc:
            return str(exc)
        return None

    error = await services(request).db.run(change)
    if error:
        return render(request, "password.html", {"error": error}, status=400)
    request.scope.pop("yikatong.actor", None)
    flash(request, "密码已修改")
    return redirect("/")


async def home(request: Request) -> Response:
    actor = await current_actor(request)

    def counts(session: Any) -> list[tuple[str, int]]:
        stmt = roles.scope_batches(select(Batch.state, func.count()).group_by(Batch.state), actor)
        return [(BATCH_STATE_LABELS.get(state, state), n) for state, n in session.execute(stmt)]

    return render(request, "home.html", {"counts": await services(request).db.run(counts)})


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/password", password_page, methods=["GET"]),
        Route("/password", password_submit, methods=["POST"]),
    ]
