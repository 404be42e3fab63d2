"""Policy list (补贴政策清单): ``/policies`` + ``/policies.json`` and ``/policies/{id}`` + ``.json``.

List parameters: ``q`` (full text), ``level`` (中央/省/市/县), ``department``, ``year``, ``page``,
``per_page``. JSON: ``{hits, total, page, per_page, pages, facets, query}``; detail JSON is the
policy document itself (standard, beneficiaries, scope, budget source, document title + number +
link, delivery 到户/到人, history).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from core.web import route

from search.base import InvalidQuery, SearchQuery
from portal.disclosures import bad, parse_page, parse_per_page, parse_text_query, parse_year
from portal.errors import PublicError
from portal.filters import url_with
from portal.rendering import respond
from portal.services import services

__all__ = ["FIELD_LABELS", "LEVELS", "routes"]

INDEX = "policies"
LEVELS = ("中央", "省", "市", "县")
FIELD_LABELS: tuple[tuple[str, str], ...] = (
    ("standard", "补贴标准"),
    ("beneficiaries", "补贴对象"),
    ("scope", "补贴范围"),
    ("budget_source", "资金来源"),
    ("delivery", "发放方式"),
    ("department", "主管部门"),
    ("level", "政策层级"),
    ("year", "年度"),
    ("status", "状态"),
)


def _text_param(params: Any, name: str, label: str, limit: int = 50) -> str | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if len(value) > limit:
        raise bad(f"bad_{name}", f"{label}太长。")
    return value


def _list(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    params = request.query_params
    q = parse_text_query(params.get("q"))
    level = _text_param(params, "level", "政策层级")
    if level is not None and level not in LEVELS:
        raise bad("bad_level", "政策层级应为 中央、省、市 或 县。")
    department = _text_param(params, "department", "主管部门")
    year = parse_year(params.get("year"))
    per_page = parse_per_page(params.get("per_page"))
    page = parse_page(params.get("page"), per_page)
    filters: dict[str, Any] = {}
    if level:
        filters["level"] = level
    if department:
        filters["department"] = department
    if year is not None:
        filters["year"] = year
    try:
        result = services(request).search.search(INDEX, SearchQuery(
            q=q, filters=filters, facets=["level", "department", "year"], page=page, per_page=per_page))
    except InvalidQuery:
        raise bad("bad_request", "查询条件有误，请检查后重试。") from None
    if page > 1 and page > result.pages:
        raise bad("page_out_of_range", f"没有第 {page} 页：共 {result.total} 条，{result.pages} 页。")
    query = {"q": q, "level": level, "department": department, "year": year, "page": page, "per_page": per_page}
    data = {"hits": result.hits, "total": result.total, "page": result.page, "per_page": result.per_page,
            "pages": result.pages, "facets": result.facets, "query": query}
    return query, data


def _facet_groups(request: Request, query: dict[str, Any], facets: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    groups = []
    for name, title in (("level", "政策层级"), ("department", "主管部门"), ("year", "年度")):
        values = facets.get(name, {}).items()
        if name == "year":
            values = sorted(values, reverse=True)
        elif name == "level":
            values = sorted(values, key=lambda kv: LEVELS.index(kv[0]) if kv[0] in LEVELS else 9)
        current = query.get(name)
        groups.append({
            "title": title, "name": name,
            "clear_url": url_with(request, **{name: None}) if current else None,
            "items": [{"label": f"{v}年" if name == "year" else v, "count": c,
                       "selected": str(current) == v, "url": url_with(request, **{name: v})} for v, c in values],
        })
    return groups


async def policy_list(request: Request) -> Response:
    query, data = await run_in_threadpool(_list, request)
    context = {"query": query, "facet_groups": _facet_groups(request, query, data["facets"])}
    return respond(request, "policies.html", context, data)


async def policy_detail(request: Request) -> Response:
    policy_id = request.path_params["id"]
    if len(policy_id) > 100:
        raise PublicError(404, "not_found", "没有找到这项政策，可能已被移除或链接有误。")
    doc = await run_in_threadpool(services(request).search.get, INDEX, policy_id)
    if doc is None:
        raise PublicError(404, "not_found", "没有找到这项政策，可能已被移除或链接有误。")
    fields = [(label, doc.get(name)) for name, label in FIELD_LABELS if doc.get(name) not in (None, "")]
    history = sorted(doc.get("history") or [], key=lambda h: str(h.get("date", "")), reverse=True)
    return respond(request, "policy_detail.html", {"policy": doc, "fields": fields, "history": history}, doc)


def routes() -> list[BaseRoute]:
    return [
        *route("/policies", policy_list, name="policies", methods=["GET"], json=True),
        *route("/policies/{id}", policy_detail, name="policy", methods=["GET"], json=True),
    ]
