"""Library pages: the policy list (政策清单), the project library (项目库) and the import of
reference lists (比对名单; the forms are on the person registry page, /persons)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.access import roles
from admin.access.auth import current_actor
from admin.batches.imports import import_slots
from admin.batches.rosters import MAX_FILE_BYTES, RosterFileError
from admin.library import policies, projects, references
from admin.models import Department, Policy, PolicyChange, Project
from admin.web import (
    AdminError,
    as_id,
    flash,
    forbidden,
    form_data,
    json_response,
    not_found,
    path_id,
    read_upload,
    redirect,
    render,
    services,
    wants_json,
)
from core.timeutil import today
from core.web import route


def policy_dict(policy: Policy) -> dict[str, Any]:
    return {"id": policy.id, "code": policy.code, "year": policy.year, "department": policy.department.name,
            "region_code": policy.region_code, "status": policy.status,
            "status_label": policies.STATUS_LABELS.get(policy.status, policy.status),
            **{name: getattr(policy, name) for name in policies.EDITABLE_FIELDS}}


def project_dict(project: Project) -> dict[str, Any]:
    return {"id": project.id, "code": project.code, "name": project.name, "policy": {
        "id": project.policy_id, "code": project.policy.code, "year": project.policy.year},
        "department": project.department.name, "region_code": project.region_code, "unit": project.unit,
        "amount_min": project.amount_min, "amount_max": project.amount_max, "period_kind": project.period_kind,
        "active": project.active, "household_cap": project.household_cap, "unit_rate": project.unit_rate}


async def policy_list(request: Request) -> Response:
    actor = await current_actor(request, "policy.view")
    year_raw = request.query_params.get("year", str(today().year))
    year = int(year_raw) if as_id(year_raw) is not None and len(year_raw) <= 4 else today().year

    def load(session: Any) -> dict[str, Any]:
        stmt = roles.scope_policies(select(Policy).options(selectinload(Policy.department))
                                    .where(Policy.year == year), actor).order_by(Policy.code)
        departments = list(session.execute(select(Department).where(
            roles.overlaps_clause(Department.region_code, actor.region_code)).order_by(Department.code)).scalars())
        if actor.is_department:
            departments = [d for d in departments if d.id == actor.department_id]
        pending = list(session.execute(roles.scope_policies(
            select(PolicyChange).join(Policy).where(PolicyChange.status == "pending")
            .options(selectinload(PolicyChange.policy)), actor)).scalars())
        return {"policies": list(session.execute(stmt).scalars()), "departments": departments,
                "pending": [c for c in pending if roles.can(actor, "policy.review", c.policy)]}

    data = await services(request).db.run(load)
    if wants_json(request):
        return json_response({"year": year, "policies": [policy_dict(p) for p in data["policies"]]})
    return render(request, "library/policies.html", {**data, "year": year, "levels": policies.LEVELS,
                                                     "status_labels": policies.STATUS_LABELS,
                                                     "fields": policies.EDITABLE_FIELDS})


async def policy_create(request: Request) -> Response:
    actor = await current_actor(request, "policy.edit")
    form = await form_data(request)
    values = {k: str(form.get(k, "")) for k in policies.EDITABLE_FIELDS}

    def create(session: Any) -> str | None:
        department_id = str(form.get("department_id", ""))
        department = session.get(Department, int(department_id)) if as_id(department_id) is not None else None
        if department is None or (actor.is_department and department.id != actor.department_id) or \
                not roles.region_overlaps(department.region_code, actor.region_code):
            return "请选择本部门"
        region = str(form.get("region_code", "")).strip() or department.region_code
        if not roles.region_inside(region, actor.region_code):
            return "政策适用区域必须在您的管辖区域之内"
        try:
            year = int(str(form.get("year", today().year)))
            policies.create_policy(session, actor=actor.username, code=str(form.get("code", "")), year=year,
                                   department=department, region_code=region, values=values)
        except (policies.PolicyError, ValueError) as exc:
            return str(exc) or "年度有误"
        return None

    error = await services(request).db.run(create)
    flash(request, error or "已加入清单（草稿），审核公布后生效", "error" if error else "success")
    return redirect("/policies")


def _load_policy(session: Any, actor: roles.Actor, policy_id: int, action: str) -> Policy:
    policy = session.execute(roles.scope_policies(select(Policy).where(Policy.id == policy_id), actor)
                             .options(selectinload(Policy.changes), selectinload(Policy.department))
                             ).scalar_one_or_none()
    if policy is None:
        raise not_found()
    if not roles.can(actor, action, policy):
        raise forbidden()
    return policy


async def policy_detail(request: Request) -> Response:
    actor = await current_actor(request, "policy.view")
    policy_id = path_id(request, "policy_id")
    policy = await services(request).db.run(lambda s: _load_policy(s, actor, policy_id, "policy.view"))
    return render(request, "library/policy.html", {"policy": policy, "fields": policies.EDITABLE_FIELDS,
                                                   "status_labels": policies.STATUS_LABELS,
                                                   "change_labels": policies.CHANGE_STATUS_LABELS})


async def policy_publish(request: Request) -> Response:
    actor = await current_actor(request, "policy.review")
    policy_id = path_id(request, "policy_id")
    form = await form_data(request)
    withdraw = form.get("withdraw") == "yes"

    def run(session: Any) -> str | None:
        policy = _load_policy(session, actor, policy_id, "policy.review")
        try:
            (policies.withdraw if withdraw else policies.publish)(session, policy, actor=actor.username)
        except policies.PolicyError as exc:
            return str(exc)
        return None

    error = await services(request).db.run(run)
    flash(request, error or ("已撤回" if withdraw else "已公布，公开门户将随索引更新"), "error" if error else "success")
    return redirect(f"/policies/{policy_id}")


async def policy_change_request(request: Request) -> Response:
    actor = await current_actor(request, "policy.edit")
    policy_id = path_id(request, "policy_id")
    form = await form_data(request)
    values = {k: str(form.get(k)) for k in policies.EDITABLE_FIELDS if form.get(k) is not None}

    def run(session: Any) -> str | None:
        policy = _load_policy(session, actor, policy_id, "policy.edit")
        try:
            policies.request_change(session, policy, actor=actor.username, summary=str(form.get("summary", "")),
                                    values=values)
        except policies.PolicyError as exc:
            return str(exc)
        return None

    error = await services(request).db.run(run)
    flash(request, error or "变更申请已提交，待审核", "error" if error else "success")
    return redirect(f"/policies/{policy_id}")


async def policy_change_review(request: Request) -> Response:
    actor = await current_actor(request, "policy.review")
    change_id = path_id(request, "change_id")
    form = await form_data(request)

    def run(session: Any) -> tuple[int, str | None]:
        change = session.get(PolicyChange, change_id)
        if change is None:
            raise not_found()
        _load_policy(session, actor, change.policy_id, "policy.review")
        try:
            policies.review_change(session, change, actor=actor.username, approve=form.get("decision") == "approve",
                                   comment=str(form.get("comment", "")))
        except policies.PolicyError as exc:
            return change.policy_id, str(exc)
        return change.policy_id, None

    policy_id, error = await services(request).db.run(run)
    flash(request, error or "审核完成", "error" if error else "success")
    return redirect(f"/policies/{policy_id}")


async def project_list(request: Request) -> Response:
    actor = await current_actor(request, "project.view")

    def load(session: Any) -> dict[str, Any]:
        stmt = roles.scope_projects(select(Project).options(selectinload(Project.policy),
                                                            selectinload(Project.department)), actor)
        current = roles.scope_policies(select(Policy).where(Policy.year == today().year), actor)
        return {"projects": list(session.execute(stmt.order_by(Project.code)).scalars()),
                "policies": [p for p in session.execute(current.order_by(Policy.code)).scalars()
                             if roles.can(actor, "policy.edit", p)]}

    data = await services(request).db.run(load)
    if wants_json(request):
        return json_response({"projects": [project_dict(p) for p in data["projects"]]})
    return render(request, "library/projects.html", {**data, "period_kinds": projects.PERIOD_KINDS})


async def project_create(request: Request) -> Response:
    actor = await current_actor(request, "project.edit")
    form = await form_data(request)
    f = {k: str(form.get(k, "")).strip() for k in ("policy_id", "code", "name", "region_code", "amount_min",
                                                   "amount_max", "unit", "period_kind")}

    def run(session: Any) -> str | None:
        policy = session.get(Policy, int(f["policy_id"])) if as_id(f["policy_id"]) is not None else None
        if policy is None or not roles.can(actor, "policy.edit", policy):
            return "请选择本部门的政策"
        region = f["region_code"] or policy.region_code
        if not roles.region_inside(region, actor.region_code):
            return "项目实施区域必须在您的管辖区域之内"
        try:
            projects.create_project(session, actor=actor.username, policy=policy, code=f["code"], name=f["name"],
                                    region_code=region, amount_min=f["amount_min"], amount_max=f["amount_max"],
                                    unit=f["unit"] or "元/人", period_kind=f["period_kind"] or "year")
        except projects.ProjectError as exc:
            return str(exc)
        return None

    error = await services(request).db.run(run)
    flash(request, error or "项目已加入项目库", "error" if error else "success")
    return redirect("/projects")


async def reference_import(request: Request) -> Response:
    actor = await current_actor(request, "reference.import")
    form, data, filename = await read_upload(request, MAX_FILE_BYTES)
    kind = str(form.get("list_kind", ""))
    region = str(form.get("region_code", "")).strip() or actor.region_code
    kinds = await services(request).db.run(references.list_kinds)
    if kind not in kinds:
        raise AdminError(400, "bad_list_kind", "请选择名单类型")
    if not roles.can(actor, "reference.import", region):
        raise forbidden()
    config = services(request).config
    try:
        with import_slots.acquire(actor.id):
            outcome = await services(request).db.run(lambda s: references.import_list(
                s, config, data, filename, actor=actor.username, list_kind=kind, region_code=region))
    except RosterFileError as exc:
        flash(request, "文件无法导入：" + exc.message, "error")
        return redirect("/persons")
    if outcome.errors:
        shown = "；".join(f"第{n}行：{m}" for n, m in outcome.errors[:20])
        flash(request, f"{len(outcome.errors)} 行有问题，整个文件未导入。{shown}", "error")
    else:
        flash(request, f"{kinds[kind]}名单：新增 {outcome.added} 人，更新 {outcome.updated} 人")
    return redirect("/persons")


async def project_standards(request: Request) -> Response:
    """每户上限 and 单位标准 of a project (empty = none): used by the anomaly signals only."""
    actor = await current_actor(request, "project.edit")
    project_id = path_id(request, "project_id")
    form = await form_data(request)

    def run(session: Any) -> str | None:
        project = session.execute(roles.scope_projects(select(Project).where(Project.id == project_id), actor)
                                  ).scalar_one_or_none()
        if project is None:
            raise not_found()
        if not roles.can(actor, "project.edit", project):
            raise forbidden()
        try:
            projects.set_supervision_standards(session, project, actor=actor.username,
                                               household_cap=str(form.get("household_cap", "")),
                                               unit_rate=str(form.get("unit_rate", "")))
        except projects.ProjectError as exc:
            return str(exc)
        return None

    error = await services(request).db.run(run)
    if wants_json(request):
        if error:
            return json_response({"error": {"code": "bad_standard", "message": error}}, status=400)
        return json_response({"ok": True})
    flash(request, error or "每户上限、单位标准已保存", "error" if error else "success")
    return redirect("/projects")


async def reference_kinds(request: Request) -> Response:
    """比对名单类型: the kinds (built-in and added), and for a system admin the form to add one."""
    actor = await current_actor(request, "person.view")
    kinds = await services(request).db.run(references.all_kinds)
    if wants_json(request):
        return json_response({"kinds": [k.as_dict() for k in kinds]})
    return render(request, "library/reference_kinds.html", {
        "kinds": kinds, "can_manage": roles.allowed(actor, "reference.kind.manage")})


async def reference_kind_create(request: Request) -> Response:
    actor = await current_actor(request, "reference.kind.manage")
    form = await form_data(request)

    def run(session: Any) -> str | None:
        try:
            references.add_kind(session, actor=actor.username, code=str(form.get("code", "")),
                                name=str(form.get("name", "")), date_meaning=str(form.get("date_meaning", "")),
                                paid_after_is_problem=form.get("paid_after_is_problem") == "yes")
        except references.KindError as exc:
            return str(exc)
        return None

    error = await services(request).db.run(run)
    if wants_json(request):
        if error:
            return json_response({"error": {"code": "bad_reference_kind", "message": error}}, status=400)
        return json_response({"ok": True})
    flash(request, error or "名单类型已添加，可在人员信息库页面导入该名单", "error" if error else "success")
    return redirect("/reference-kinds")


async def reference_kind_active(request: Request) -> Response:
    actor = await current_actor(request, "reference.kind.manage")
    code = request.path_params["code"]
    form = await form_data(request)
    active = form.get("active") == "yes"

    def run(session: Any) -> str | None:
        try:
            references.set_kind_active(session, actor=actor.username, code=code, active=active)
        except references.KindError as exc:
            return str(exc)
        return None

    error = await services(request).db.run(run)
    if error:
        raise AdminError(404, "unknown_reference_kind", error)
    flash(request, "已启用" if active else "已停用（不再比对、不再导入）")
    return redirect("/reference-kinds")


def routes() -> list[BaseRoute]:
    return [
        *route("/policies", policy_list, name="policy_list", methods=["GET"], json=True),
        Route("/policies", policy_create, methods=["POST"], name="policy_create"),
        Route("/policies/{policy_id}", policy_detail, methods=["GET"], name="policy_detail"),
        Route("/policies/{policy_id}/publish", policy_publish, methods=["POST"], name="policy_publish"),
        Route("/policies/{policy_id}/changes", policy_change_request, methods=["POST"], name="policy_change_request"),
        Route("/policy-changes/{change_id}/review", policy_change_review, methods=["POST"], name="policy_change_review"),
        *route("/projects", project_list, name="project_list", methods=["GET"], json=True),
        Route("/projects", project_create, methods=["POST"], name="project_create"),
        Route("/references/import", reference_import, methods=["POST"], name="reference_import"),
        Route("/projects/{project_id}/standards", project_standards, methods=["POST"], name="project_standards"),
        *route("/reference-kinds", reference_kinds, name="reference_kinds", methods=["GET"], json=True),
        Route("/reference-kinds", reference_kind_create, methods=["POST"], name="reference_kind_create"),
        Route("/reference-kinds/{code}/active", reference_kind_active, methods=["POST"], name="reference_kind_active"),
    ]
