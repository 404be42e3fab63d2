"""Workflow pages: taking a batch's actions, overdue work, the deadline table, posting photos.

- ``POST /batches/{id}/actions/{name}`` takes one action of the approval chain
  (:func:`admin.batches.workflow.perform`, in one transaction). The batch page renders one form per
  action of ``workflow.available_actions`` (``templates/_actions.html``) and ``/batches/{id}.json``
  lists the same actions, so a script that logs in and follows them acts exactly as a person does.
  The form is CSRF-checked like every admin POST, ``multipart/form-data`` when an action has a file
  field, at most :data:`ACTION_MAX_BYTES`. A refusal (:class:`WorkflowError`) answers a JSON client
  ``{"error": {"code", "message", "field"}}`` with its status (403 role or scope, 404, 409 state or
  precondition, 400/413 form), a browser a 403/404 page or a flash message and 303 back to the
  batch; nothing is written. Success: the result (JSON) or a flash message and 303.
- File fields (the notice-board photo of ``publicity_posting``) are stored by
  :mod:`admin.batches.photos` only when the action is open to the operator, and only from a real
  upload: a text value posted under a file field's name is dropped, so a reference cannot be forged.
  ``GET /batches/{id}/postings/{posting_id}/photo`` shows a stored photo to an operator who may see
  the batch's lines in that village; nothing public serves them.
- ``/overdue`` (+ ``.json``, ``.xlsx``): every batch in the operator's scope whose step is overdue or
  due within ``within`` working days (default 1, at most 20), per step and department
  (:func:`workflow.due_work`). Each role's home page shows the part it acts on.
- ``/deadlines`` (+ ``.json``): the built-in time limits and the overrides per project and region;
  a system admin adds, changes (same step, region and project) or deletes an override, each change
  audited by the service.

Dates are the app's business day (:func:`admin.web.business_day`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.access import roles
from admin.access.auth import current_actor
from admin.batches import photos, workflow
from admin.batches.views import load_batch
from admin.actions import WorkflowError
from admin.models import Batch, Project, PublicityPosting, Region
from admin.web import (
    AdminError,
    as_id,
    business_day,
    error_response,
    flash,
    form_data,
    json_response,
    limit_body,
    not_found,
    path_id,
    redirect,
    render,
    services,
    wants_json,
    xlsx_download,
)
from core.deadlines import DEFAULT_RULES
from core.spreadsheets import xlsx_row
from core.timeutil import format_date_zh
from core.web import route

__all__ = ["ACTION_MAX_BYTES", "MAX_WITHIN", "deadline_actions", "due_groups", "routes"]

# A photo and the text fields of an action form.
ACTION_MAX_BYTES = photos.MAX_PHOTO_BYTES + 256 * 1024
MAX_WITHIN = 20
RULE_KINDS = {"max": "不超过", "min": "不少于"}


# --- taking an action ---------------------------------------------------------------------------


def _refused(request: Request, batch_id: int, error: WorkflowError) -> Response:
    if wants_json(request):
        return json_response({"error": {"field": None, **error.as_dict()}}, status=error.status)
    if error.status in (403, 404):
        return error_response(request, error.status, error.code, error.message)
    flash(request, error.message, "error")
    return redirect(f"/batches/{batch_id}")


async def batch_action(request: Request) -> Response:
    actor = await current_actor(request)
    batch_id = path_id(request, "batch_id")
    name = request.path_params["name"]
    form = await form_data(limit_body(request, ACTION_MAX_BYTES))
    texts = {key: value for key, value in form.multi_items() if isinstance(value, str) and key != "csrf_token"}
    uploads: dict[str, bytes] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile) and value.filename:
            uploads[key] = await value.read(photos.MAX_PHOTO_BYTES + 1)
    day = business_day(request)
    config = services(request).config

    def run(session: Any) -> workflow.ActionResult:
        values: dict[str, Any] = dict(texts)
        stored: list[photos.StoredPhoto] = []
        batch = session.get(Batch, batch_id)
        offered = None if batch is None else next(
            (a for a in workflow.available_actions(session, actor, batch, today=day) if a.name == name), None)
        try:
            for f in offered.fields if offered is not None else ():
                if f.type != "file":
                    continue
                values.pop(f.name, None)  # only an upload fills a file field
                if f.name in uploads:
                    try:
                        photo = photos.store(config, uploads[f.name])
                    except photos.PhotoError as exc:
                        error = WorkflowError(exc.code, exc.message, field=f.name)
                        error.status = exc.status
                        raise error from None
                    stored.append(photo)
                    values[f.name] = photo.ref
            return workflow.perform(session, actor, batch_id, name, values, day)
        except BaseException:
            for photo in stored:
                photos.discard(config, photo)
            raise

    try:
        result = await services(request).db.run(run)
    except WorkflowError as error:
        return _refused(request, batch_id, error)
    if wants_json(request):
        return json_response(result.as_dict())
    flash(request, result.message)
    return redirect(f"/batches/{batch_id}")


async def posting_photo(request: Request) -> Response:
    actor = await current_actor(request, "line.view")
    batch_id, posting_id = path_id(request, "batch_id"), path_id(request, "posting_id")

    def load(session: Any) -> str:
        load_batch(session, actor, batch_id)
        posting = session.get(PublicityPosting, posting_id)
        if posting is None or posting.batch_id != batch_id or not posting.photo_ref or not roles.region_overlaps(
                posting.village_code, actor.region_code):
            raise not_found()
        return posting.photo_ref

    found = photos.path_of(services(request).config, await services(request).db.run(load))
    if found is None:
        raise not_found()
    path, media_type = found
    return Response(path.read_bytes(), media_type=media_type, headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"})


# --- overdue work -------------------------------------------------------------------------------


def due_groups(items: list[workflow.DueItem]) -> list[dict[str, Any]]:
    """The due items per step and department (they come ordered so)."""
    groups: list[dict[str, Any]] = []
    for item in items:
        if not groups or (groups[-1]["step"], groups[-1]["department_id"]) != (item.step, item.department_id):
            groups.append({"step": item.step, "step_label": item.step_label, "department_id": item.department_id,
                           "department": item.department, "items": [], "overdue": 0})
        groups[-1]["items"].append(item)
        groups[-1]["overdue"] += item.overdue
    return groups


def _within(request: Request) -> int:
    raw = request.query_params.get("within", "1")
    if as_id(raw) is None or int(raw) > MAX_WITHIN:
        raise AdminError(400, "bad_within", f"“到期范围”应为 0 至 {MAX_WITHIN} 之间的整数（工作日）。")
    return int(raw)


def _due_xlsx(items: list[workflow.DueItem], day: date, within: int) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("到期待办")
    sheet.append(xlsx_row(sheet, [f"截至{format_date_zh(day)}，已超期或 {within} 个工作日内到期的批次"]))
    sheet.append(xlsx_row(sheet, ["环节", "部门", "批次编号", "批次名称", "项目", "区划", "状态", "本环节开始",
                                  "应完成日期", "剩余工作日", "是否超期"]))
    for i in items:
        sheet.append(xlsx_row(sheet, [i.step_label, i.department, i.batch_code, i.title, i.project_name, i.region_code,
                                      i.state_label, i.started_on, i.due_on, i.days_left,
                                      "已超期" if i.overdue else "即将到期"]))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


async def overdue(request: Request) -> Response:
    actor = await current_actor(request, "batch.view")
    within = _within(request)
    day = business_day(request)
    items = await services(request).db.run(lambda s: workflow.due_work(s, actor, day, within=within))
    if request.url.path.endswith(".xlsx"):
        return xlsx_download(_due_xlsx(items, day, within), "到期待办.xlsx")
    groups = due_groups(items)
    if wants_json(request):
        return json_response({"today": day, "within": within, "total": len(items),
                              "overdue": sum(i.overdue for i in items), "items": [i.as_dict() for i in items],
                              "groups": [{**{k: v for k, v in g.items() if k != "items"}, "count": len(g["items"]),
                                          "batch_ids": [i.batch_id for i in g["items"]]} for g in groups]})
    return render(request, "batches/overdue.html", {"groups": groups, "total": len(items), "today": day,
                                                    "within": within, "max_within": MAX_WITHIN})


# --- the deadline table -------------------------------------------------------------------------


def deadline_actions(actor: roles.Actor) -> list[dict[str, Any]]:
    if not roles.can(actor, "deadline.edit"):
        return []
    return [workflow.Action("deadline_set", "保存时限设置", "/deadlines", workflow.DEADLINE_FIELDS).as_dict()]


def _rule_dict(step: str) -> dict[str, Any]:
    rule = DEFAULT_RULES[step]
    return {"step": step, "step_label": workflow.STEP_LABELS[step], "days": rule.days, "kind": rule.kind,
            "kind_label": RULE_KINDS[rule.kind], "source": rule.source, "description": rule.description_zh}


async def deadlines(request: Request) -> Response:
    actor = await current_actor(request)

    def load(session: Any) -> dict[str, Any]:
        rows = workflow.list_deadline_overrides(session, actor)
        projects = {p.code: p.name for p in session.scalars(select(Project).where(
            Project.code.in_({o.project_code for o in rows if o.project_code} or {""})))}
        regions = dict(session.execute(select(Region.code, Region.name).where(
            Region.code.in_({o.region_code for o in rows if o.region_code} or {""}))).all())
        return {"overrides": [{
            "id": o.id, "step": o.step, "step_label": workflow.STEP_LABELS.get(o.step, o.step), "days": o.days,
            "kind_label": RULE_KINDS[DEFAULT_RULES[o.step].kind] if o.step in DEFAULT_RULES else "",
            "default_days": DEFAULT_RULES[o.step].days if o.step in DEFAULT_RULES else None,
            "project_code": o.project_code, "project_name": projects.get(o.project_code or "", ""),
            "region_code": o.region_code, "region_name": regions.get(o.region_code or "", ""), "source": o.source,
            "actions": [workflow.Action("deadline_delete", "删除", f"/deadlines/{o.id}/delete").as_dict()]
            if roles.can(actor, "deadline.edit", o.region_code or "") else []} for o in rows]}

    data = await services(request).db.run(load)
    defaults = [_rule_dict(step) for step in DEFAULT_RULES]
    actions = deadline_actions(actor)
    if wants_json(request):
        return json_response({"defaults": defaults, **data, "actions": actions})
    return render(request, "batches/deadlines.html", {"defaults": defaults, **data, "actions": actions})


def _deadline_refused(request: Request, error: WorkflowError) -> Response:
    if wants_json(request):
        return json_response({"error": {"field": None, **error.as_dict()}}, status=error.status)
    if error.status in (403, 404):
        return error_response(request, error.status, error.code, error.message)
    flash(request, error.message, "error")
    return redirect("/deadlines")


def _texts(form: Mapping[str, Any]) -> dict[str, str]:
    return {key: value for key, value in form.items() if isinstance(value, str) and key != "csrf_token"}


async def deadline_set(request: Request) -> Response:
    actor = await current_actor(request, "deadline.edit")
    values = _texts(await form_data(request))

    def run(session: Any) -> dict[str, Any]:
        row = workflow.set_deadline_override(session, actor, values)
        return {"id": row.id, "step": row.step, "days": row.days, "project_code": row.project_code,
                "region_code": row.region_code, "source": row.source}

    try:
        saved = await services(request).db.run(run)
    except WorkflowError as error:
        return _deadline_refused(request, error)
    if wants_json(request):
        return json_response(saved)
    scope = f"区划 {saved['region_code']}" + (f"、项目 {saved['project_code']}" if saved["project_code"] else "")
    flash(request, f"已保存：{workflow.STEP_LABELS[saved['step']]} {saved['days']} 个工作日（{scope}），"
                   "此后开始的环节按新时限计算。")
    return redirect("/deadlines")


async def deadline_delete(request: Request) -> Response:
    actor = await current_actor(request, "deadline.edit")
    override_id = path_id(request, "override_id")
    await form_data(request)
    try:
        await services(request).db.run(lambda s: workflow.delete_deadline_override(s, actor, override_id))
    except WorkflowError as error:
        return _deadline_refused(request, error)
    if wants_json(request):
        return json_response({"deleted": override_id})
    flash(request, "已删除这条时限设置，此后开始的环节按默认或上级区划的时限计算。")
    return redirect("/deadlines")


def routes() -> list[BaseRoute]:
    return [
        Route("/batches/{batch_id}/actions/{name}", batch_action, methods=["POST"], name="batch_action"),
        Route("/batches/{batch_id}/postings/{posting_id}/photo", posting_photo, methods=["GET"], name="posting_photo"),
        *route("/overdue", overdue, name="overdue", methods=["GET"], json=True),
        Route("/overdue.xlsx", overdue, methods=["GET"], name="overdue_xlsx"),
        *route("/deadlines", deadlines, name="deadlines", methods=["GET"], json=True),
        Route("/deadlines", deadline_set, methods=["POST"], name="deadline_set"),
        Route("/deadlines/{override_id}/delete", deadline_delete, methods=["POST"], name="deadline_delete"),
    ]
