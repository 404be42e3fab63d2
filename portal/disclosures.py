"""Disclosure search (发放结果公开): ``/disclosures`` and its JSON twin ``/disclosures.json``.

Parameters (all optional; stable public API): ``q`` (≤ 100 characters, every term a substring),
``region`` (any level code: province 2, city 4, county 6, township 9, village 12 digits — filters on
``region_codes``), ``project`` (project code), ``year``, ``kind`` (``publicity`` 公示名单 |
``result`` 发放结果), ``sort`` (``date`` newest first [default] | ``date_asc`` | ``amount`` largest
first | ``amount_asc``), ``page`` (1-based), ``per_page`` (1–100, default 20).

Bad input is a 400 with a stable code: ``query_too_long``, ``too_many_terms``, ``bad_page``,
``page_out_of_range``, ``bad_per_page``, ``unknown_region``, ``bad_year``, ``bad_kind``,
``bad_project``, ``bad_sort``.

JSON: ``{hits, total, page, per_page, pages, facets, query, drilldown}``.

Facets are names (county, township, village, project_name); links need codes. A facet value is
turned into its code by one small search (``resolve_code``), cached for a few minutes and only
while the index generation (search.generation) does not change.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from core import regions
from core.web import json_response, route, wants_json
from search.base import MAX_PER_PAGE, MAX_WINDOW, InvalidQuery, SearchEngine, SearchQuery, SearchResult
from search.tokenize import MAX_QUERY_CHARS, MAX_QUERY_TERMS, query_terms
from portal.errors import PublicError
from portal.filters import url_with
from portal.rendering import respond
from portal.services import services

__all__ = [
    "DEFAULT_PER_PAGE",
    "KIND_LABELS",
    "SORTS",
    "DisclosureParams",
    "build_query",
    "parse_page",
    "parse_params",
    "parse_text_query",
    "resolve_code",
    "routes",
    "search_disclosures",
]

INDEX = "disclosures"
DEFAULT_PER_PAGE = 20
KIND_LABELS = {"publicity": "公示名单", "result": "发放结果"}
SORTS: dict[str, tuple[str, str, str]] = {
    "date": ("date", "desc", "发放日期（最新在前）"),
    "date_asc": ("date", "asc", "发放日期（最早在前）"),
    "amount": ("amount_cents", "desc", "金额（从高到低）"),
    "amount_asc": ("amount_cents", "asc", "金额（从低到高）"),
}
REGION_LEVEL_LABELS = {"province": "省", "city": "市", "county": "县（区）", "township": "乡镇（街道）", "village": "村（社区）"}
_PROJECT = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
EMPTY_HELP = "没有找到符合条件的记录。试试只输入姓氏或村名（例如“王”或“王庄村”），或减少筛选条件。"


def bad(code: str, message: str) -> PublicError:
    return PublicError(400, code, message)


def parse_text_query(raw: str | None) -> str:
    q = (raw or "").strip()
    if len(q) > MAX_QUERY_CHARS:
        raise bad("query_too_long", f"搜索内容太长，请不要超过 {MAX_QUERY_CHARS} 个字。")
    if len(query_terms(q)) > MAX_QUERY_TERMS:
        raise bad("too_many_terms", f"搜索词太多，请不要超过 {MAX_QUERY_TERMS} 个（用空格分开）。")
    return q


def parse_page(raw: str | None, per_page: int) -> int:
    if raw is None or raw == "":
        return 1
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1 or len(raw) > 7:
        raise bad("bad_page", "页码应为从 1 开始的整数。")
    page = int(raw)
    if page * per_page > MAX_WINDOW:
        raise bad("page_out_of_range",
                  f"最多只能翻到第 {MAX_WINDOW // per_page} 页（前 {MAX_WINDOW} 条）。请输入更具体的搜索词或选择地区、项目、年度缩小范围。")
    return page


def parse_per_page(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PER_PAGE
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_PAGE:
        raise bad("bad_per_page", f"每页条数应在 1 到 {MAX_PER_PAGE} 之间。")
    return int(raw)


def parse_year(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or not 1990 <= int(raw) <= 2100:
        raise bad("bad_year", "年度应为四位数字，例如 2024。")
    return int(raw)


def parse_region(raw: str | None) -> str | None:
    """A region code of any level, in short form; 400 ``unknown_region`` if it does not exist."""
    if raw is None or raw.strip() == "":
        return None
    message = "没有这个地区代码，请从地区列表中选择。"
    try:
        code = regions.canonical_code(raw)
    except ValueError:
        raise bad("unknown_region", message) from None
    if len(code) == 12:
        if regions.get(code[:9]) is None:
            raise bad("unknown_region", message)
        return code
    if regions.get(code) is None:
        raise bad("unknown_region", message)
    return code


@dataclass(frozen=True)
class DisclosureParams:
    q: str = ""
    region: str | None = None
    project: str | None = None
    year: int | None = None
    kind: str | None = None
    sort: str = "date"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def filters(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.region:
            out["region_codes"] = self.region
        if self.project:
            out["project_code"] = self.project
        if self.year is not None:
            out["year"] = self.year
        if self.kind:
            out["kind"] = self.kind
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_params(params: Any) -> DisclosureParams:
    """Validate the request's query parameters (a mapping); PublicError 400 on bad input."""
    q = parse_text_query(params.get("q"))
    kind = (params.get("kind") or "").strip() or None
    if kind is not None and kind not in KIND_LABELS:
        raise bad("bad_kind", "类型应为 publicity（公示名单）或 result（发放结果）。")
    project = (params.get("project") or "").strip() or None
    if project is not None and not _PROJECT.match(project):
        raise bad("bad_project", "项目代码有误，请从项目列表中选择。")
    sort = (params.get("sort") or "").strip() or "date"
    if sort not in SORTS:
        raise bad("bad_sort", "排序方式应为 date、date_asc、amount 或 amount_asc。")
    per_page = parse_per_page(params.get("per_page"))
    return DisclosureParams(q=q, region=parse_region(params.get("region")), project=project,
                            year=parse_year(params.get("year")), kind=kind, sort=sort,
                            page=parse_page(params.get("page"), per_page), per_page=per_page)


def region_facet(region: str | None) -> str | None:
    """The facet that drills one level below ``region`` (None below a village)."""
    if region is None or len(region) <= 4:
        return "county"
    return {6: "township", 9: "village"}.get(len(region))


def build_query(p: DisclosureParams, *, page: int | None = None, per_page: int | None = None,
                facets: bool = True) -> SearchQuery:
    """The search for these parameters (pure: tested on its own)."""
    field, direction, _ = SORTS[p.sort]
    wanted: list[str] = []
    if facets:
        wanted = ["kind", "year", "project_name"]
        drill = region_facet(p.region)
        if drill:
            wanted.append(drill)
    return SearchQuery(q=p.q, filters=p.filters(), facets=wanted, sort=[(field, direction)],  # type: ignore[list-item]
                       page=page or p.page, per_page=per_page or p.per_page)


# --- facet value → code -------------------------------------------------------------------

_CACHE_TTL = 300.0
_cache_lock = threading.Lock()
_CODE_OF: dict[str, tuple[str, int | None]] = {
    # facet field → (document field holding the code, index in region_codes or None)
    "county": ("region_codes", 2),
    "township": ("region_codes", 3),
    "village": ("region_codes", 4),
    "project_name": ("project_code", None),
}


def facet_code_cache(extras: dict[str, Any], engine: SearchEngine) -> dict[Any, Any]:
    """The facet-code cache of the current index generation (a new one after every change)."""
    generation = engine.generation.current()
    held = extras.get("facet_codes")
    if held is None or held[0] != generation or generation is None:
        held = extras["facet_codes"] = (generation, {})
    return held[1]


def resolve_code(engine: SearchEngine, cache: dict[Any, Any], facet: str, value: str,
                 within: str | None = None) -> str | None:
    """The code behind a facet value (a region or project name), by one search cached in ``cache``."""
    key = (facet, value, within)
    now = time.monotonic()
    with _cache_lock:
        cached = cache.get(key)
        if cached and now - cached[0] < _CACHE_TTL:
            return cached[1]
    filters: dict[str, Any] = {"region_codes": within} if within else {}
    code: str | None = None
    code_field, position = _CODE_OF[facet]
    if facet in ("township", "village"):
        result = engine.search(INDEX, SearchQuery(filters={**filters, facet: value}, per_page=1))
        hits = result.hits
    else:
        terms = value.split()
        if len(terms) > MAX_QUERY_TERMS or len(value) > MAX_QUERY_CHARS:
            hits = []
        else:
            hits = engine.search(INDEX, SearchQuery(q=value, filters=filters, per_page=MAX_PER_PAGE)).hits
        hits = [h for h in hits if h.get(facet) == value]
    if hits:
        found = hits[0].get(code_field)
        if position is not None:
            found = found[position] if isinstance(found, list) and len(found) > position else None
        code = str(found) if found else None
    with _cache_lock:
        if len(cache) > 10_000:
            cache.clear()
        cache[key] = (now, code)
    return code


# --- the view ------------------------------------------------------------------------------


def search_disclosures(engine: SearchEngine, p: DisclosureParams) -> SearchResult:
    try:
        result = engine.search(INDEX, build_query(p))
    except InvalidQuery:
        raise bad("bad_request", "查询条件有误，请检查后重试。") from None
    if p.page > 1 and p.page > result.pages:
        raise bad("page_out_of_range",
                  f"没有第 {p.page} 页：共 {result.total} 条，{result.pages} 页。")
    return result


def _region_trail(p: DisclosureParams, result: SearchResult) -> list[dict[str, str]]:
    trail: list[dict[str, str]] = []
    if not p.region:
        return trail
    known = p.region[:9] if len(p.region) == 12 else p.region
    for region in regions.path(known):
        if region.level in ("province", "city") and len(p.region) > 4:
            continue
        trail.append({"code": region.code, "name": region.name, "level": region.level})
    if len(p.region) == 12:
        names = list(result.facets.get("village", {}))
        village = next((h.get("village") for h in result.hits if h.get("village")), None)
        trail.append({"code": p.region, "name": village or (names[0] if names else p.region), "level": "village"})
    return trail


def _drilldown(engine: SearchEngine, cache: dict[Any, Any], p: DisclosureParams,
               result: SearchResult) -> list[dict[str, Any]]:
    facet = region_facet(p.region)
    if facet is None:
        return []
    out = []
    for name, count in result.facets.get(facet, {}).items():
        code = resolve_code(engine, cache, facet, name, p.region)
        if code:
            out.append({"code": code, "name": name, "count": count, "level": facet})
    return out


def _projects(engine: SearchEngine, cache: dict[Any, Any], result: SearchResult) -> list[dict[str, Any]]:
    out = []
    for name, count in result.facets.get("project_name", {}).items():
        code = resolve_code(engine, cache, "project_name", name)
        if code:
            out.append({"code": code, "name": name, "count": count})
    return out


def facet_groups(request: Request, p: DisclosureParams, data: dict[str, Any]) -> list[dict[str, Any]]:
    groups = []
    drill = data["drilldown"]
    if drill:
        level = drill[0]["level"]
        groups.append({"title": REGION_LEVEL_LABELS[level], "name": "region", "clear_url": None,
                       "items": [{"label": d["name"], "count": d["count"], "selected": False,
                                  "url": url_with(request, region=d["code"])} for d in drill]})
    groups.append({"title": "项目", "name": "project", "clear_url": url_with(request, project=None) if p.project else None,
                   "items": [{"label": d["name"], "count": d["count"], "selected": d["code"] == p.project,
                              "url": url_with(request, project=d["code"])} for d in data["projects"]]})
    years = sorted(data["facets"].get("year", {}).items(), reverse=True)
    groups.append({"title": "年度", "name": "year", "clear_url": url_with(request, year=None) if p.year else None,
                   "items": [{"label": f"{y}年", "count": c, "selected": str(p.year) == y,
                              "url": url_with(request, year=y)} for y, c in years]})
    groups.append({"title": "类型", "name": "kind", "clear_url": url_with(request, kind=None) if p.kind else None,
                   "items": [{"label": KIND_LABELS.get(k, k), "count": c, "selected": p.kind == k,
                              "url": url_with(request, kind=k)} for k, c in data["facets"].get("kind", {}).items()]})
    return groups


def _collect(request: Request) -> tuple[DisclosureParams, dict[str, Any]]:
    p = parse_params(request.query_params)
    svc = services(request)
    engine = svc.search
    cache = facet_code_cache(svc.extras, engine)
    result = search_disclosures(engine, p)
    data = {
        "hits": result.hits,
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
        "pages": result.pages,
        "facets": result.facets,
        "query": p.as_dict(),
        "drilldown": _drilldown(engine, cache, p, result),
        "projects": _projects(engine, cache, result),
        "region_trail": _region_trail(p, result),
    }
    return p, data


async def disclosures(request: Request) -> Response:
    p, data = await run_in_threadpool(_collect, request)
    if wants_json(request):  # the page's links are not part of the JSON twin
        return json_response(data)
    context = {
        "p": p,
        "facet_groups": facet_groups(request, p, data),
        "sorts": {k: v[2] for k, v in SORTS.items()},
        "kind_labels": KIND_LABELS,
        "empty_help": EMPTY_HELP,
        "max_rows": services(request).config.open_data_max_rows,
    }
    return respond(request, "disclosures.html", context, data)


def routes() -> list[BaseRoute]:
    return route("/disclosures", disclosures, name="disclosures", methods=["GET"], json=True)
