"""Batches (批次) and roster pages: list, create, detail with lines, entry, import, fixes, exports.

`load_batch` is how every batch page (and the background import, admin/batches/imports.py)
loads a batch: inside the operator's scope, with the action checked by admin/access/roles.py.
"""

from __future__ import annotations

import io
import time
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.access import roles
from admin.access.auth import current_actor
from admin.bank import ledger
from admin.batches import imports, publicity, rosters, service, workflow
from admin.batches.rosters import COLUMNS, RosterFileError
from admin.models import BATCH_STATE_LABELS, Batch, PaymentLine, Project, Region, WorkflowEvent
from admin.web import (
    PAGE_SIZE,
    XLSX,
    AdminError,
    as_id,
    business_day,
    flash,
    forbidden,
    form_data,
    json_response,
    not_found,
    page_number,
    path_id,
    redirect,
    render,
    services,
    wants_json,
    xlsx_download,
)
from core.spreadsheets import xlsx_row
from core.timeutil import today
from core.web import route

SORTS = {"created": Batch.id.desc(), "code": Batch.code, "period": Batch.period.desc(), "state": Batch.state}


def load_batch(session: Any, actor: roles.Actor, batch_id: int, action: str = "batch.view") -> Batch:
    batch = session.execute(roles.scope_batches(select(Batch).where(Batch.id == batch_id), actor)
                            .options(selectinload(Batch.project))).scalar_one_or_none()
    if batch is None:
        raise not_found()
    if not roles.can(actor, action, batch):
        raise forbidden() if action == "batch.view" else AdminError(
            403, "forbidden", "您不能修改此批次（批次已提交，或超出您的权限范围）。")
    return batch


def batch_dict(batch: Batch) -> dict[str, Any]:
    return {"id": batch.id, "code": batch.code, "title": batch.title, "project": {
        "id": batch.project_id, "code": batch.project.code, "name": batch.project.name},
        "region_code": batch.region_code, "year": batch.year, "period": batch.period,
        "period_label": service.period_label(batch.period), "state": batch.state,
        "state_label": BATCH_STATE_LABELS.get(batch.state, batch.state), "created_by": batch.created_by,
        "created_at": batch.created_at, "step_due_on": batch.step_due_on, "paid_on": batch.paid_on,
        "published_on": batch.published_on}


def line_dict(line: PaymentLine, village_names: dict[str, str]) -> dict[str, Any]:
    """A payment line for the reporting tools: ID and card by their last 4 characters only."""
    return {"id": line.id, "line_no": line.line_no, "name": line.person.name, "id_last4": line.person.id_last4,
            "card_last4": line.card_account.card_last4 if line.card_account else "",
            "village_code": line.village_code, "village": village_names.get(line.village_code, ""),
            "amount": line.amount, "state": line.state, "check_issues": line.check_issues or [],
            "failure_reason": line.failure_reason, "paid_on": line.paid_on}


async def batch_list(request: Request) -> Response:
    actor = await current_actor(request, "batch.view")
    page = page_number(request)
    state = request.query_params.get("state", "")
    if state and state not in BATCH_STATE_LABELS:
        raise AdminError(400, "bad_state", "批次状态无效，可选：" + "、".join(
            f"{key}（{label}）" for key, label in BATCH_STATE_LABELS.items()) + "。")
    project_id = request.query_params.get("project", "")
    q = request.query_params.get("q", "").strip()[:40]
    sort = request.query_params.get("sort", "created")
    if sort not in SORTS:
        sort = "created"

    def load(session: Any) -> dict[str, Any]:
        stmt = roles.scope_batches(select(Batch).options(selectinload(Batch.project)), actor)
        if state in BATCH_STATE_LABELS:
            stmt = stmt.where(Batch.state == state)
        if as_id(project_id) is not None:
            stmt = stmt.where(Batch.project_id == int(project_id))
        if q:
            stmt = stmt.where(Batch.code.contains(q) | Batch.title.contains(q))
        total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = list(session.execute(stmt.order_by(SORTS[sort], Batch.id.desc())
                                    .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).scalars())
        projects = list(session.execute(roles.scope_projects(select(Project), actor).order_by(Project.code)).scalars())
        return {"batches": rows, "total": total, "projects": projects}

    data = await services(request).db.run(load)
    if wants_json(request):
        return json_response({"total": data["total"], "page": page, "page_size": PAGE_SIZE,
                              "batches": [batch_dict(b) for b in data["batches"]]})
    return render(request, "batches/batches.html", {
        **data, "page": page, "pages": max(1, -(-data["total"] // PAGE_SIZE)), "state": state,
        "project_id": project_id, "q": q, "sort": sort, "states": BATCH_STATE_LABELS})


async def batch_new(request: Request) -> Response:
    actor = await current_actor(request, "batch.create")

    def load(session: Any) -> list[Project]:
        stmt = roles.scope_projects(select(Project).options(selectinload(Project.policy))
                                    .where(Project.active.is_(True)), actor)
        return [p for p in session.execute(stmt.order_by(Project.code)).scalars() if roles.can(actor, "project.edit", p)
                or (actor.role == "department_operator" and p.id in actor.project_ids)]

    projects = await services(request).db.run(load)
    return render(request, "batches/batch_new.html", {"projects": projects, "year": today().year,
                                                      "form": {"region_code": actor.region_code}})


async def batch_create(request: Request) -> Response:
    actor = await current_actor(request, "batch.create")
    form = await form_data(request)
    values = {k: str(form.get(k, "")).strip() for k in ("project_id", "region_code", "year", "period", "title")}

    def create(session: Any) -> tuple[int | None, str | None]:
        project = session.get(Project, int(values["project_id"])) if as_id(values["project_id"]) is not None else None
        if project is None or not roles.can(actor, "project.view", project) or (
                actor.is_department and project.id not in actor.project_ids):
            return None, "请选择您负责的补贴项目"
        if not roles.region_inside(values["region_code"], actor.region_code):
            return None, "发放区域必须在您的管辖区域之内"
        if as_id(values["year"]) is None:
            return None, "请填写年度"
        try:
            batch = service.create_batch(session, actor=actor.username, project=project,
                                         region_code=values["region_code"], year=int(values["year"]),
                                         period=values["period"], title=values["title"])
        except service.BatchError as exc:
            return None, str(exc)
        return batch.id, None

    batch_id, error = await services(request).db.run(create)
    if error:
        flash(request, error, "error")
        return redirect("/batches/new")
    flash(request, "批次已创建，请通知乡镇录入或导入花名册")
    return redirect(f"/batches/{batch_id}")


def _line_query(actor: roles.Actor, batch_id: int) -> Any:
    stmt = (select(PaymentLine).join(Batch, PaymentLine.batch_id == Batch.id)
            .where(PaymentLine.batch_id == batch_id)
            .options(selectinload(PaymentLine.person), selectinload(PaymentLine.card_account)))
    return roles.scope_lines(stmt, actor)


def event_dict(event: WorkflowEvent) -> dict[str, Any]:
    return {"id": event.id, "action": event.action, "from_state": event.from_state, "to_state": event.to_state,
            "actor": event.actor, "at": event.at, "comment": event.comment, "due_on": event.due_on}


def workflow_view(session: Any, actor: roles.Actor, batch: Batch, day: Any) -> dict[str, Any]:
    """Where the batch stands and what this operator may do now: the actions come from the one
    workflow module, for the page's forms (``_actions.html``) and its JSON twin alike."""
    events = list(session.scalars(select(WorkflowEvent).where(WorkflowEvent.batch_id == batch.id)
                                  .order_by(WorkflowEvent.id)))
    postings = [p for p in workflow.postings(session, batch.id) if roles.region_overlaps(p.village_code,
                                                                                        actor.region_code)]
    codes = {p.village_code for p in postings}
    return {"actions": [a.as_dict() for a in workflow.available_actions(session, actor, batch, today=day)],
            "blocked": workflow.blocked_actions(session, actor, batch, today=day),
            "step": workflow.step_info(batch, day), "events": events, "postings": postings,
            "posting_villages": dict(session.execute(select(Region.code, Region.name)
                                                     .where(Region.code.in_(codes or {""}))).all())}


async def batch_detail(request: Request) -> Response:
    actor = await current_actor(request, "batch.view")
    batch_id = path_id(request, "batch_id")
    page = page_number(request)
    village = request.query_params.get("village", "")
    day = business_day(request)

    def load(session: Any) -> dict[str, Any]:
        batch = load_batch(session, actor, batch_id)
        stmt = _line_query(actor, batch_id)
        if village.isdigit():
            stmt = stmt.where(PaymentLine.village_code == village)
        sub = stmt.subquery()
        total = session.execute(select(func.count(), func.coalesce(func.sum(sub.c.amount), 0))).one()
        lines = list(session.execute(stmt.order_by(PaymentLine.line_no).offset((page - 1) * PAGE_SIZE)
                                     .limit(PAGE_SIZE)).scalars())
        codes = {line.village_code for line in lines}
        names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(codes or {""}))).all())
        villages = list(session.execute(select(Region).where(Region.level == "village",
                                                             Region.code.startswith(batch.region_code),
                                                             Region.code.startswith(actor.region_code))
                                        .order_by(Region.code)))
        return {"batch": batch, "lines": lines, "total": total[0], "sum": total[1], "village_names": names,
                "villages": [v[0] for v in villages], "editable": roles.can(actor, "line.edit", batch),
                "flaggable": roles.can(actor, "line.flag", batch),
                "publicity_villages": publicity.villages(session, actor, batch),
                "balance": ledger.balance(session, batch.id), "bank_files": ledger.bank_files(session, batch.id),
                **workflow_view(session, actor, batch, day)}

    data = await services(request).db.run(load)
    if wants_json(request):
        batch = data["batch"]
        return json_response({"id": batch.id, "state": batch.state,
                              "state_label": BATCH_STATE_LABELS.get(batch.state, batch.state),
                              "step": data["step"].as_dict(), "actions": data["actions"],
                              "blocked_actions": data["blocked"], "events": [event_dict(e) for e in data["events"]],
                              "batch": batch_dict(batch), "total": data["total"], "sum": data["sum"],
                              "balance": data["balance"].as_dict(),
                              "bank_files": [f.as_dict() for f in data["bank_files"]],
                              "page": page, "page_size": PAGE_SIZE,
                              "lines": [line_dict(line, data["village_names"]) for line in data["lines"]]})
    return render(request, "batches/batch.html", {
        **data, "page": page, "pages": max(1, -(-data["total"] // PAGE_SIZE)), "village": village,
        "states": BATCH_STATE_LABELS, "columns": COLUMNS, "period_label": service.period_label(data["batch"].period)})


def _values(form: Any) -> dict[str, str]:
    return {column: str(form.get(column, ""))[:100] for column in COLUMNS}


async def line_add(request: Request) -> Response:
    actor = await current_actor(request, "line.edit")
    batch_id = path_id(request, "batch_id")
    form = await form_data(request)
    values = _values(form)
    config = services(request).config

    def add(session: Any) -> Any:
        batch = load_batch(session, actor, batch_id, "line.edit")
        line, result = service.add_line(session, config, batch, values, actor=actor.username,
                                        scope_region=roles.scope_region_for(actor))
        return result

    result = await services(request).db.run(add)
    if not result.ok:
        return render(request, "batches/line_form.html", {
            "batch_id": batch_id, "values": values, "issues": result.issues,
            "action": f"/batches/{batch_id}/lines", "title": "录入一行"}, status=400)
    flash(request, f"已录入：{result.row.name}")
    return redirect(f"/batches/{batch_id}")


def _load_line(session: Any, actor: roles.Actor, batch_id: int, line_id: int, action: str) -> PaymentLine:
    line = session.execute(_line_query(actor, batch_id).where(PaymentLine.id == line_id)).scalar_one_or_none()
    if line is None:
        raise not_found()
    if not roles.can(actor, action, line):
        raise AdminError(403, "forbidden", "您不能修改此行（批次已提交，或超出您的权限范围）。")
    return line


async def line_edit(request: Request) -> Response:
    actor = await current_actor(request, "line.edit")
    batch_id, line_id = path_id(request, "batch_id"), path_id(request, "line_id")
    config = services(request).config

    def load(session: Any) -> dict[str, str]:
        return service.line_values(session, config, _load_line(session, actor, batch_id, line_id, "line.edit"))

    values = await services(request).db.run(load)
    return render(request, "batches/line_form.html", {
        "batch_id": batch_id, "values": values, "issues": [],
        "action": f"/batches/{batch_id}/lines/{line_id}", "title": "修改此行"})


async def line_update(request: Request) -> Response:
    actor = await current_actor(request, "line.edit")
    batch_id, line_id = path_id(request, "batch_id"), path_id(request, "line_id")
    form = await form_data(request)
    values = _values(form)
    config = services(request).config

    def update(session: Any) -> Any:
        line = _load_line(session, actor, batch_id, line_id, "line.edit")
        return service.update_line(session, config, line, values, actor=actor.username,
                                   scope_region=roles.scope_region_for(actor))

    result = await services(request).db.run(update)
    if not result.ok:
        return render(request, "batches/line_form.html", {
            "batch_id": batch_id, "values": values, "issues": result.issues,
            "action": f"/batches/{batch_id}/lines/{line_id}", "title": "修改此行"}, status=400)
    flash(request, "已保存修改")
    return redirect(f"/batches/{batch_id}")


async def lines_delete(request: Request) -> Response:
    """Bulk removal: the checked lines, only after the confirmation box is ticked."""
    actor = await current_actor(request, "line.edit")
    batch_id = path_id(request, "batch_id")
    form = await form_data(request)
    ids = [int(v) for v in form.getlist("line_id") if as_id(v) is not None]
    if not ids:
        flash(request, "请先勾选要删除的行", "error")
        return redirect(f"/batches/{batch_id}")
    if form.get("confirm") != "yes":
        flash(request, f"删除 {len(ids)} 行前请勾选“确认删除”", "error")
        return redirect(f"/batches/{batch_id}")

    def delete(session: Any) -> int:
        load_batch(session, actor, batch_id, "line.edit")
        lines = [_load_line(session, actor, batch_id, line_id, "line.edit") for line_id in ids]
        for line in lines:
            service.remove_line(session, line, actor=actor.username)
        return len(lines)

    count = await services(request).db.run(delete)
    flash(request, f"已删除 {count} 行")
    return redirect(f"/batches/{batch_id}")


BULK_ACTIONS = {"delete": ("line.edit", "删除"), "recheck": ("line.flag", "标记为待复核")}


async def lines_bulk(request: Request) -> Response:
    """Bulk action on the checked lines: a confirmation page first, then the action on confirm=yes."""
    actor = await current_actor(request, "batch.view")
    batch_id = path_id(request, "batch_id")
    form = await form_data(request)
    action = str(form.get("action", ""))
    if action not in BULK_ACTIONS:
        raise AdminError(400, "bad_action", "请选择要执行的批量操作。")
    permission, label = BULK_ACTIONS[action]
    if not roles.allowed(actor, permission):
        raise forbidden()
    ids = sorted({int(v) for v in form.getlist("line_id") if as_id(v) is not None})[:PAGE_SIZE * 20]
    if not ids:
        flash(request, "请先勾选要操作的行", "error")
        return redirect(f"/batches/{batch_id}")
    confirmed = form.get("confirm") == "yes"

    def run(session: Any) -> Any:
        load_batch(session, actor, batch_id, permission)
        lines = [_load_line(session, actor, batch_id, line_id, permission) for line_id in ids]
        if not confirmed:
            codes = {line.village_code for line in lines}
            names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all())
            return lines, names
        if action == "delete":
            for line in lines:
                service.remove_line(session, line, actor=actor.username)
            return len(lines), None
        return sum(service.mark_for_recheck(session, line, actor=actor.username) for line in lines), None

    result, names = await services(request).db.run(run)
    if not confirmed:
        return render(request, "bulk_confirm.html", {
            "title": f"确认{label} {len(result)} 行", "action_url": request.url.path, "action": action,
            "label": label, "batch_id": batch_id, "lines": result, "village_names": names,
            "sum": sum((line.amount for line in result), Decimal("0.00"))})
    flash(request, f"已{label} {result} 行")
    return redirect(f"/batches/{batch_id}")


# --- import -----------------------------------------------------------------------------------


async def roster_import(request: Request) -> Response:
    actor = await current_actor(request, "roster.import")
    batch_id = path_id(request, "batch_id")
    form = await form_data(request)
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        flash(request, "请选择要导入的花名册文件（.xlsx 或 CSV）", "error")
        return redirect(f"/batches/{batch_id}")
    filename = upload.filename
    config = services(request).config
    await services(request).db.run(lambda s: load_batch(s, actor, batch_id, "roster.import"))
    slot = imports.import_slots.acquire(actor.id)  # 429/503 when busy, before the file is read
    background = False
    try:
        data = await upload.read(rosters.MAX_FILE_BYTES + 1)
        if len(data) >= imports.BACKGROUND_IMPORT_BYTES:
            token = imports.start_import(config, services(request).db, actor, batch_id, data, filename,
                                         lambda session: load_batch(session, actor, batch_id, "roster.import"),
                                         slot)
            background = True
            return redirect(f"/batches/{batch_id}/import-jobs/{token}")

        def run(session: Any) -> Any:
            batch = load_batch(session, actor, batch_id, "roster.import")
            return service.import_roster(session, config, batch, data, filename, actor=actor.username,
                                         scope_region=roles.scope_region_for(actor))

        outcome = await services(request).db.run(run)
    except RosterFileError as exc:
        flash(request, "文件无法导入：" + exc.message, "error")
        return redirect(f"/batches/{batch_id}")
    finally:
        if not background:
            slot.release()
    if outcome.ok:
        flash(request, f"已导入 {outcome.imported} 行")
        return redirect(f"/batches/{batch_id}")
    token = imports.stage(config, batch_id, actor.id, filename, [r.row for r in outcome.results])
    failed = sum(1 for r in outcome.results if not r.ok)
    flash(request, f"共 {len(outcome.results)} 行，其中 {failed} 行有问题，整个文件暂未导入。请逐行修改或删除后再确认导入。", "error")
    return redirect(f"/batches/{batch_id}/imports/{token}")


async def import_progress(request: Request) -> Response:
    """Progress of a background import; refreshes itself (no JS), then goes on to the result."""
    actor = await current_actor(request, "roster.import")
    batch_id = path_id(request, "batch_id")
    token = request.path_params["token"]
    config = services(request).config
    status = imports.job_read(config, token)
    if status is None or status.get("batch_id") != batch_id or status.get("operator_id") != actor.id:
        raise AdminError(404, "import_not_found", "找不到这次导入（可能已完成或已过期），请刷新批次页面查看。")
    state = status.get("state")
    if state == "running":
        total, done = int(status.get("total") or 0), int(status.get("done") or 0)
        return render(request, "batches/import_progress.html", {
            "batch_id": batch_id, "status": status, "phase": imports.PHASES.get(status.get("phase", ""), ""),
            "percent": int(done * 100 / total) if total and status.get("phase") == "writing" else None,
            "elapsed": int(time.time() - float(status.get("started", time.time())))})
    imports.job_discard(config, token)
    if state == "done":
        flash(request, f"已导入 {status.get('imported', 0)} 行")
        return redirect(f"/batches/{batch_id}")
    if state == "staged":
        flash(request, f"共 {status.get('lines')} 行，其中 {status.get('failed')} 行有问题，整个文件暂未导入。"
                       "请逐行修改或删除后再确认导入。", "error")
        return redirect(f"/batches/{batch_id}/imports/{status.get('staged')}")
    flash(request, str(status.get("message") or "导入未完成"), "error")
    return redirect(f"/batches/{batch_id}")


async def _staged(request: Request, actor: roles.Actor) -> tuple[int, str, str, list[rosters.RosterRow]]:
    batch_id = path_id(request, "batch_id")
    token = request.path_params["token"]
    staged = imports.load_staged(services(request).config, token, batch_id, actor.id)
    if staged is None:
        raise AdminError(404, "import_not_found", "找不到这次导入（可能已导入或已放弃），请重新上传文件。")
    return batch_id, token, staged[0], staged[1]


def _recheck(session: Any, request: Request, actor: roles.Actor, batch_id: int, rows: list[Any]) -> list[Any]:
    batch = load_batch(session, actor, batch_id, "roster.import")
    results, _ = service.check_rows(session, services(request).config, batch, rows,
                                    scope_region=roles.scope_region_for(actor))
    return results


async def staged_page(request: Request) -> Response:
    actor = await current_actor(request, "roster.import")
    batch_id, token, filename, rows = await _staged(request, actor)
    results = await services(request).db.run(lambda s: _recheck(s, request, actor, batch_id, rows))
    failing = [r for r in results if not r.ok]
    return render(request, "batches/staged.html", {
        "batch_id": batch_id, "token": token, "filename": filename, "results": results,
        "failing": failing[:500], "failed": len(failing)})


async def staged_report(request: Request) -> Response:
    actor = await current_actor(request, "roster.import")
    batch_id, _token, filename, rows = await _staged(request, actor)
    results = await services(request).db.run(lambda s: _recheck(s, request, actor, batch_id, rows))
    body = service.error_report_xlsx(results)
    return xlsx_download(body, "问题行.xlsx")


def _find_row(rows: list[Any], request: Request) -> Any:
    raw = request.path_params["line_no"]
    row = next((r for r in rows if str(r.line_no) == str(raw)), None)
    if row is None:
        raise not_found()
    return row


async def staged_line_form(request: Request) -> Response:
    actor = await current_actor(request, "roster.import")
    batch_id, token, _filename, rows = await _staged(request, actor)
    row = _find_row(rows, request)
    results = await services(request).db.run(lambda s: _recheck(s, request, actor, batch_id, rows))
    result = next(r for r in results if r.line_no == row.line_no)
    values = {c: rosters.as_text(row.raw.get(c, "")) for c in COLUMNS}
    return render(request, "batches/line_form.html", {
        "batch_id": batch_id, "values": values, "issues": result.issues,
        "action": f"/batches/{batch_id}/imports/{token}/lines/{row.line_no}", "title": f"修改文件第{row.line_no}行",
        "back": f"/batches/{batch_id}/imports/{token}"})


async def staged_line_save(request: Request) -> Response:
    actor = await current_actor(request, "roster.import")
    batch_id, token, filename, rows = await _staged(request, actor)
    row = _find_row(rows, request)
    form = await form_data(request)
    config = services(request).config
    if form.get("remove") == "yes":
        rows = [r for r in rows if r is not row]
        if not rows:
            imports.discard_staged(config, token)
            flash(request, "文件中的行已全部删除，本次导入已放弃")
            return redirect(f"/batches/{batch_id}")
        imports.stage(config, batch_id, actor.id, filename, rows, token)
        flash(request, f"已删除文件第{row.line_no}行")
        return redirect(f"/batches/{batch_id}/imports/{token}")
    row.raw = _values(form)
    fresh = [service.row_from_values(r.line_no, r.raw) for r in rows]
    imports.stage(config, batch_id, actor.id, filename, fresh, token)
    results = await services(request).db.run(lambda s: _recheck(s, request, actor, batch_id, fresh))
    result = next(r for r in results if r.line_no == row.line_no)
    if not result.ok:
        values = {c: rosters.as_text(row.raw.get(c, "")) for c in COLUMNS}
        return render(request, "batches/line_form.html", {
            "batch_id": batch_id, "values": values, "issues": result.issues, "action": request.url.path,
            "title": f"修改文件第{row.line_no}行", "back": f"/batches/{batch_id}/imports/{token}"}, status=400)
    flash(request, f"文件第{row.line_no}行已通过检查")
    return redirect(f"/batches/{batch_id}/imports/{token}")


async def staged_commit(request: Request) -> Response:
    actor = await current_actor(request, "roster.import")
    batch_id, token, filename, rows = await _staged(request, actor)
    await form_data(request)
    config = services(request).config

    def run(session: Any) -> Any:
        batch = load_batch(session, actor, batch_id, "roster.import")
        return service.import_rows(session, config, batch, rows, actor=actor.username,
                                   scope_region=roles.scope_region_for(actor), source=filename)

    with imports.import_slots.acquire(actor.id):
        outcome = await services(request).db.run(run)
    if not outcome.ok:
        flash(request, "仍有行未通过检查，整个文件暂未导入", "error")
        return redirect(f"/batches/{batch_id}/imports/{token}")
    imports.discard_staged(config, token)
    flash(request, f"已导入 {outcome.imported} 行")
    return redirect(f"/batches/{batch_id}")


async def staged_discard(request: Request) -> Response:
    actor = await current_actor(request, "roster.import")
    batch_id, token, _filename, _rows = await _staged(request, actor)
    await form_data(request)
    imports.discard_staged(services(request).config, token)
    flash(request, "已放弃本次导入")
    return redirect(f"/batches/{batch_id}")


# --- downloads --------------------------------------------------------------------------------


async def template_download(request: Request) -> Response:
    await current_actor(request)
    return Response(rosters.template_xlsx(), media_type=XLSX, headers={
        "Content-Disposition": "attachment; filename*=UTF-8''%E8%8A%B1%E5%90%8D%E5%86%8C%E6%A8%A1%E6%9D%BF.xlsx"})


async def batch_export(request: Request) -> Response:
    """The lines of a batch the operator may see, as Excel (ID and card shown by their last 4 only)."""
    actor = await current_actor(request, "line.view")
    batch_id = path_id(request, "batch_id")

    def build(session: Any) -> bytes:
        batch = load_batch(session, actor, batch_id)
        names = dict(session.execute(select(Region.code, Region.name).where(Region.level == "village")).all())
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("发放明细")
        sheet.append(xlsx_row(sheet, ["批次", batch.code, batch.title]))
        sheet.append(xlsx_row(sheet, ["序号", "姓名", "身份证后4位", "社保卡后4位", "村", "金额（元）", "状态"]))
        for line in session.execute(_line_query(actor, batch_id).order_by(PaymentLine.line_no)).scalars():
            sheet.append(xlsx_row(sheet, [line.line_no, line.person.name, line.person.id_last4,
                                          line.card_account.card_last4 if line.card_account else "",
                                          names.get(line.village_code, line.village_code), f"{line.amount:.2f}",
                                          line.state]))
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()

    body = await services(request).db.run(build)
    return Response(body, media_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename=batch-{batch_id}.xlsx", "Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [
        *route("/batches", batch_list, name="batch_list", methods=["GET"], json=True),
        Route("/batches/new", batch_new, methods=["GET"], name="batch_new"),
        Route("/batches", batch_create, methods=["POST"], name="batch_create"),
        *route("/batches/{batch_id}", batch_detail, name="batch_detail", methods=["GET"], json=True),
        Route("/batches/{batch_id}/lines.json", batch_detail, methods=["GET"], name="batch_detail_lines_json"),
        Route("/batches/{batch_id}/export.xlsx", batch_export, methods=["GET"], name="batch_export"),
        Route("/batches/{batch_id}/lines", line_add, methods=["POST"], name="line_add"),
        Route("/batches/{batch_id}/lines/delete", lines_delete, methods=["POST"], name="lines_delete"),
        Route("/batches/{batch_id}/lines/bulk", lines_bulk, methods=["POST"], name="lines_bulk"),
        Route("/batches/{batch_id}/lines/{line_id}", line_edit, methods=["GET"], name="line_edit"),
        Route("/batches/{batch_id}/lines/{line_id}", line_update, methods=["POST"], name="line_update"),
        Route("/batches/{batch_id}/import", roster_import, methods=["POST"], name="roster_import"),
        Route("/batches/{batch_id}/import-jobs/{token}", import_progress, methods=["GET"], name="import_progress"),
        Route("/batches/{batch_id}/imports/{token}", staged_page, methods=["GET"], name="staged_page"),
        Route("/batches/{batch_id}/imports/{token}/report.xlsx", staged_report, methods=["GET"], name="staged_report"),
        Route("/batches/{batch_id}/imports/{token}/commit", staged_commit, methods=["POST"], name="staged_commit"),
        Route("/batches/{batch_id}/imports/{token}/discard", staged_discard, methods=["POST"], name="staged_discard"),
        Route("/batches/{batch_id}/imports/{token}/lines/{line_no}", staged_line_form, methods=["GET"], name="staged_line_form"),
        Route("/batches/{batch_id}/imports/{token}/lines/{line_no}", staged_line_save, methods=["POST"], name="staged_line_save"),
        Route("/roster-template.xlsx", template_download, methods=["GET"], name="template_download"),
    ]


__all__ = ["batch_dict", "event_dict", "line_dict", "load_batch", "routes", "workflow_view"]
