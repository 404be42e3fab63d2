"""Statistics (统计): ``/statistics`` + ``/statistics.json``.

Totals of published disbursement results (``kind = result``): amount, lines and persons
(approximate: distinct masked name + village), by project, by region (one level below the chosen
region) and by year, plus timeliness: for each batch, working days from its publicity list to its
payment results, against the seeds' limits (publicity 3 + approval 10 + finance check 5 + bank 2).

How (the honest simple way, no new index fields): the search port counts but does not sum, so
the sums come from reading the matching documents page by page. The port cannot page past
``MAX_WINDOW`` hits, so a set larger than that is split by facet values (year → township → village;
every document has exactly one value of each, so the parts are disjoint and complete) until each
part fits. The result is cached per (year, region) for :data:`CACHE_SECONDS`; one computation
runs at a time per key. Measured: ~100k result lines take a few seconds once, then the cache.
Charts are server-side SVG bars, each with the same numbers as a text table.
"""

from __future__ import annotations

import statistics as pystats
import threading
import time
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any, Iterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core import regions
from core.deadlines import DEFAULT_RULES
from core.workdays import workdays_between
from indexer.search.base import MAX_PER_PAGE, MAX_WINDOW, SearchEngine, SearchQuery
from portal.disclosures import parse_region, parse_year
from portal.rendering import respond
from portal.services import services

__all__ = ["CACHE_SECONDS", "PAYMENT_LIMIT_DAYS", "bar_chart", "compute", "iter_documents", "routes"]

INDEX = "disclosures"
CACHE_SECONDS = 300.0
PAYMENT_LIMIT_DAYS = sum(DEFAULT_RULES[s].days for s in ("publicity", "approval", "finance_check", "bank_crediting"))
_SPLIT_FIELDS = ("year", "township", "village")

_locks_guard = threading.Lock()


def iter_documents(engine: SearchEngine, filters: dict[str, Any], split: tuple[str, ...] = _SPLIT_FIELDS) -> Iterator[dict[str, Any]]:
    """Every document matching ``filters``, read in pages, split by facets past the window."""
    first = engine.search(INDEX, SearchQuery(filters=filters, facets=list(split[:1]), per_page=MAX_PER_PAGE))
    if first.total > MAX_WINDOW and split:
        field, rest = split[0], split[1:]
        for value in first.facets.get(field, {}):
            yield from iter_documents(engine, {**filters, field: value}, rest)
        return
    result = first
    page = 1
    while True:
        yield from result.hits
        if page >= result.pages or page * MAX_PER_PAGE >= MAX_WINDOW:
            break
        page += 1
        result = engine.search(INDEX, SearchQuery(filters=filters, page=page, per_page=MAX_PER_PAGE))


def _group_level(region: str | None) -> tuple[str, int]:
    """(document field, region_codes index) to group by, one level below ``region``."""
    if region is None or len(region) <= 4:
        return "county", 2
    if len(region) == 6:
        return "township", 3
    return "village", 4


def _rows(groups: dict[str, dict[str, Any]], key=None) -> list[dict[str, Any]]:
    rows = [{"name": name, "code": g.get("code"), "amount": f"{g['amount']:.2f}", "lines": g["lines"],
             "persons_approx": len(g["persons"])} for name, g in groups.items()]
    rows.sort(key=key or (lambda r: (-Decimal(r["amount"]), r["name"])))
    return rows


def compute(engine: SearchEngine, year: int | None = None, region: str | None = None) -> dict[str, Any]:
    filters: dict[str, Any] = {"kind": "result"}
    if year is not None:
        filters["year"] = year
    if region:
        filters["region_codes"] = region
    group_field, group_index = _group_level(region)

    def new() -> dict[str, Any]:
        return {"amount": Decimal("0.00"), "lines": 0, "persons": set(), "code": None}

    total = new()
    by_project: dict[str, dict[str, Any]] = defaultdict(new)
    by_region: dict[str, dict[str, Any]] = defaultdict(new)
    by_year: dict[str, dict[str, Any]] = defaultdict(new)
    result_dates: dict[str, str] = {}
    for doc in iter_documents(engine, filters):
        amount = Decimal(str(doc.get("amount") or "0"))
        person = (doc.get("name_masked"), doc.get("village"), doc.get("township"))
        codes = doc.get("region_codes") or []
        for group, code in ((total, None), (by_project[str(doc.get("project_name"))], doc.get("project_code")),
                            (by_region[str(doc.get(group_field))], codes[group_index] if len(codes) > group_index else None),
                            (by_year[str(doc.get("year"))], None)):
            group["amount"] += amount
            group["lines"] += 1
            group["persons"].add(person)
            group["code"] = code
        batch, when = doc.get("batch_code"), doc.get("date")
        if batch and when and when > result_dates.get(batch, ""):
            result_dates[batch] = when
    return {
        "totals": {"amount": f"{total['amount']:.2f}", "lines": total["lines"], "persons_approx": len(total["persons"])},
        "by_project": _rows(by_project),
        "by_region": _rows(by_region),
        "by_year": _rows(by_year, key=lambda r: r["name"]),
        "region_level": group_field,
        "timeliness": _timeliness(engine, filters, result_dates),
        "filters": {"year": year, "region": region},
        "computed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "method": "逐页读取已公开的发放结果（kind=result）求和；人数按“隐去后的姓名+村”去重，为近似值。",
    }


def _timeliness(engine: SearchEngine, filters: dict[str, Any], result_dates: dict[str, str]) -> dict[str, Any]:
    publicity: dict[str, str] = {}
    for doc in iter_documents(engine, {**filters, "kind": "publicity"}):
        batch, when = doc.get("batch_code"), doc.get("date")
        if batch in result_dates and when and (batch not in publicity or when < publicity[batch]):
            publicity[batch] = when
    days: list[int] = []
    for batch, start in publicity.items():
        try:
            elapsed = workdays_between(date.fromisoformat(start), date.fromisoformat(result_dates[batch]))
        except (ValueError, KeyError):  # a date outside the holiday calendar or malformed
            continue
        if elapsed >= 0:
            days.append(elapsed)
    within = sum(1 for d in days if 0 <= d <= PAYMENT_LIMIT_DAYS)
    return {
        "limit_days": PAYMENT_LIMIT_DAYS,
        "batches": len(days),
        "within_limit": within,
        "share_within_limit": f"{(Decimal(within) / len(days) * 100):.1f}" if days else None,
        "median_days": pystats.median(days) if days else None,
        "buckets": [
            {"label": f"{PAYMENT_LIMIT_DAYS} 个工作日以内", "count": within},
            {"label": f"{PAYMENT_LIMIT_DAYS + 1}–{PAYMENT_LIMIT_DAYS * 2} 个工作日", "count": sum(1 for d in days if PAYMENT_LIMIT_DAYS < d <= PAYMENT_LIMIT_DAYS * 2)},
            {"label": f"超过 {PAYMENT_LIMIT_DAYS * 2} 个工作日", "count": sum(1 for d in days if d > PAYMENT_LIMIT_DAYS * 2)},
        ],
    }


def cached(engine: SearchEngine, cache: dict[Any, Any], year: int | None, region: str | None) -> dict[str, Any]:
    """``compute`` through a per-app cache (``cache`` lives in the app's services)."""
    key = (year, region)
    hit = cache.get(key)
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    with _locks_guard:
        lock = cache.setdefault(("lock", key), threading.Lock())
    with lock:
        hit = cache.get(key)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        data = compute(engine, year, region)
        if len(cache) > 1000:
            cache.clear()
        cache[key] = (time.monotonic(), data)
        return data



def bar_chart(rows: list[dict[str, Any]], value: str, title: str, width: int = 560) -> dict[str, Any]:
    """Geometry for a horizontal SVG bar chart (rendered by the template; no JS)."""
    values = [Decimal(str(r[value])) for r in rows]
    top = max(values, default=Decimal(0)) or Decimal(1)
    label_w, bar_w, row_h = 150, width - 150 - 110, 28
    bars = []
    for i, (row, v) in enumerate(zip(rows, values)):
        bars.append({"label": row["name"], "y": 8 + i * row_h, "width": max(1, int(bar_w * v / top)) if v else 0,
                     "text": f"{v:,.2f}" if value == "amount" else f"{int(v):,}"})
    return {"title": title, "width": width, "height": 16 + len(rows) * row_h, "label_w": label_w, "bars": bars}


def _collect(request: Request) -> dict[str, Any]:
    params = request.query_params
    year = parse_year(params.get("year"))
    region = parse_region(params.get("region"))
    svc = services(request)
    return cached(svc.search, svc.extras.setdefault("statistics_cache", {}), year, region)


async def statistics_view(request: Request) -> Response:
    data = await run_in_threadpool(_collect, request)
    charts = [
        bar_chart(data["by_project"], "amount", "各项目发放金额（元）"),
        bar_chart(data["by_region"], "amount", "各地区发放金额（元）"),
        bar_chart(data["by_year"], "amount", "各年度发放金额（元）"),
    ]
    region = data["filters"]["region"]
    context = {"charts": charts, "region_name": regions.full_name(region[:9]) if region else "",
               "timeliness_chart": bar_chart([{"name": b["label"], "count": b["count"]} for b in data["timeliness"]["buckets"]],
                                             "count", "各批次从公示到发放的工作日数")}
    return respond(request, "statistics.html", context, data)


def routes() -> list[BaseRoute]:
    return [
        Route("/statistics", statistics_view, name="statistics"),
        Route("/statistics.json", statistics_view, name="statistics_json"),
    ]
