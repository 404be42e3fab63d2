"""``/openapi.json``: the OpenAPI 3.1 description of the public JSON API (hand-written).

Stable names third parties rely on: ``GET /policies.json``, ``GET /disclosures.json``,
``GET /disclosures.csv``, ``GET /statistics.json``. A test checks that every JSON route of the
app is described here (the signed kiosk device API and the WeChat endpoint are not public APIs
and are left out).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from core.web import json_response, json_route

__all__ = ["document", "routes"]

_ERROR = {"$ref": "#/components/responses/Error"}


_BLANK = {"type": "string", "pattern": "^\\s*$"}


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    # An empty or blank value (an HTML form's untouched field) means "not set".
    if schema is None or schema == {"type": "string"} or set(schema) <= {"type", "maxLength"}:
        schema = schema or {"type": "string"}
    else:
        schema = {"anyOf": [schema, _BLANK]}
    return {"name": name, "in": "query", "required": False, "allowEmptyValue": True, "description": description,
            "schema": schema}


_YEAR = {"type": "integer", "minimum": 1990, "maximum": 2100}
_REGION = {"type": "string", "pattern": "^[0-9]{2}([0-9]{2}([0-9]{2}([0-9]{3}([0-9]{3})?)?)?)?$"}
_COMPLAINT = {
    "type": "object", "required": ["kind", "subject", "text"],
    "properties": {
        "kind": {"type": "string", "enum": ["complaint", "tipoff", "enquiry", "disclosure_request", "petition"],
                 "description": "投诉 | 举报 | 咨询 | 信息公开申请 | 信访"},
        "subject": {"type": "string", "minLength": 1, "maxLength": 100, "description": "标题"},
        "text": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "具体内容"},
        "contact": {"type": ["string", "null"], "maxLength": 100, "description": "联系方式（实名时必填）"},
        "real_name": {"type": ["boolean", "string", "null"], "description": "实名（true）或匿名（false，默认）"},
        "confidential": {"type": ["boolean", "string", "null"],
                         "description": "举报要求保密：只有纪检监察、审计机构可见（仅对举报有效）"},
        "region_code": {"type": ["string", "null"], "pattern": "^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$"},
        "project_code": {"type": ["string", "null"], "pattern": "^([A-Za-z0-9_.\\-]{1,64})?$"},
        "disclosure_id": {"type": ["string", "null"], "pattern": "^([A-Za-z0-9_.\\-]{1,64})?$"},
    },
}
_PAGING = [
    _q("page", "页码，从 1 开始；page × per_page ≤ 10000", {"type": "integer", "minimum": 1, "maximum": 10000}),
    _q("per_page", "每页条数（1–100，默认 20）", {"type": "integer", "minimum": 1, "maximum": 100}),
]
_DISCLOSURE_PARAMS = [
    _q("q", "搜索词（≤ 100 字；空格分开的每个词都须出现）", {"type": "string", "maxLength": 100}),
    _q("region", "区划代码（省 2、市 4、县 6、乡镇 9、村 12 位）", _REGION),
    _q("project", "补贴项目代码", {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,40}$"}),
    _q("year", "年度", _YEAR),
    _q("kind", "publicity 公示名单 | result 发放结果", {"type": "string", "enum": ["publicity", "result"]}),
    _q("sort", "date（默认，最新在前）| date_asc | amount | amount_asc",
       {"type": "string", "enum": ["date", "date_asc", "amount", "amount_asc"]}),
]


def _json(schema: dict[str, Any], description: str = "成功") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _search_result(hit_ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["hits", "total", "page", "per_page", "pages", "facets", "query"],
        "properties": {
            "hits": {"type": "array", "items": {"$ref": hit_ref}},
            "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
            "pages": {"type": "integer"},
            "facets": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}}},
            "query": {"type": "object"},
        },
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "惠民惠农财政补贴资金“一卡通”公开查询接口",
            "version": "1.0.0",
            "description": "公开数据均已隐去个人敏感信息。错误统一返回 {\"error\": {\"code\", \"message\"}}，code 为稳定的英文代码。",
        },
        "paths": {
            "/policies.json": {"get": {"summary": "补贴政策清单", "operationId": "listPolicies",
                "parameters": [_q("q", "搜索词", {"type": "string", "maxLength": 100}),
                               _q("level", "政策层级", {"type": "string", "enum": ["中央", "省", "市", "县"]}),
                               _q("department", "主管部门", {"type": "string", "maxLength": 50}), _q("year", "年度", _YEAR), *_PAGING],
                "responses": {"200": _json(_search_result("#/components/schemas/Policy")), "400": _ERROR}}},
            "/policies/{id}.json": {"get": {"summary": "政策详情", "operationId": "getPolicy",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json({"$ref": "#/components/schemas/Policy"}), "404": _ERROR}}},
            "/disclosures.json": {"get": {"summary": "发放结果公开查询", "operationId": "searchDisclosures",
                "parameters": [*_DISCLOSURE_PARAMS, *_PAGING],
                "responses": {"200": _json(_search_result("#/components/schemas/Disclosure")), "400": _ERROR, "503": _ERROR}}},
            "/disclosures.csv": {"get": {"summary": "发放结果公开下载（CSV，UTF-8 BOM，条数有上限）", "operationId": "exportDisclosures",
                "parameters": _DISCLOSURE_PARAMS,
                "responses": {"200": {"description": "CSV 表格", "headers": {
                    "X-Open-Data-Max-Rows": {"schema": {"type": "integer"}, "description": "本次最多导出的条数"},
                    "X-Total-Count": {"schema": {"type": "integer"}, "description": "符合条件的总条数"}},
                    "content": {"text/csv": {"schema": {"type": "string"}}}}, "400": _ERROR}}},
            "/statistics.json": {"get": {"summary": "发放统计", "operationId": "getStatistics",
                "parameters": [_q("year", "年度", _YEAR), _q("region", "区划代码", _REGION),
                               _q("policy", "补贴政策名称（如 耕地地力保护补贴）", {"type": "string", "maxLength": 100})],
                "responses": {"200": _json({"$ref": "#/components/schemas/Statistics"}), "400": _ERROR,
                              "503": _ERROR}}},
            "/opendata.json": {"get": {"summary": "开放数据说明（导出上限、列）", "operationId": "getOpenDataInfo",
                "responses": {"200": _json({"type": "object"})}}},
            "/home.json": {"get": {"summary": "首页数据（最新发放结果、办事入口）", "operationId": "getHome",
                "responses": {"200": _json({"type": "object"})}}},
            "/healthz": {"get": {"summary": "健康检查", "operationId": "health",
                "responses": {"200": _json({"type": "object"}), "503": _json({"type": "object"}, "部分服务不可用")}}},
            "/status.json": {"get": {"summary": "数据更新状态", "operationId": "status",
                "responses": {"200": _json({"type": "object"})}}},
            "/api/query": {"post": {"summary": "本人补贴查询（身份证号 + 姓名 + 社保卡号后四位）", "operationId": "queryPerson",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["id_number", "name", "card_digits"],
                    "properties": {"id_number": {"type": "string"}, "name": {"type": "string"},
                                   "card_digits": {"type": "string", "description": "社保卡号后四位"}}}}}},
                "responses": {"200": _json({"type": "object"}), "400": _ERROR, "404": _ERROR, "413": _ERROR,
                              "422": _ERROR, "429": _ERROR, "503": _ERROR}}},
            "/api/complaints": {"post": {"summary": "提交投诉举报", "operationId": "createComplaint",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _COMPLAINT}}},
                "responses": {"201": _json({"type": "object", "required": ["tracking_code", "status", "due_on", "message"],
                                            "properties": {"tracking_code": {"type": "string"}, "status": {"type": "string"},
                                                           "status_label": {"type": "string"}, "due_on": {"type": "string"},
                                                           "status_url": {"type": "string"}, "message": {"type": "string"}}}),
                              "400": _ERROR, "413": _ERROR, "422": _ERROR, "429": _ERROR, "503": _ERROR}}},
            "/api/complaints/{code}": {"get": {"summary": "凭查询码查看投诉举报办理进度", "operationId": "getComplaint",
                "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json({"type": "object"}), "404": _ERROR, "429": _ERROR}}},
            "/openapi.json": {"get": {"summary": "本接口说明", "operationId": "openapi",
                "responses": {"200": _json({"type": "object"})}}},
        },
        "components": {
            "responses": {"Error": {"description": "错误", "content": {"application/json": {"schema": {
                "type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "description": "稳定的英文代码"},
                                   "message": {"type": "string", "minLength": 1, "description": "中文说明"},
                                   "fields": {"type": "object", "additionalProperties": {"type": "string"},
                                              "description": "逐项的中文提示"}}}}}}}}},
            "schemas": {
                "Policy": {"type": "object", "properties": {k: {"type": "string"} for k in (
                    "id", "code", "name", "short_name", "department", "level", "budget_source", "scope",
                    "beneficiaries", "standard", "document_title", "document_number", "document_url",
                    "delivery", "status")} | {"year": {"type": "integer"}, "history": {"type": "array", "items": {
                        "type": "object", "properties": {"date": {"type": "string"}, "change": {"type": "string"}}}}}},
                "Disclosure": {"type": "object", "properties": {k: {"type": "string"} for k in (
                    "id", "kind", "name_masked", "county", "township", "village", "project_code", "project_name",
                    "policy_name", "department", "period", "amount", "date", "batch_code", "status")} | {
                    "year": {"type": "integer"}, "amount_cents": {"type": "integer"},
                    "region_codes": {"type": "array", "items": {"type": "string"}}}},
                "Statistics": {"type": "object"},
            },
        },
    }


async def openapi(request: Request) -> Response:
    return json_response(document())


def routes() -> list[BaseRoute]:
    return [json_route("/openapi.json", openapi, name="openapi", methods=["GET"])]
