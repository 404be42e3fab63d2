"""Supervision report pages (监督：统计报表), each with its JSON twin and an Excel export.

``/reports`` (the index), ``/reports/timeliness``, ``/reports/banks``, ``/reports/evaluation``,
``/reports/complaints``; ``.json`` twins (same figures) and ``.xlsx`` exports (the same rows, every
cell a value, text never a formula: :func:`core.spreadsheets.xlsx_row`; each sheet also carries
an Excel bar chart over its value cells). Charts on the pages are drawn on the server
(:func:`core.charts.bar_chart`, ``core/templates/_bar_chart.html``): no JavaScript.

Query parameters: ``period`` (``2025``, ``2025H1``, ``2025H2``), or ``start`` and ``end`` (ISO
dates); ``region`` (inside the operator's region: else 403); ``department`` (an id; department
roles always get their own). Bad input: 400 with a Chinese message and a stable code
(``bad_period``, ``bad_date``, ``bad_region``, ``bad_department``). Read-only pages: no actions.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any
from urllib.parse import urlencode

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.access.auth import current_actor
from admin.access.roles import Actor
from admin.supervision import reports
from admin.supervision.reports import REPORT_PERMISSION, Filters, ReportError
from admin.web import AdminError, as_id, business_day, forbidden, json_response, render, services, wants_json, xlsx_download
from core.charts import bar_chart, percent_text
from core.deadlines import DEFAULT_RULES
from core.spreadsheets import xlsx_row
from core.web import route

__all__ = ["routes"]

REPORTS = (
    ("timeliness", "各环节办理时效（按主管部门）"),
    ("banks", "代发银行发放失败率与到账时间"),
    ("evaluation", "主管部门半年评价"),
    ("complaints", "投诉举报（按项目、地区）"),
)
TITLES = dict(REPORTS)


def _rate_text(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


async def _context(request: Request, *, half_only: bool = False) -> tuple[Actor, Filters, date, dict[str, Any]]:
    """The operator (403 unless ``report.view``), the filters in their scope, the business day and
    what every page shows in its filter form."""
    actor = await current_actor(request, REPORT_PERMISSION)
    today = business_day(request)
    params = request.query_params
    try:
        if half_only:
            raw = params.get("period", "").strip() or reports.half_of(today).key
            period = reports.parse_period(raw, None, None, today)
            if period.half is None:
                raise ReportError("bad_period", "半年评价请选择上半年或下半年（如 2025H1、2025H2）。")
        else:
            period = reports.parse_period(params.get("period"), params.get("start"), params.get("end"), today)
        raw_department = params.get("department", "").strip()
        department_id = as_id(raw_department) if raw_department else None
        if raw_department and department_id is None:
            raise ReportError("bad_department", "主管部门应为列表中的一项。")
        f = reports.make_filters(actor, period, params.get("region"), department_id)
    except ReportError as error:
        raise AdminError(400, error.code, error.message) from None
    except PermissionError:
        raise forbidden() from None
    departments = await services(request).db.run(lambda s: reports.departments_in_scope(s, actor))
    if f.department_id is not None and not actor.is_department and f.department_id not in {d.id for d in departments}:
        raise AdminError(400, "bad_department", "主管部门应为列表中的一项。")
    ranged = bool(params.get("start"))
    query = {k: v for k, v in (("period", "" if ranged else period.key), ("start", params.get("start", "")),
                               ("end", params.get("end", "")), ("region", params.get("region", "")),
                               ("department", raw_department if not actor.is_department else "")) if v}
    # the evaluation takes a half-year: the one the period ends in (or today's, if that is earlier)
    half = period if period.half else reports.half_of(min(period.end, today))
    evaluation_query = {**{k: v for k, v in query.items() if k not in ("start", "end")}, "period": half.key}
    queries = {n: urlencode(evaluation_query if n == "evaluation" else query) for n, _t in REPORTS}
    names = {d.id: d.name for d in departments}
    form = {"period": period, "filters": f, "department_name": names.get(f.department_id or -1, ""),
            "departments": [{"id": d.id, "name": d.name} for d in departments],
            "half_years": reports.half_year_options(today), "query": urlencode(query), "queries": queries,
            "today": today, "is_department": actor.is_department, "start": params.get("start", ""),
            "end": params.get("end", ""), "region": params.get("region", "")}
    return actor, f, today, form


def _xlsx(title: str, form: dict[str, Any], header: Sequence[str], rows: Sequence[Sequence[Any]], *,
          chart_column: int | None = None, chart_rows: int | None = None, chart_title: str = "",
          notes: Sequence[str] = ()) -> Response:
    """One sheet: title, filters, header, rows (values, never formulas), notes, and a bar chart over
    ``chart_column`` (1-based) when given."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    sheet.append(xlsx_row(sheet, [title]))
    f: Filters = form["filters"]
    sheet.append(xlsx_row(sheet, ["统计期间", f.period.label, "区划", f.region, "主管部门",
                                  form["department_name"] or "全部"]))
    sheet.append(xlsx_row(sheet, list(header)))
    for row in rows:
        sheet.append(xlsx_row(sheet, list(row)))
    for note in notes:
        sheet.append(xlsx_row(sheet, [note]))
    charted = len(rows) if chart_rows is None else chart_rows
    if chart_column is not None and charted:
        chart = BarChart()
        chart.type, chart.title = "bar", chart_title
        first, last = 4, 3 + charted
        chart.add_data(Reference(sheet, min_col=chart_column, min_row=3, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=1, min_row=first, max_row=last))
        sheet.add_chart(chart, f"{chr(ord('A') + len(header) + 1)}3")
    out = io.BytesIO()
    workbook.save(out)
    return xlsx_download(out.getvalue(), title + ".xlsx")


def _respond(request: Request, name: str, data: dict[str, Any], form: dict[str, Any], page: dict[str, Any],
             xlsx: Callable[[], Response]) -> Response:
    path = request.url.path
    if path.endswith(".xlsx"):
        return xlsx()
    if wants_json(request):
        return json_response({"report": name, "title": TITLES[name], "filters": form["filters"].as_dict(),
                              "actions": [], **data})
    return render(request, "supervision/report_page.html", {"name": name, "title": TITLES[name], "reports": REPORTS,
                                                             **form, **page})


# --- the index ---------------------------------------------------------------------------------


async def report_index(request: Request) -> Response:
    actor, f, _today, form = await _context(request)
    links = [{"name": n, "title": t, "url": f"/reports/{n}", "json": f"/reports/{n}.json",
              "xlsx": f"/reports/{n}.xlsx", "query": form["queries"][n]} for n, t in REPORTS]
    if wants_json(request):
        return json_response({"reports": links, "filters": f.as_dict(), "actions": []})
    return render(request, "supervision/report_index.html", {"links": links, "reports": REPORTS, **form})


# --- 1. timeliness ------------------------------------------------------------------------------

TIMELINESS_HEADER = ["主管部门", "环节", "默认时限", "办结数", "按时", "超时", "按时率", "平均用时（工作日）",
                     "最长用时（工作日）", "在办", "其中已超期"]


def _timeliness_cells(r: dict[str, Any]) -> list[Any]:
    return [r["department"], r["step_label"], r["limit"], r["finished"], r["on_time"], r["late"],
            _rate_text(r["on_time_rate"]), r["average_days"], r["max_days"], r["open"], r["overdue"]]


async def report_timeliness(request: Request) -> Response:
    actor, f, today, form = await _context(request)
    rows = [r.as_dict() for r in await services(request).db.run(lambda s: reports.timeliness(s, actor, f, today))]
    cells = [_timeliness_cells(r) for r in rows]
    chart_rows = [{"name": f"{r['department']}·{r['step_label']}", "rate": r["on_time_rate"]} for r in rows]
    page = {"header": TIMELINESS_HEADER, "cells": cells,
            "charts": [bar_chart(chart_rows, "rate", "各部门各环节按时办结率", text=percent_text)],
            "notes": ["用时按工作日计算（节假日不计，调休上班日计入），自进入该环节之日（不计当日）至离开该环节之日；"
                      "按时：不晚于该环节开始时按时限表（含本地调整）确定的到期日（公示为不早于最早结束日）；"
                      "“默认时限”为系统默认规则，各地调整见“办理时限”页。",
                      "办结数按离开该环节的日期计入统计期间；在办为当前仍处于该环节、且在统计期末前开始的批次。"]}
    return _respond(request, "timeliness", {"rows": rows}, form, page, lambda: _xlsx(
        TITLES["timeliness"], form, TIMELINESS_HEADER, cells, chart_column=5, chart_title="按时办结数",
        notes=page["notes"]))


# --- 2. banks -----------------------------------------------------------------------------------

BANK_HEADER = ["代发银行", "有结果笔数", "成功", "失败", "失败率", "失败原因", "到账笔数", "平均到账（工作日）",
               "90%到账（工作日）", "最长（工作日）", "时限内到账", "时限内占比"]


def _bank_cells(r: dict[str, Any]) -> list[Any]:
    reasons = "；".join(f"{x['label']} {x['lines']}" for x in r["reasons"])
    return [r["bank_label"], r["sent"], r["paid"], r["failed"], _rate_text(r["failure_rate"]), reasons,
            r["credited"], r["average_days"], r["p90_days"], r["max_days"], r["within_limit"],
            _rate_text(r["within_limit_share"])]


async def report_banks(request: Request) -> Response:
    actor, f, _today, form = await _context(request)
    rows = [r.as_dict() for r in await services(request).db.run(lambda s: reports.bank_report(s, actor, f))]
    cells = [_bank_cells(r) for r in rows]
    charts = [bar_chart(rows, "failure_rate", "各代发银行发放失败率", label="bank_label", text=percent_text),
              bar_chart(rows, "average_days", "各代发银行平均到账时间（工作日）", label="bank_label",
                        text=lambda v: f"{v:.2f}")]
    page = {"header": BANK_HEADER, "cells": cells, "charts": charts,
            "notes": [f"统计期间内的支付申请送往银行、已有结果的明细；失败含已补发、已退回的失败明细。到账时间自支付申请之日"
                      f"（不计当日）至到账之日，按工作日计；时限为 {reports.BANK_LIMIT} 个工作日（{DEFAULT_RULES['bank_crediting'].source}）。"]}
    return _respond(request, "banks", {"rows": rows, "limit_days": reports.BANK_LIMIT}, form, page, lambda: _xlsx(
        TITLES["banks"], form, BANK_HEADER, cells, chart_column=4, chart_title="失败笔数", notes=page["notes"]))


# --- 3. evaluation --------------------------------------------------------------------------------

EVALUATION_HEADER = ["主管部门", "环节办结数", "按时办结", "环节按时率", "在办超期", "送银行笔数", "失败笔数", "失败率",
                     "逾期更正", "投诉办结", "按期答复", "按期答复率", "综合得分"]


def _evaluation_cells(r: dict[str, Any]) -> list[Any]:
    return [r["department"], r["steps_finished"], r["steps_on_time"], _rate_text(r["on_time_rate"]),
            r["steps_overdue_open"], r["lines_sent"], r["lines_failed"], _rate_text(r["failure_rate"]),
            r["overdue_corrections"], r["complaints_finished"], r["complaints_on_time"],
            _rate_text(r["complaint_on_time_rate"]), r["score"]]


def _score_note() -> str:
    w = reports.SCORE_WEIGHTS
    return (f"综合得分（满分 100）= 以下各项的加权平均（无可计项的不参与加权；本期无任何可评价事项的部门不评分）："
            f"环节按时率 = 按时办结 ÷（办结 + 在办超期，均不含退回更正）{w['on_time_rate']}%；"
            f"发放成功率（1 − 失败率）{w['success_rate']}%；投诉按期答复率 {w['complaint_on_time']}%；"
            f"更正及时 {w['correction']}%（每逾期更正 1 项扣 25%，扣完为止）。")


async def report_evaluation(request: Request) -> Response:
    actor, f, today, form = await _context(request, half_only=True)
    rows = [r.as_dict() for r in await services(request).db.run(lambda s: reports.evaluation(s, actor, f, today))]
    cells = [_evaluation_cells(r) for r in rows]
    page = {"header": EVALUATION_HEADER, "cells": cells, "half_only": True,
            "charts": [bar_chart(rows, "score", f"{f.period.label}主管部门综合得分", label="department",
                                 text=lambda v: f"{v:.1f}")],
            "notes": ["依据：《河南省惠民惠农财政补贴资金“一卡通”系统使用管理办法》第二十一条，原则上每半年评价通报一次。",
                      _score_note(),
                      "逾期更正：退回修改后超时重新报送或仍超期未报送的批次，以及更正期限在本期内已过而未更正的发放失败明细。"
                      "投诉按期答复率不含由纪检监察办理的保密举报。"]}
    return _respond(request, "evaluation", {"rows": rows, "weights": reports.SCORE_WEIGHTS}, form, page,
                    lambda: _xlsx(TITLES["evaluation"], form, EVALUATION_HEADER, cells, chart_column=13,
                                  chart_title="综合得分", notes=page["notes"]))


# --- 4. complaints --------------------------------------------------------------------------------

COMPLAINT_HEADER = ["项目/地区", "代码", "收到", "其中保密举报", "已办结", "按期答复", "按期答复率", "未办结", "其中已超期"]


def _complaint_cells(r: dict[str, Any]) -> list[Any]:
    return [r["name"], r["code"], r["received"], r["confidential"], r["finished"], r["on_time"],
            _rate_text(r["on_time_rate"]), r["open"], r["overdue"]]


async def report_complaints(request: Request) -> Response:
    actor, f, today, form = await _context(request)
    result = await services(request).db.run(lambda s: reports.complaint_report(s, actor, f, today))
    data = {"by_project": [r.as_dict() for r in result["by_project"]],
            "by_region": [r.as_dict() for r in result["by_region"]], "total": result["total"].as_dict(),
            "confidential_counted": result["confidential_counted"]}
    cells = ([["按项目"]] + [_complaint_cells(r) for r in data["by_project"]] + [["按地区"]]
             + [_complaint_cells(r) for r in data["by_region"]] + [_complaint_cells(data["total"])])
    note = ("保密举报仅计入纪检监察、审计监督人员所见的统计。" if data["confidential_counted"]
            else "保密举报不在您的统计范围内。")
    page = {"header": COMPLAINT_HEADER, "cells": cells,
            "charts": [bar_chart(data["by_project"], "received", "各项目投诉举报件数"),
                       bar_chart(data["by_region"], "received", "各地区投诉举报件数")],
            "notes": ["按提交日期计入统计期间；按期答复以答复日不晚于答复期限为准（工作日）。按办理单位、类型的统计见投诉举报统计页。",
                      note]}

    def xlsx() -> Response:
        rows = [_complaint_cells(r) for r in data["by_project"]]
        return _xlsx(TITLES["complaints"], form, COMPLAINT_HEADER,
                     rows + [["按地区"]] + [_complaint_cells(r) for r in data["by_region"]]
                     + [_complaint_cells(data["total"])],
                     chart_column=3, chart_rows=len(rows), chart_title="收到件数（按项目）", notes=page["notes"])

    return _respond(request, "complaints", data, form, page, xlsx)


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = [*route("/reports", report_index, name="report_index", methods=["GET"], json=True)]
    for name, view in (("timeliness", report_timeliness), ("banks", report_banks),
                       ("evaluation", report_evaluation), ("complaints", report_complaints)):
        table.extend(route(f"/reports/{name}", view, name=f"report_{name}", methods=["GET"], json=True))
        table.append(Route(f"/reports/{name}.xlsx", view, methods=["GET"], name=f"report_{name}_xlsx"))
    return table
