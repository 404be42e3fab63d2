"""Signal pages (异常信号): the list, a signal with its lines and review actions, the Excel export.

Every page has its JSON twin. Everything goes through :func:`signals.scope_signals` (a signal
exists for an operator only if one of its lines is in the operator's line scope) and the detail
shows only the lines in that scope. Review actions (explain / confirm / reopen, a note required)
are listed in ``actions`` for the supervision roles only; ``POST /signals/{id}/actions/{name}``
answers a refused action with 403/404/409 and changes nothing. ``POST /signals/refresh`` (the
list page's ``actions``) recomputes every signal for auditors, supervisors and system admins.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from openpyxl import Workbook
from sqlalchemy import Select, func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.access import roles
from admin.access.auth import current_actor
from admin.actions import Action, WorkflowError
from admin.models import Batch, PaymentLine, Person, Project, Region, Signal, SignalLine, SignalReview
from admin.supervision import signals
from admin.supervision.signals import KINDS, STATUS_LABELS
from admin.web import (
    PAGE_SIZE,
    AdminError,
    flash,
    form_data,
    json_response,
    not_found,
    page_number,
    path_id,
    redirect,
    refused,
    render,
    services,
    wants_json,
    xlsx_download,
)
from core.spreadsheets import xlsx_row
from core.timeutil import local
from core.web import route

__all__ = ["routes"]

STATUS_FILTERS = {**STATUS_LABELS, "cleared": "已消除（条件不再成立）"}
LIST_LINES = 20  # lines shown per signal in the list (the detail shows all in scope)
EXPORT_MAX_ROWS = 50_000


def _filters(request: Request) -> dict[str, str]:
    q = request.query_params
    kind, status = q.get("kind", ""), q.get("status", "")
    if kind and kind not in KINDS:
        raise AdminError(400, "bad_kind", "信号类型无效，可选：" + "、".join(
            f"{key}（{label}）" for key, label in KINDS.items()) + "。")
    if status and status not in STATUS_FILTERS:
        raise AdminError(400, "bad_status", "信号状态无效，可选：" + "、".join(
            f"{key}（{label}）" for key, label in STATUS_FILTERS.items()) + "。")
    return {"kind": kind, "status": status}


def _query(actor: roles.Actor, f: dict[str, str]) -> Select:
    stmt = signals.scope_signals(select(Signal), actor)
    if f["kind"]:
        stmt = stmt.where(Signal.kind == f["kind"])
    if f["status"] == "cleared":
        stmt = stmt.where(Signal.active.is_(False))
    else:
        stmt = stmt.where(Signal.active.is_(True))
        if f["status"]:
            stmt = stmt.where(Signal.status == f["status"])
    return stmt


def _lines(session: Any, actor: roles.Actor, signal_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The lines behind the signals, as far as the actor may see them."""
    stmt = roles.scope_lines(
        select(SignalLine.signal_id, PaymentLine.id, Batch.id, Batch.code, PaymentLine.line_no, PaymentLine.village_code,
               Region.name, Person.name, PaymentLine.amount, PaymentLine.state, PaymentLine.paid_on)
        .join(PaymentLine, SignalLine.line_id == PaymentLine.id).join(Batch, PaymentLine.batch_id == Batch.id)
        .join(Person, PaymentLine.person_id == Person.id)
        .outerjoin(Region, Region.code == PaymentLine.village_code)
        .where(SignalLine.signal_id.in_(list(signal_ids) or [-1])), actor).order_by(Batch.code, PaymentLine.line_no)
    out: dict[int, list[dict[str, Any]]] = {}
    for sid, line_id, batch_id, code, line_no, village, village_name, name, amount, state, paid_on in session.execute(stmt):
        out.setdefault(sid, []).append({
            "id": line_id, "batch_id": batch_id, "batch_code": code, "line_no": line_no, "village_code": village,
            "village": village_name or village, "name": name, "amount": amount, "state": state, "paid_on": paid_on})
    return out


def signal_dict(signal: Signal, projects: dict[int, str]) -> dict[str, Any]:
    return {"id": signal.id, "kind": signal.kind, "kind_label": KINDS.get(signal.kind, signal.kind),
            "status": signal.status, "status_label": STATUS_LABELS.get(signal.status, signal.status),
            "active": signal.active, "summary": signal.summary, "region_code": signal.region_code,
            "project_id": signal.project_id, "project": projects.get(signal.project_id or -1), "period": signal.period,
            "line_count": signal.line_count, "total": signal.total, "first_seen_at": signal.first_seen_at,
            "last_seen_at": signal.last_seen_at, "cleared_at": signal.cleared_at, "reviewed_by": signal.reviewed_by,
            "reviewed_at": signal.reviewed_at, "review_note": signal.review_note}


def _projects(session: Any, items: Sequence[Signal]) -> dict[int, str]:
    ids = {s.project_id for s in items if s.project_id is not None}
    return dict(session.execute(select(Project.id, Project.name).where(Project.id.in_(ids or {-1}))).all())


def _page_actions(actor: roles.Actor) -> list[Action]:
    if not roles.allowed(actor, "signal.refresh"):
        return []
    return [Action("refresh", signals.ACTION_LABELS["refresh"], "/signals/refresh")]


async def signal_list(request: Request) -> Response:
    actor = await current_actor(request, "signal.view")
    page = page_number(request)
    f = _filters(request)

    def load(session: Any) -> dict[str, Any]:
        stmt = _query(actor, f)
        total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        items = list(session.scalars(stmt.order_by(Signal.last_seen_at.desc(), Signal.id.desc())
                                     .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
        lines = _lines(session, actor, [s.id for s in items])
        projects = _projects(session, items)
        return {"total": total, "signals": [{**signal_dict(s, projects), "lines": lines.get(s.id, [])[:LIST_LINES]}
                                            for s in items]}

    data = await services(request).db.run(load)
    actions = [a.as_dict() for a in _page_actions(actor)]
    if wants_json(request):
        return json_response({"total": data["total"], "page": page, "page_size": PAGE_SIZE, "filters": f,
                              "signals": data["signals"], "actions": actions})
    return render(request, "supervision/signals.html", {
        **data, "f": f, "page": page, "pages": max(1, -(-data["total"] // PAGE_SIZE)), "query": urlencode(f) + "&",
        "kinds": KINDS, "statuses": STATUS_FILTERS, "actions": actions, "export_query": urlencode(f)})


async def signal_export(request: Request) -> Response:
    """The filtered list as Excel, one row per line in scope (names as on the admin pages; no ID or
    card numbers)."""
    actor = await current_actor(request, "signal.view")
    f = _filters(request)

    def build(session: Any) -> bytes:
        items = list(session.scalars(_query(actor, f).order_by(Signal.id).limit(EXPORT_MAX_ROWS)))
        projects = _projects(session, items)
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("异常信号")
        sheet.append(xlsx_row(sheet, ["信号编号", "类型", "状态", "说明", "项目", "期次", "批次", "行号", "村", "姓名",
                                      "金额", "明细状态", "核实人", "核实说明"]))
        rows = 0
        for chunk_start in range(0, len(items), 500):
            chunk = items[chunk_start:chunk_start + 500]
            lines = _lines(session, actor, [s.id for s in chunk])
            for signal in chunk:
                d = signal_dict(signal, projects)
                for line in lines.get(signal.id, []):
                    if rows >= EXPORT_MAX_ROWS:
                        break
                    rows += 1
                    sheet.append(xlsx_row(sheet, [
                        signal.id, d["kind_label"], d["status_label"] if signal.active else "已消除", signal.summary,
                        d["project"] or "", signal.period, line["batch_code"], line["line_no"], line["village"],
                        line["name"], line["amount"], line["state"], signal.reviewed_by or "", signal.review_note]))
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()

    body = await services(request).db.run(build)
    return xlsx_download(body, "异常信号.xlsx")


async def signal_refresh(request: Request) -> Response:
    actor = await current_actor(request, "signal.refresh")
    await form_data(request)
    config = services(request).config
    report = await services(request).db.run(lambda s: signals.refresh(s, config, actor=actor.username))
    if wants_json(request):
        return json_response(report.as_dict())
    active = sum(report.found.values())
    flash(request, f"已重新计算：当前 {active} 条信号，新增 {report.created} 条，消除 {report.cleared} 条")
    return redirect("/signals")


def _load(session: Any, actor: roles.Actor, signal_id: int) -> Signal:
    signal = session.execute(signals.scope_signals(select(Signal).where(Signal.id == signal_id), actor)
                             ).scalar_one_or_none()
    if signal is None:
        raise not_found()
    return signal


async def signal_detail(request: Request) -> Response:
    actor = await current_actor(request, "signal.view")
    signal_id = path_id(request, "signal_id")

    def load(session: Any) -> dict[str, Any]:
        signal = _load(session, actor, signal_id)
        reviews = list(session.scalars(select(SignalReview).where(SignalReview.signal_id == signal.id)
                                       .order_by(SignalReview.id)))
        out = signal_dict(signal, _projects(session, [signal]))
        out["details"] = {k: v for k, v in (signal.details or {}).items() if k != "persons"}
        return {"signal": out, "lines": _lines(session, actor, [signal.id]).get(signal.id, []),
                "reviews": [{"action": r.action, "action_label": signals.ACTION_LABELS.get(r.action, r.action),
                             "from_status": r.from_status, "to_status": r.to_status,
                             "to_status_label": STATUS_LABELS.get(r.to_status, r.to_status),
                             "actor": r.actor, "at": r.at, "note": r.note} for r in reviews],
                "actions": [a.as_dict() for a in signals.available_actions(actor, signal)]}

    data = await services(request).db.run(load)
    if wants_json(request):
        return json_response(data)
    return render(request, "supervision/signal.html", {**data, "local": local})


async def signal_action(request: Request) -> Response:
    actor = await current_actor(request, "signal.view")
    signal_id = path_id(request, "signal_id")
    name = request.path_params["name"]
    form = await form_data(request)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        signal = await services(request).db.run(lambda s: signals.perform(s, actor, signal_id, name, values))
    except WorkflowError as error:
        return refused(request, error.status, error.as_dict(), f"/signals/{signal_id}")
    message = f"已标记为“{STATUS_LABELS[signal.status]}”"
    if wants_json(request):
        return json_response({"id": signal.id, "status": signal.status, "message": message})
    flash(request, message)
    return redirect(f"/signals/{signal_id}")


def routes() -> list[BaseRoute]:
    return [
        *route("/signals", signal_list, name="signal_list", methods=["GET"], json=True),
        Route("/signals/export.xlsx", signal_export, methods=["GET"], name="signal_export"),
        Route("/signals/refresh", signal_refresh, methods=["POST"], name="signal_refresh"),
        *route("/signals/{signal_id}", signal_detail, name="signal_detail", methods=["GET"], json=True),
        Route("/signals/{signal_id}/actions/{name}", signal_action, methods=["POST"], name="signal_action"),
    ]
