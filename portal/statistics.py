"""Statistics (统计): ``/statistics`` + ``/statistics.json``, read from the ``statistics`` index.

The numbers are precomputed on the internal side (:mod:`indexer.statistics`, SQL ``GROUP BY`` over
the paid lines of published batches — the same set as the published results) and written by
``yikatong index rebuild``/``sync``. A page is a handful of small filtered searches, so it answers
in milliseconds, exactly: amounts are summed in cents, persons are ``COUNT(DISTINCT)`` per cell.

Filters: ``year``, ``region`` (county or township: the region table goes one level down) and
``policy`` (补贴政策 name). Cells with fewer than 3 persons are withheld by the indexer
(``suppressed``); they show as “—”. No index yet → the usual 503 ``search_unavailable``.
Charts are server-side SVG bars, each with the same numbers as a text table.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from core import regions
from core.charts import bar_chart  # the geometry is shared with the internal reports
from core.web import route
from search.base import MAX_PER_PAGE, MAX_WINDOW, SearchEngine, SearchQuery
from portal.disclosures import bad, parse_region, parse_year
from portal.rendering import respond
from portal.services import services

__all__ = ["INDEX", "bar_chart", "compute", "routes"]

INDEX = "statistics"
ALL = "*"
_CHILD = {ALL: "county", "county": "township", "township": "village"}
_CELLS = ["total", "year", "policy", "county", "township", "village"]  # not timeliness/department
_MEASURES = ("amount", "amount_cents", "lines", "persons", "suppressed")
_TIMELINESS = ("batches", "on_time", "on_time_share", "median_days", "p90_days", "max_days", "limit_days")


def _docs(engine: SearchEngine, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """Every document matching ``filters`` (cells are few: a township has tens of villages)."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        result = engine.search(INDEX, SearchQuery(filters=filters, page=page, per_page=MAX_PER_PAGE))
        out.extend(result.hits)
        if page >= result.pages or (page + 1) * MAX_PER_PAGE > MAX_WINDOW:
            return out
        page += 1


def _level(region: str | None) -> str:
    if not region:
        return ALL
    return {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}[len(region)]


def _row(doc: dict[str, Any], name: str | None = None, code: str | None = None) -> dict[str, Any]:
    row = {"name": name if name is not None else str(doc.get("label") or ""), "code": code}
    row.update({k: doc.get(k) for k in _MEASURES})
    row["suppressed"] = bool(doc.get("suppressed"))
    return row


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["suppressed"], -(r["amount_cents"] or 0), r["name"]))


def _empty_totals() -> dict[str, Any]:
    return {"amount": "0.00", "amount_cents": 0, "lines": 0, "persons": 0, "suppressed": False}


def compute(engine: SearchEngine, year: int | None = None, region: str | None = None,
            policy: str | None = None) -> dict[str, Any]:
    """The page's data from the ``statistics`` index (a few small searches)."""
    level = _level(region)
    if level in ("province", "city"):  # the cube starts at counties: a province/city is the deployment
        level, region = ALL, None
    y = year or 0
    pk = policy or ALL
    scope: dict[str, Any] = {"dimension": _CELLS, "region_level": level}
    if region:
        scope["region_code"] = region
    # one search per table: this scope's cells across policies, across years, and its children
    here = _docs(engine, {**scope, "year": y})
    years = _docs(engine, {**scope, "policy_key": pk})
    child = _CHILD.get(level)
    children: list[dict[str, Any]] = []
    if child is not None and not (child == "village" and policy):  # no policy × village cells
        children = _docs(engine, {"dimension": child, "region_level": child, "year": y, "policy_key": pk,
                                  **({"region_codes": region} if region else {})})
    timeliness = _docs(engine, {"dimension": "timeliness", "year": y, "policy_key": pk,
                                "region_code": region[:6] if region else ALL})
    departments = [] if policy else _docs(engine, {"dimension": "department", "year": y,
                                                   "region_code": region[:6] if region else ALL})
    total = next((d for d in here if d.get("policy_key") == pk), None)
    computed_at = max((str(d.get("computed_at") or "") for d in here + years + timeliness), default="")
    return {
        "filters": {"year": year, "region": region, "policy": policy},
        "totals": {k: total.get(k) for k in _MEASURES} if total else _empty_totals(),
        "by_policy": [] if policy else _sorted([_row(d) for d in here if d.get("policy_key") != ALL]),
        "by_region": _sorted([_row(d, code=d.get("region_code")) for d in children]),
        "region_level": child or "village",
        "by_year": sorted((_row(d, name=str(d["year"])) for d in years if d.get("year")),
                          key=lambda r: r["name"]),
        "years": sorted({int(d["year"]) for d in years if d.get("year")}, reverse=True),
        "policies": sorted(str(d["policy_key"]) for d in here if d.get("policy_key") != ALL),
        "timeliness": _timeliness(timeliness[0] if timeliness else None),
        "by_department": sorted(({"name": d.get("label"), **_timeliness(d)} for d in departments),
                                key=lambda r: str(r["name"])),
        "computed_at": computed_at,
        "method": "按已公开的发放结果（已发放、已公开的批次中到账的明细；失败后重新发放的只计一次）预先汇总，"
                  "金额按分求和，人数为去重人数；不足 3 人的地区格子不公布（显示为“—”）。",
    }


def _timeliness(doc: dict[str, Any] | None) -> dict[str, Any]:
    doc = doc or {}
    out = {k: doc.get(k) for k in _TIMELINESS}
    out.update({f"payment_{k}": doc.get(f"payment_{k}") for k in _TIMELINESS})
    out["batches"] = out["batches"] or 0
    out["payment_batches"] = out["payment_batches"] or 0
    for key in ("on_time_share", "payment_on_time_share"):
        share = out[key]
        out[key + "_percent"] = f"{Decimal(str(share)) * 100:.1f}" if share is not None else None
    return out


def _parse_policy(raw: str | None) -> str | None:
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip()
    if len(value) > 100:
        raise bad("bad_policy", "补贴政策名称过长。")
    return value


def _collect(request: Request) -> dict[str, Any]:
    params = request.query_params
    year = parse_year(params.get("year"))
    region = parse_region(params.get("region"))
    policy = _parse_policy(params.get("policy"))
    return compute(services(request).search, year, region, policy)


async def statistics_view(request: Request) -> Response:
    data = await run_in_threadpool(_collect, request)
    charts = [
        bar_chart(data["by_policy"], "amount", "各补贴政策发放金额（元）"),
        bar_chart(data["by_region"], "amount", "各地区发放金额（元）"),
        bar_chart(data["by_year"], "amount", "各年度发放金额（元）"),
    ]
    region = data["filters"]["region"]
    context = {"charts": charts, "region_name": regions.full_name(region[:9]) if region else ""}
    return respond(request, "statistics.html", context, data)


def routes() -> list[BaseRoute]:
    return route("/statistics", statistics_view, name="statistics", methods=["GET"], json=True)
