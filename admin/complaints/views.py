"""Complaint pages (投诉举报办理): the queue, a case with its actions, due work, statistics, exports.

Every page has its JSON twin (``.json``), and everything goes through ``roles.scope_complaints``
(lists, JSON, exports, statistics, the search box) and ``roles.can`` (a case): a confidential
tip-off does not exist for anyone outside the supervision roles. The case page renders its forms
from :func:`admin.complaints.workflow.available_actions` through the shared partial
``_actions.html``; its JSON twin lists the same actions. An action is
``POST /complaints/{id}/actions/{name}`` (CSRF): the page gets a flash message and a 303, a
program asking for JSON gets the result (or ``{"error": {code, message, field}}``). Refusals of
role or scope are 403 and change nothing.

The complainant's name and phone (``contact``) appear on the case page and its JSON twin only for
the case's holder; never in a list, an export or a statistic.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any
from urllib.parse import urlencode

from openpyxl import Workbook
from sqlalchemy import Select, func, or_, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.access import roles
from admin.access.auth import current_actor
from admin.actions import WorkflowError
from admin.complaints import workflow
from admin.complaints.workflow import COMPLAINT_STATE_LABELS, OPEN_STATES
from admin.fieldcrypt import cipher
from admin.models import Complaint, ComplaintEvent, Department, Region
from admin.web import (
    PAGE_SIZE,
    AdminError,
    as_id,
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
from core.complaints import COMPLAINT_KINDS
from core.spreadsheets import xlsx_row
from core.timeutil import local
from core.workdays import add_workdays
from core.workdays import today as today_shanghai
from core.web import route

__all__ = ["case_dict", "load_case", "routes"]

EXPORT_MAX_ROWS = 50_000
STATE_FILTERS = {"open": "未办结（待受理、已受理、办理中）", **COMPLAINT_STATE_LABELS}


def load_case(session: Any, actor: roles.Actor, case_id: int) -> Complaint:
    """A case the actor may see, else 404 (a case outside the scope does not exist for them)."""
    case = session.execute(roles.scope_complaints(select(Complaint).where(Complaint.id == case_id), actor)
                           ).scalar_one_or_none()
    if case is None or not roles.can(actor, "complaint.view", case):
        raise not_found()
    return case


def _names(session: Any, cases: list[Complaint]) -> tuple[dict[int, str], dict[str, str]]:
    ids = {c.department_id for c in cases if c.department_id is not None}
    codes = {c.handling_region for c in cases if c.handling_region}
    departments = dict(session.execute(select(Department.id, Department.name).where(Department.id.in_(ids or {-1}))).all())
    regions = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(codes or {""}))).all())
    return departments, regions


def case_dict(case: Complaint, departments: dict[int, str], regions: dict[str, str],
              today: date | None = None) -> dict[str, Any]:
    """A case as lists and exports show it: never the contact, never the text as filed."""
    info = workflow.case_info(case, today)
    return {
        "id": case.id, "tracking_code": case.tracking_code, "kind": case.kind,
        "kind_label": COMPLAINT_KINDS.get(case.kind, case.kind), "subject": case.subject, "status": case.status,
        "status_label": COMPLAINT_STATE_LABELS.get(case.status, case.status), "confidential": case.confidential,
        "project_code": case.project_code, "region_code": case.region_code,
        "holder": workflow.holder_label(case, departments, regions),
        "department": departments.get(case.department_id) if case.department_id is not None else None,
        "handling_region": case.handling_region, "filed_at": case.filed_at, "answered_at": case.answered_at,
        "answer_unit": case.answer_unit, "satisfaction": case.satisfaction,
        "satisfaction_label": workflow.SATISFACTION_LABELS.get(case.satisfaction or "", ""),
        "due_on": case.due_on, "days_left": info.days_left, "overdue": info.overdue, "due_soon": info.due_soon,
        "handling_days": info.handling_days, "on_time": info.on_time,
    }


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    state, kind = q.get("state", ""), q.get("kind", "")
    department = q.get("department", "")
    return {"state": state if state in STATE_FILTERS else "", "kind": kind if kind in COMPLAINT_KINDS else "",
            "q": q.get("q", "").strip()[:40], "department": department if as_id(department) is not None else "",
            "overdue": "1" if q.get("overdue") == "1" else ""}


def _query(actor: roles.Actor, f: dict[str, Any], today: date) -> Select:
    stmt = roles.scope_complaints(select(Complaint), actor)
    if f["state"] == "open":
        stmt = stmt.where(Complaint.status.in_(OPEN_STATES))
    elif f["state"]:
        stmt = stmt.where(Complaint.status == f["state"])
    if f["kind"]:
        stmt = stmt.where(Complaint.kind == f["kind"])
    if f["q"]:
        stmt = stmt.where(or_(Complaint.tracking_code.contains(f["q"].upper()), Complaint.subject.contains(f["q"])))
    if f["department"]:
        stmt = stmt.where(Complaint.department_id == int(f["department"]), Complaint.confidential.is_(False))
    if f["overdue"]:
        stmt = stmt.where(Complaint.status.in_(OPEN_STATES), Complaint.due_on < today)
    return stmt


def _departments(session: Any, actor: roles.Actor) -> list[Department]:
    stmt = select(Department).where(roles.overlaps_clause(Department.region_code, actor.region_code))
    if actor.is_department:
        stmt = stmt.where(Department.id == (actor.department_id or -1))
    return list(session.scalars(stmt.order_by(Department.code)))


async def complaint_list(request: Request) -> Response:
    actor = await current_actor(request, "complaint.view")
    page = page_number(request)
    f = _filters(request)
    today = today_shanghai()

    def load(session: Any) -> dict[str, Any]:
        stmt = _query(actor, f, today)
        total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        cases = list(session.scalars(stmt.order_by(Complaint.due_on, Complaint.id)
                                     .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
        departments, regions = _names(session, cases)
        return {"total": total, "cases": [case_dict(c, departments, regions, today) for c in cases],
                "departments": _departments(session, actor)}

    data = await services(request).db.run(load)
    if wants_json(request):
        return json_response({"total": data["total"], "page": page, "page_size": PAGE_SIZE, "filters": f,
                              "complaints": data["cases"]})
    query = urlencode(f) + "&"
    return render(request, "complaints/complaints.html", {
        **data, "f": f, "page": page, "pages": max(1, -(-data["total"] // PAGE_SIZE)), "query": query,
        "states": STATE_FILTERS, "kinds": COMPLAINT_KINDS, "export_query": urlencode(f)})


async def complaint_export(request: Request) -> Response:
    """The filtered queue as Excel (scoped like the page; no contact, no text as filed)."""
    actor = await current_actor(request, "complaint.view")
    f = _filters(request)
    today = today_shanghai()

    def build(session: Any) -> bytes:
        cases = list(session.scalars(_query(actor, f, today).order_by(Complaint.due_on, Complaint.id)
                                     .limit(EXPORT_MAX_ROWS)))
        departments, regions = _names(session, cases)
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("投诉举报")
        sheet.append(xlsx_row(sheet, ["查询码", "类型", "标题", "状态", "办理单位", "区划", "提交时间", "答复期限",
                                      "剩余工作日", "是否超期", "答复时间", "答复单位", "反映人评价"]))
        for case in cases:
            d = case_dict(case, departments, regions, today)
            sheet.append(xlsx_row(sheet, [
                d["tracking_code"], d["kind_label"], d["subject"], d["status_label"], d["holder"],
                d["region_code"] or "", local(case.filed_at).strftime("%Y-%m-%d %H:%M"), case.due_on,
                d["days_left"], "是" if d["overdue"] else "否",
                local(case.answered_at).strftime("%Y-%m-%d %H:%M") if case.answered_at else "", d["answer_unit"],
                d["satisfaction_label"]]))
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()

    body = await services(request).db.run(build)
    return xlsx_download(body, "投诉举报.xlsx")


def _event_dict(event: ComplaintEvent, departments: dict[int, str]) -> dict[str, Any]:
    return {"id": event.id, "action": event.action, "action_label": workflow.ACTION_LABELS.get(event.action, event.action),
            "from_state": event.from_state, "to_state": event.to_state,
            "to_state_label": COMPLAINT_STATE_LABELS.get(event.to_state, event.to_state), "actor": event.actor,
            "at": event.at, "comment": event.comment,
            "department": departments.get(event.department_id) if event.department_id is not None else None,
            "handling_region": event.handling_region, "due_on": event.due_on}


async def complaint_detail(request: Request) -> Response:
    actor = await current_actor(request, "complaint.view")
    case_id = path_id(request, "case_id")
    config = services(request).config
    today = today_shanghai()

    def load(session: Any) -> dict[str, Any]:
        case = load_case(session, actor, case_id)
        events = list(session.scalars(select(ComplaintEvent).where(ComplaintEvent.complaint_id == case.id)
                                      .order_by(ComplaintEvent.id)))
        departments, regions = _names(session, [case])
        ids = {e.department_id for e in events if e.department_id is not None}
        departments.update(session.execute(select(Department.id, Department.name)
                                           .where(Department.id.in_(ids or {-1}))).all())
        actions = workflow.available_actions(session, actor, case, today=today, limits=workflow.Limits.of(config))
        out = case_dict(case, departments, regions, today)
        out["text"] = case.text
        out["answer"] = case.answer
        out["real_name"] = case.real_name
        out["satisfaction_comment"] = case.satisfaction_comment
        if workflow.can_see_contact(actor, case) and case.contact_enc:
            out["contact"] = cipher(config.field_key).decrypt(case.contact_enc)
        return {"case": out, "events": [_event_dict(e, departments) for e in events],
                "actions": [a.as_dict() for a in actions]}

    data = await services(request).db.run(load)
    if wants_json(request):
        return json_response({"complaint": data["case"], "events": data["events"], "actions": data["actions"]})
    return render(request, "complaints/complaint.html", data)


async def complaint_action(request: Request) -> Response:
    actor = await current_actor(request, "complaint.view")
    case_id = path_id(request, "case_id")
    name = request.path_params["name"]
    form = await form_data(request)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    limits = workflow.Limits.of(services(request).config)
    today = today_shanghai()

    def run(session: Any) -> workflow.ActionResult:
        return workflow.perform(session, actor, case_id, name, values, today, limits)

    try:
        result = await services(request).db.run(run)
    except WorkflowError as error:
        return refused(request, error.status, error.as_dict(), f"/complaints/{case_id}")
    if wants_json(request):
        return json_response(result.as_dict())
    flash(request, result.message)
    return redirect(f"/complaints/{case_id}")


async def complaint_due(request: Request) -> Response:
    """Overdue and soon-due cases in scope, per holding unit (department, level, supervision)."""
    actor = await current_actor(request, "complaint.view")
    today = today_shanghai()
    items = await services(request).db.run(lambda s: workflow.due_cases(s, actor, today))
    groups: dict[str, list[workflow.DueCase]] = {}
    for item in items:
        groups.setdefault(item.holder, []).append(item)
    if wants_json(request):
        return json_response({"today": today, "within": workflow.DUE_WITHIN,
                              "units": [{"unit": unit, "complaints": [c.as_dict() for c in cases]}
                                        for unit, cases in groups.items()]})
    return render(request, "complaints/due.html", {"groups": groups, "today": today, "within": workflow.DUE_WITHIN,
                                                   "soon_until": add_workdays(today, workflow.DUE_WITHIN)})


def _year(request: Request) -> int | None:
    raw = request.query_params.get("year", "").strip()
    if not raw:
        return None
    if as_id(raw) is None or not 2000 <= int(raw) <= 2100:
        raise AdminError(400, "bad_year", "年度应为 2000 至 2100 之间的四位数字。")
    return int(raw)


STAT_HEADER = ["办理单位", "类型", "收到件数", "已办结件数", "按期答复件数", "按期答复率", "平均办理工作日",
               "最长办理工作日", "未办结件数", "其中已超期", "满意", "不满意"]


def _stat_cells(row: dict[str, Any]) -> list[Any]:
    rate = row["on_time_rate"]
    return [row["unit"], row["kind_label"], row["received"], row["finished"], row["on_time"],
            f"{rate * 100:.1f}%" if rate is not None else "", row["average_days"], row["max_days"], row["open"],
            row["overdue_open"], row["satisfied"], row["dissatisfied"]]


async def complaint_statistics(request: Request) -> Response:
    """Handling time and on-time rate per unit and kind (page, ``.json``, ``.xlsx``)."""
    actor = await current_actor(request, "complaint.view")
    year = _year(request)
    rows = [r.as_dict() for r in await services(request).db.run(
        lambda s: workflow.statistics(s, actor, year=year))]
    if request.url.path.endswith(".xlsx"):
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("投诉举报办理统计")
        sheet.append(xlsx_row(sheet, [f"投诉举报办理统计（{year}年）" if year else "投诉举报办理统计（全部年度）"]))
        sheet.append(xlsx_row(sheet, STAT_HEADER))
        for row in rows:
            sheet.append(xlsx_row(sheet, _stat_cells(row)))
        out = io.BytesIO()
        workbook.save(out)
        return xlsx_download(out.getvalue(), "投诉举报统计.xlsx")
    if wants_json(request):
        return json_response({"year": year, "rows": rows})
    return render(request, "complaints/statistics.html", {"rows": rows, "year": year or "", "header": STAT_HEADER,
                                                          "cells": [_stat_cells(r) for r in rows]})


def routes() -> list[BaseRoute]:
    return [
        *route("/complaints", complaint_list, name="complaint_list", methods=["GET"], json=True),
        Route("/complaints/export.xlsx", complaint_export, methods=["GET"], name="complaint_export"),
        *route("/complaints/due", complaint_due, name="complaint_due", methods=["GET"], json=True),
        *route("/complaints/statistics", complaint_statistics, name="complaint_statistics", methods=["GET"], json=True),
        Route("/complaints/statistics.xlsx", complaint_statistics, methods=["GET"], name="complaint_statistics_xlsx"),
        *route("/complaints/{case_id}", complaint_detail, name="complaint_detail", methods=["GET"], json=True),
        Route("/complaints/{case_id}/actions/{name}", complaint_action, methods=["POST"], name="complaint_action"),
    ]
