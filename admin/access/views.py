"""Access pages: login, logout, password change, the home page, and operator management
(操作员管理) for system admins, scoped to their region.

A county system admin sees and manages the accounts of its county only, and can give an account
only a region, department and projects inside its own scope. Every change is audited by
admin/access/operators.py (before/after, never a password or an ID number). A reset password is
shown once, on the response page itself (never in a flash message: the session cookie is only
signed). The login page shows the app's login notes (`AdminServices.login_notes`) under the form.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin.access import operators, roles
from admin.access.auth import current_actor, login_session, logout_session
from admin.batches import workflow
from admin.complaints.workflow import due_cases
from admin.models import BATCH_STATE_LABELS, Batch, Department, Operator, Project
from admin.supervision.signals import open_counts as open_signal_counts
from admin.supervision.spot_checks import finding_rows
from admin.web import (
    PAGE_SIZE,
    as_id,
    business_day,
    flash,
    forbidden,
    form_data,
    not_found,
    page_number,
    path_id,
    redirect,
    render,
    services,
)


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return "/"


def _login_notes(request: Request) -> list[Any]:
    return list(services(request).login_notes(services(request).config))


async def login_page(request: Request) -> Response:
    return render(request, "access/login.html", {"next": _safe_next(request.query_params.get("next")),
                                                 "login_notes": _login_notes(request)})


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
        return render(request, "access/login.html", {"error": message, "username": username, "next": target,
                                                     "login_notes": _login_notes(request)}, status=400)
    login_session(request, operator_id)
    return redirect(target)


async def logout(request: Request) -> Response:
    await form_data(request)
    logout_session(request)
    return redirect("/login")


async def password_page(request: Request) -> Response:
    await current_actor(request, allow_password_change=True)
    return render(request, "access/password.html")


async def password_submit(request: Request) -> Response:
    actor = await current_actor(request, allow_password_change=True)
    form = await form_data(request)
    old, new, again = (str(form.get(k, ""))[:200] for k in ("old", "new", "again"))
    if new != again:
        return render(request, "access/password.html", {"error": "两次输入的新密码不一致"}, status=400)

    def change(session: Any) -> str | None:
        operator = session.get(Operator, actor.id)
        try:
            operators.change_password(session, operator, old, new)
        except operators.OperatorError as exc:
            return str(exc)
        return None

    error = await services(request).db.run(change)
    if error:
        return render(request, "access/password.html", {"error": error}, status=400)
    request.scope.pop("yikatong.actor", None)
    flash(request, "密码已修改")
    return redirect("/")


async def home(request: Request) -> Response:
    """Batch counts in scope, the batches due soon or overdue at a step this operator's role acts on,
    the complaints this operator holds that are due or overdue, and the spot-check findings its
    unit has still to rectify; for the roles that review anomaly signals, the signals still open."""
    actor = await current_actor(request)
    day = business_day(request)
    handles_complaints = roles.allowed(actor, "complaint.handle")
    rectifies = roles.allowed(actor, "spot_check.rectify")
    reviews_signals = roles.allowed(actor, "signal.review")

    def load(session: Any) -> dict[str, Any]:
        stmt = roles.scope_batches(select(Batch.state, func.count()).group_by(Batch.state), actor)
        return {"counts": [(BATCH_STATE_LABELS.get(state, state), n) for state, n in session.execute(stmt)],
                "due": workflow.due_work(session, actor, day, acting_only=True),
                "complaints_due": due_cases(session, actor, day, holding_only=True) if handles_complaints else [],
                "findings_due": finding_rows(session, actor, today=day) if rectifies else [],
                "signals_open": open_signal_counts(session, actor) if reviews_signals else []}

    return render(request, "access/home.html", {**await services(request).db.run(load), "today": day})


# --- operator management ---------------------------------------------------------------------


FIELDS = ("username", "name", "role", "region_code", "password", "id_number", "phone", "unit", "department_code")


def _filters(request: Request) -> dict[str, str]:
    q = request.query_params
    role = q.get("role", "")
    active = q.get("active", "")
    return {"role": role if role in roles.ROLE_LABELS else "", "region": q.get("region", "").strip()[:12],
            "active": active if active in ("yes", "no") else "", "q": q.get("q", "").strip()[:40]}


def _choices(session: Any, actor: roles.Actor) -> dict[str, Any]:
    departments = list(session.execute(select(Department).where(
        roles.overlaps_clause(Department.region_code, actor.region_code)).order_by(Department.code)).scalars())
    projects = list(session.execute(roles.scope_projects(select(Project), actor).order_by(Project.code)).scalars())
    return {"departments": departments, "projects": projects}


def _checked_projects(session: Any, actor: roles.Actor, raw: list[Any]) -> list[int]:
    """The project ids of the form, each of which must be inside the admin's own scope."""
    ids = sorted({int(v) for v in raw if as_id(v) is not None})
    if not ids:
        return []
    visible = set(session.execute(roles.scope_projects(select(Project.id).where(Project.id.in_(ids)), actor)).scalars())
    if set(ids) - visible:
        raise operators.OperatorError("只能分配您管辖范围内的项目")
    return ids


def _check_department(session: Any, actor: roles.Actor, code: str) -> None:
    if not code:
        return
    department = session.execute(select(Department).where(Department.code == code)).scalar_one_or_none()
    if department is None or not roles.region_overlaps(department.region_code, actor.region_code):
        raise operators.OperatorError(f"找不到部门 {code}，或不在您的管辖区域内")


async def operator_list(request: Request) -> Response:
    actor = await current_actor(request, "operator.manage")
    page = page_number(request)
    f = _filters(request)
    config = services(request).config

    def load(session: Any) -> dict[str, Any]:
        stmt = roles.scope_operators(select(Operator), actor)
        if f["role"]:
            stmt = stmt.where(Operator.role == f["role"])
        if f["region"].isdigit():
            stmt = stmt.where(Operator.region_code.startswith(f["region"]))
        if f["active"]:
            stmt = stmt.where(Operator.active.is_(f["active"] == "yes"))
        if f["q"]:
            stmt = stmt.where(Operator.username.contains(f["q"]) | Operator.name.contains(f["q"]))
        total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = list(session.execute(stmt.order_by(Operator.username).offset((page - 1) * PAGE_SIZE)
                                    .limit(PAGE_SIZE)).scalars())
        return {"operators": [{"op": o, "id_last4": operators.id_last4(config, o), "locked": operators.locked(o)}
                              for o in rows], "total": total, **_choices(session, actor)}

    data = await services(request).db.run(load)
    query = "".join(f"{k}={v}&" for k, v in f.items())
    return render(request, "access/operators.html", {**data, "f": f, "page": page, "query": query,
                                                     "pages": max(1, -(-data["total"] // PAGE_SIZE))})


async def operator_create(request: Request) -> Response:
    actor = await current_actor(request, "operator.manage")
    form = await form_data(request)
    f = {k: str(form.get(k, "")).strip()[:200] for k in FIELDS}
    config = services(request).config
    generated = "" if f["password"] else operators.temporary_password()

    def run(session: Any) -> tuple[int | None, str | None]:
        if not roles.region_inside(f["region_code"], actor.region_code):
            return None, "只能为您管辖区域内的人员开设账号"
        try:
            _check_department(session, actor, f["department_code"])
            project_ids = _checked_projects(session, actor, form.getlist("project_id"))
            operator = operators.create_operator(
                session, config, actor=actor.username, username=f["username"], name=f["name"], role=f["role"],
                region_code=f["region_code"], password=f["password"] or generated, id_number=f["id_number"] or None,
                phone=f["phone"], unit=f["unit"], department_code=f["department_code"] or None,
                project_ids=project_ids)
        except operators.OperatorError as exc:
            return None, str(exc)
        return operator.id, None

    operator_id, error = await services(request).db.run(run)
    if error:
        flash(request, error, "error")
        return redirect("/operators")
    if generated:
        return render(request, "access/operator_password.html", {"username": f["username"], "password": generated,
                                                                 "operator_id": operator_id, "created": True})
    flash(request, f"已创建账号 {f['username']}，首次登录须修改密码")
    return redirect(f"/operators/{operator_id}")


def _load(session: Any, actor: roles.Actor, operator_id: int) -> Operator:
    operator = session.execute(roles.scope_operators(select(Operator).where(Operator.id == operator_id), actor)
                               ).scalar_one_or_none()
    if operator is None:
        raise not_found()
    if not roles.can(actor, "operator.manage", operator):
        raise forbidden()
    return operator


async def operator_detail(request: Request) -> Response:
    actor = await current_actor(request, "operator.manage")
    operator_id = path_id(request, "operator_id")
    config = services(request).config

    def load(session: Any) -> dict[str, Any]:
        operator = _load(session, actor, operator_id)
        department = session.get(Department, operator.department_id) if operator.department_id else None
        return {"op": operator, "id_last4": operators.id_last4(config, operator), "locked": operators.locked(operator),
                "locked_until": operators.format_locked_until(operator.locked_until),
                "department_code": department.code if department else "",
                "assigned": set(operators.project_ids_of(session, operator)), **_choices(session, actor)}

    return render(request, "access/operator.html", await services(request).db.run(load))


async def operator_update(request: Request) -> Response:
    actor = await current_actor(request, "operator.manage")
    operator_id = path_id(request, "operator_id")
    form = await form_data(request)
    f = {k: str(form.get(k, "")).strip()[:200] for k in ("role", "region_code", "department_code", "unit", "phone")}

    def run(session: Any) -> str | None:
        operator = _load(session, actor, operator_id)
        if operator.id == actor.id and (f["role"] != operator.role or f["region_code"] != operator.region_code):
            return "不能修改自己的角色或区划，请联系上级系统管理员"
        if not roles.region_inside(f["region_code"], actor.region_code):
            return "所属区划必须在您的管辖区域之内"
        try:
            _check_department(session, actor, f["department_code"])
            operators.update_operator(session, operator, actor=actor.username, role=f["role"],
                                      region_code=f["region_code"], department_code=f["department_code"] or None,
                                      project_ids=_checked_projects(session, actor, form.getlist("project_id")),
                                      unit=f["unit"], phone=f["phone"])
        except operators.OperatorError as exc:
            return str(exc)
        return None

    error = await services(request).db.run(run)
    flash(request, error or "已保存", "error" if error else "success")
    return redirect(f"/operators/{operator_id}")


async def operator_active(request: Request) -> Response:
    actor = await current_actor(request, "operator.manage")
    operator_id = path_id(request, "operator_id")
    form = await form_data(request)
    active = form.get("active") == "yes"

    def run(session: Any) -> str | None:
        operator = _load(session, actor, operator_id)
        if operator.id == actor.id:
            return "不能停用自己的账号"
        if operator.active != active:
            operators.set_active(session, operator, active, actor=actor.username)
        return None

    error = await services(request).db.run(run)
    flash(request, error or ("账号已启用" if active else "账号已停用，该操作员已无法登录"), "error" if error else "success")
    return redirect(f"/operators/{operator_id}")


async def operator_reset(request: Request) -> Response:
    actor = await current_actor(request, "operator.manage")
    operator_id = path_id(request, "operator_id")
    await form_data(request)
    password = operators.temporary_password()

    def run(session: Any) -> str:
        operator = _load(session, actor, operator_id)
        operators.reset_password(session, operator, password, actor=actor.username)
        return operator.username

    username = await services(request).db.run(run)
    return render(request, "access/operator_password.html", {"username": username, "password": password,
                                                             "operator_id": operator_id, "created": False})


async def operator_unlock(request: Request) -> Response:
    actor = await current_actor(request, "operator.manage")
    operator_id = path_id(request, "operator_id")
    await form_data(request)

    def run(session: Any) -> bool:
        operator = _load(session, actor, operator_id)
        if not operators.locked(operator) and not operator.failed_logins:
            return False
        operators.unlock(session, operator, actor=actor.username)
        return True

    done = await services(request).db.run(run)
    flash(request, "账号已解锁" if done else "该账号未被锁定")
    return redirect(f"/operators/{operator_id}")


def routes() -> list[Route]:
    return [
        Route("/", home, methods=["GET"], name="home"),
        Route("/login", login_page, methods=["GET"], name="login_page"),
        Route("/login", login_submit, methods=["POST"], name="login_submit"),
        Route("/logout", logout, methods=["POST"], name="logout"),
        Route("/password", password_page, methods=["GET"], name="password_page"),
        Route("/password", password_submit, methods=["POST"], name="password_submit"),
        Route("/operators", operator_list, methods=["GET"], name="operator_list"),
        Route("/operators", operator_create, methods=["POST"], name="operator_create"),
        Route("/operators/{operator_id}", operator_detail, methods=["GET"], name="operator_detail"),
        Route("/operators/{operator_id}", operator_update, methods=["POST"], name="operator_update"),
        Route("/operators/{operator_id}/active", operator_active, methods=["POST"], name="operator_active"),
        Route("/operators/{operator_id}/reset-password", operator_reset, methods=["POST"], name="operator_reset"),
        Route("/operators/{operator_id}/unlock", operator_unlock, methods=["POST"], name="operator_unlock"),
    ]
