"""Spot-check pages (抽查与整改): the list with the ``draw`` action, one spot check with its sample,
findings and actions, the rectification list per responsible unit, and its Excel export.

Every page has its JSON twin (``.json``). The spot check's page renders its forms from
:func:`admin.supervision.spot_checks.actions_for` through ``_actions.html``; the JSON twin lists
the same actions. An action is ``POST /spot-checks/{id}/actions/{name}`` (``/spot-checks/actions/draw``
for a draw), CSRF-checked: the page gets a flash message and a 303, a program asking for JSON the
result (or ``{"error": {code, message, field}}``). Refusals of role or scope are 403 and change
nothing. A responsible unit sees only its own findings (and the lines they are about).
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.access.auth import current_actor
from admin.access.roles import SUPERVISION_ROLES
from admin.actions import WorkflowError
from admin.models import Batch, PaymentLine, Person, SpotCheck, SpotCheckEvent, SpotCheckLine, SpotFinding
from admin.supervision import spot_checks
from admin.supervision.spot_checks import CATEGORIES, FINDING_FILTERS, RESULTS, STATUS_LABELS
from admin.web import (
    AdminError,
    business_day,
    flash,
    form_data,
    json_response,
    not_found,
    path_id,
    redirect,
    refused,
    render,
    services,
    wants_json,
    xlsx_download,
)
from core.spreadsheets import xlsx_row
from core.web import route

__all__ = ["routes"]

LIST_LIMIT = 200


def _scope_dict(spot: SpotCheck) -> dict[str, Any]:
    return {"batch_id": spot.batch_id, "batch_code": spot.batch.code if spot.batch else None,
            "region_code": spot.region_code, "project_code": spot.project.code if spot.project else None,
            "project_name": spot.project.name if spot.project else None, "year": spot.year, "period": spot.period}


def _spot_dict(spot: SpotCheck) -> dict[str, Any]:
    return {"id": spot.id, "title": spot.title, "scope": _scope_dict(spot), "seed": spot.seed,
            "sample_size": spot.sample_size, "rate": spot.rate, "population_size": spot.population_size,
            "population_digest": spot.population_digest, "drawn_by": spot.drawn_by, "drawn_at": spot.drawn_at}


def _finding_dict(f: SpotFinding, units: tuple[dict[int, str], dict[str, str]]) -> dict[str, Any]:
    return {"id": f.id, "line_id": f.line_id, "result": f.result, "result_label": RESULTS[f.result],
            "category": f.category, "category_label": CATEGORIES.get(f.category or "", ""),
            "description": f.description, "unit": spot_checks.unit_label(f, *units),
            "department_id": f.department_id, "responsible_region": f.responsible_region, "status": f.status,
            "status_label": STATUS_LABELS.get(f.status, f.status), "due_on": f.due_on, "recorded_by": f.recorded_by,
            "recorded_on": f.recorded_on, "rectification": f.rectification, "reported_by": f.reported_by,
            "reported_on": f.reported_on, "closed_by": f.closed_by, "closed_on": f.closed_on}


def _lines(session: Any, actor: Any, spot: SpotCheck, today: Any) -> list[dict[str, Any]]:
    """The sample in draw order with each line's finding (a responsible unit: only its own)."""
    findings = {f.line_id: f for f in session.scalars(select(SpotFinding).where(SpotFinding.spot_check_id == spot.id))}
    units = spot_checks.unit_names(session, list(findings.values()))
    rows = session.execute(select(SpotCheckLine.position, PaymentLine, Batch.code, Person.name, Person.id_last4)
                           .join(PaymentLine, PaymentLine.id == SpotCheckLine.line_id)
                           .join(Batch, Batch.id == PaymentLine.batch_id).join(Person, Person.id == PaymentLine.person_id)
                           .where(SpotCheckLine.spot_check_id == spot.id).order_by(SpotCheckLine.position))
    out = []
    for position, line, batch_code, name, last4 in rows:
        finding = findings.get(line.id)
        if actor.role not in SUPERVISION_ROLES and (finding is None
                                                    or not spot_checks.finding_visible(actor, spot, finding)):
            continue
        fd = _finding_dict(finding, units) if finding is not None else None
        if fd is not None and finding.status == "open" and finding.due_on is not None:
            fd["overdue"] = today > finding.due_on
        out.append({"position": position, "line_id": line.id, "batch_code": batch_code, "line_no": line.line_no,
                    "name": name, "id_last4": last4, "village_code": line.village_code, "amount": line.amount,
                    "line_state": line.state, "finding": fd})
    return out


async def spot_check_list(request: Request) -> Response:
    actor = await current_actor(request, "spot_check.view")
    today = business_day(request)

    def load(session: Any) -> dict[str, Any]:
        spots = list(session.scalars(spot_checks.visible_spot_checks(select(SpotCheck), actor)
                                     .order_by(SpotCheck.id.desc()).limit(LIST_LIMIT)))
        by_spot: dict[int, list[SpotFinding]] = {}
        for f in session.scalars(select(SpotFinding).where(SpotFinding.spot_check_id.in_([s.id for s in spots] or [-1]))
                                 .order_by(SpotFinding.id)):
            by_spot.setdefault(f.spot_check_id, []).append(f)
        units = spot_checks.unit_names(session, [f for fs in by_spot.values() for f in fs])
        items = []
        for spot in spots:
            findings = [_finding_dict(f, units) for f in by_spot.get(spot.id, [])
                        if spot_checks.finding_visible(actor, spot, f)]
            items.append({**_spot_dict(spot), "line_ids": spot_checks.sampled_ids(session, spot.id)
                          if actor.role in SUPERVISION_ROLES else [f["line_id"] for f in findings],
                          "findings": findings,
                          "problems": sum(f["result"] == "problem" for f in findings),
                          "unfinished": sum(f["status"] in ("open", "reported") for f in findings)})
        actions = spot_checks.actions_for(session, actor, None, today=today)
        return {"spot_checks": items, "actions": [a.as_dict() for a in actions]}

    data = await services(request).db.run(load)
    if wants_json(request):
        return json_response(data)
    return render(request, "supervision/spot_checks.html", data)


async def spot_check_detail(request: Request) -> Response:
    actor = await current_actor(request, "spot_check.view")
    spot_id = path_id(request, "spot_id")
    today = business_day(request)

    def load(session: Any) -> dict[str, Any]:
        spot = spot_checks.load_spot_check(session, actor, spot_id)
        if spot is None:
            raise not_found()
        lines = _lines(session, actor, spot, today)
        shown = {line["finding"]["id"] for line in lines if line["finding"]}
        events = [{"at": e.at, "action": e.action, "action_label": spot_checks.ACTION_LABELS.get(e.action, e.action),
                   "finding_id": e.finding_id, "from_status": e.from_status, "to_status": e.to_status,
                   "to_status_label": STATUS_LABELS.get(e.to_status or "", ""), "actor": e.actor,
                   "comment": e.comment, "due_on": e.due_on}
                  for e in session.scalars(select(SpotCheckEvent).where(SpotCheckEvent.spot_check_id == spot.id)
                                           .order_by(SpotCheckEvent.id))
                  if actor.role in SUPERVISION_ROLES or e.finding_id in shown]
        actions = spot_checks.actions_for(session, actor, spot, today=today)
        return {"spot_check": _spot_dict(spot), "lines": lines, "events": events,
                "actions": [a.as_dict() for a in actions], "today": today}

    data = await services(request).db.run(load)
    if wants_json(request):
        return json_response({k: v for k, v in data.items() if k != "today"})
    return render(request, "supervision/spot_check.html", data)


async def _act(request: Request, spot_id: int | None, name: str) -> Response:
    actor = await current_actor(request, "spot_check.view")
    form = await form_data(request)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    today = business_day(request)

    def run(session: Any) -> spot_checks.ActionResult:
        return spot_checks.perform(session, actor, spot_id, name, values, today)

    back = f"/spot-checks/{spot_id}" if spot_id is not None else "/spot-checks"
    try:
        result = await services(request).db.run(run)
    except WorkflowError as error:
        return refused(request, error.status, error.as_dict(), back)
    if wants_json(request):
        return json_response(result.as_dict())
    flash(request, result.message)
    return redirect(f"/spot-checks/{result.spot_check_id}")


async def spot_check_draw(request: Request) -> Response:
    return await _act(request, None, "draw")


async def spot_check_action(request: Request) -> Response:
    return await _act(request, path_id(request, "spot_id"), request.path_params["name"])


def _status(request: Request) -> str:
    status = request.query_params.get("status", "unfinished")
    if status not in FINDING_FILTERS:
        raise AdminError(400, "bad_status", "整改状态筛选无效。")
    return status


async def finding_list(request: Request) -> Response:
    """Rectifications per responsible unit with due dates and overdue flags (page, ``.json``)."""
    actor = await current_actor(request, "spot_check.view")
    status = _status(request)
    today = business_day(request)
    rows = await services(request).db.run(lambda s: spot_checks.finding_rows(s, actor, status=status, today=today))
    groups: dict[str, list[spot_checks.FindingRow]] = {}
    for row in rows:
        groups.setdefault(row.unit, []).append(row)
    if wants_json(request):
        return json_response({"status": status, "today": today,
                              "units": [{"unit": unit, "overdue": sum(r.overdue for r in items),
                                         "findings": [r.as_dict() for r in items]} for unit, items in groups.items()]})
    return render(request, "supervision/spot_check_findings.html", {"groups": groups, "status": status,
                                                                    "filters": FINDING_FILTERS, "today": today})


EXPORT_HEADER = ["抽查", "发放明细", "村（社区）", "金额（元）", "问题类型", "问题描述", "整改责任单位", "状态", "登记日期",
                 "整改期限", "剩余工作日", "是否超期", "整改情况", "报告日期", "销号日期"]


async def finding_export(request: Request) -> Response:
    """The rectification list as Excel (same scope and filter as the page; no ID or card numbers)."""
    actor = await current_actor(request, "spot_check.view")
    status = _status(request)
    today = business_day(request)
    rows = await services(request).db.run(lambda s: spot_checks.finding_rows(s, actor, status=status, today=today))
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("抽查问题整改")
    sheet.append(xlsx_row(sheet, [f"抽查问题整改情况（{FINDING_FILTERS[status]}，{today:%Y-%m-%d}）"]))
    sheet.append(xlsx_row(sheet, EXPORT_HEADER))
    for r in rows:
        sheet.append(xlsx_row(sheet, [r.spot_check_title, r.line_label, r.village_code, r.amount, r.category_label,
                                      r.description, r.unit, r.status_label, r.recorded_on, r.due_on, r.days_left,
                                      "是" if r.overdue else "否", r.rectification, r.reported_on, r.closed_on]))
    out = io.BytesIO()
    workbook.save(out)
    return xlsx_download(out.getvalue(), "抽查问题整改.xlsx")


def routes() -> list[BaseRoute]:
    return [
        *route("/spot-checks", spot_check_list, name="spot_check_list", methods=["GET"], json=True),
        Route("/spot-checks/actions/draw", spot_check_draw, methods=["POST"], name="spot_check_draw"),
        *route("/spot-checks/{spot_id}", spot_check_detail, name="spot_check_detail", methods=["GET"], json=True),
        Route("/spot-checks/{spot_id}/actions/{name}", spot_check_action, methods=["POST"], name="spot_check_action"),
        *route("/findings", finding_list, name="finding_list", methods=["GET"], json=True),
        Route("/findings.xlsx", finding_export, methods=["GET"], name="finding_export"),
    ]
