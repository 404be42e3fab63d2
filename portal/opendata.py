"""Open data: ``/disclosures.csv`` — the masked result of a disclosure search as CSV.

Same parameters as ``/disclosures.json`` (``page``/``per_page`` ignored: the export starts at the
first result). Streamed page by page (never the whole result in memory), UTF-8 with BOM so Excel
opens it, at most ``OPEN_DATA_MAX_ROWS`` rows (and never more than the search window). The cap
and the number of matching rows are in the ``X-Open-Data-Max-Rows`` / ``X-Total-Count`` headers
and on the ``/opendata`` page. Cells that a spreadsheet would run as a formula are prefixed ``'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

from core.spreadsheets import csv_row, csv_text
from core.web import route

from search.base import MAX_PER_PAGE, MAX_WINDOW, SearchEngine
from portal.disclosures import KIND_LABELS, DisclosureParams, build_query, parse_params
from portal.rendering import respond
from portal.services import services

__all__ = ["COLUMNS", "csv_rows", "export_cap", "routes"]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("kind", "类型"), ("name_masked", "姓名（已隐去）"), ("county", "县（区）"), ("township", "乡镇（街道）"),
    ("village", "村（社区）"), ("project_name", "补贴项目"), ("policy_name", "政策"), ("department", "主管部门"),
    ("year", "年度"), ("period", "发放期间"), ("amount", "金额（元）"), ("date", "日期"), ("batch_code", "批次号"),
)


def export_cap(max_rows: int) -> int:
    return max(0, min(max_rows, MAX_WINDOW))


def _cell(doc: dict[str, Any], field: str) -> str:
    value = doc.get(field)
    if field == "kind":
        value = KIND_LABELS.get(str(value), value)
    return csv_text(value)


def csv_rows(engine: SearchEngine, p: DisclosureParams, cap: int, first_page: Any = None) -> Iterator[str]:
    """The CSV text in chunks: BOM + header, then one chunk per search page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(csv_row(label for _, label in COLUMNS))
    yield "\ufeff" + buffer.getvalue()
    sent, page = 0, 1
    result = first_page
    while sent < cap:
        if result is None:
            result = engine.search("disclosures", build_query(p, page=page, per_page=MAX_PER_PAGE, facets=False))
        if not result.hits:
            break
        buffer.seek(0)
        buffer.truncate()
        for doc in result.hits[: cap - sent]:
            writer.writerow([_cell(doc, field) for field, _ in COLUMNS])
            sent += 1
        yield buffer.getvalue()
        if page >= result.pages:
            break
        page += 1
        result = None


async def disclosures_csv(request: Request) -> Response:
    p = replace(parse_params(request.query_params), page=1, per_page=MAX_PER_PAGE)
    svc = services(request)
    cap = export_cap(svc.config.open_data_max_rows)
    engine = svc.search
    first = await run_in_threadpool(engine.search, "disclosures", build_query(p, facets=False))
    headers = {
        "Content-Disposition": "attachment; filename=\"disclosures.csv\"; filename*=UTF-8''%E5%8F%91%E6%94%BE%E5%85%AC%E5%BC%80.csv",
        "X-Open-Data-Max-Rows": str(cap),
        "X-Total-Count": str(first.total),
        "Cache-Control": "public, max-age=60",
    }
    return StreamingResponse(csv_rows(engine, p, cap, first), media_type="text/csv; charset=utf-8", headers=headers)


async def opendata_page(request: Request) -> Response:
    cap = export_cap(services(request).config.open_data_max_rows)
    data = {"max_rows": cap, "columns": [label for _, label in COLUMNS],
            "endpoints": ["/disclosures.csv", "/disclosures.json", "/policies.json", "/statistics.json", "/openapi.json"]}
    return respond(request, "opendata.html", {}, data)


def routes() -> list[BaseRoute]:
    return [
        *route("/disclosures.csv", disclosures_csv, name="disclosures_csv", methods=["GET"]),
        *route("/opendata", opendata_page, name="opendata", methods=["GET"], json=True),
    ]
