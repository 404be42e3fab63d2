"""Personal query pages (我的补贴): the form, its answer page and the JSON API.

The lookup itself (second factor, rate limits, the result) is :mod:`portal.lookup`, shared with
the kiosk and the bot.

Routes: ``GET /query`` (form), ``POST /query`` (form, CSRF), ``POST /api/query`` (JSON).
Personal data never goes into a URL, a log line or a cache: POST only, ``Cache-Control:
no-store``, no ETag.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from core.web import NO_STORE, json_bytes_response, json_route, path_for, route
from portal import csrf
from portal.errors import PublicError, parse_json_body
from portal.lookup import NOT_FOUND_MESSAGE, PersonPayments, guarded_lookup, validate_fields
from portal.ratelimit import read_body_limited
from portal.services import services
from portal.statements import make_statement_token

__all__ = ["routes", "statement_links"]


def _statement_base(request: Request) -> str:
    """``/statement/`` under this app's root path: the route lookup (≈ 60 µs, Starlette walks every
    route and mount) once per app and root path, not per query. A path, nothing personal."""
    root = request.scope.get("root_path", "")
    known: dict[str, str] | None = getattr(request.app.state, "statement_bases", None)
    if known is None:
        known = request.app.state.statement_bases = {}
    base = known.get(root)
    if base is None:
        base = known[root] = path_for(request, "statement_page", token="-")[:-1]
    return base


def statement_links(request: Request, person: PersonPayments) -> dict[int, str]:
    """The statement (明白条) link of each year with paid lines: ONE short-lived token for the
    answer (no ID number in it), the year in the path — ``/statement/{token}/{year}``."""
    years = person.paid_years
    if not years:
        return {}
    secret = services(request).config.session_secret
    prefix = _statement_base(request) + make_statement_token(secret, person.person_key, None, person.name or "") + "/"
    return {year: prefix + str(year) for year in years}


async def query_form(request: Request) -> Response:
    token = csrf.token_for(request)
    response = request.app.state.templates.TemplateResponse(
        request, "query.html", {"csrf_token": token, "values": {}, "fields": {}, "error": None},
        headers=NO_STORE,
    )
    csrf.set_cookie(request, response)
    return response


def _form_page(request: Request, values: dict[str, str], fields: dict[str, str], error: str | None,
               status: int) -> Response:
    token = csrf.token_for(request)
    # Never echo the ID number back into the page: only the name and the digits.
    safe_values = {"name": values.get("name", ""), "card_digits": values.get("card_digits", "")}
    response = request.app.state.templates.TemplateResponse(
        request, "query.html",
        {"csrf_token": token, "values": safe_values, "fields": fields, "error": error},
        status_code=status, headers=NO_STORE,
    )
    csrf.set_cookie(request, response)
    return response


async def query_submit(request: Request) -> Response:
    form = await csrf.verified_form(request)
    values = {k: str(form.get(k) or "") for k in ("id_number", "name", "card_digits")}
    fields = validate_fields(values)
    if fields:
        return _form_page(request, values, fields, "请按提示修改后再查询。", 422)
    result = await guarded_lookup(request, id_number=values["id_number"], name=values["name"],
                                  card_digits=values["card_digits"])
    if result is None:
        return _form_page(request, values, {}, NOT_FOUND_MESSAGE, 404)
    return request.app.state.templates.TemplateResponse(
        request, "query_result.html",
        {"person": result, "statement_links": statement_links(request, result)},
        headers=NO_STORE,
    )


async def query_api(request: Request) -> Response:
    body = await read_body_limited(request, 4096)
    payload = parse_json_body(body)
    if not isinstance(payload, dict):
        raise PublicError(400, "invalid_json", "请求内容应为JSON对象。")
    fields = validate_fields(payload)
    if fields:
        if set(fields) == {"id_number"} and isinstance(payload.get("id_number"), str) and payload["id_number"].strip():
            raise PublicError(400, "invalid_id_number", fields["id_number"], fields=fields, headers=NO_STORE)
        raise PublicError(422, "invalid_input", "填写的内容有误，请检查后重试。", fields=fields,
                          headers=NO_STORE)
    result = await guarded_lookup(request, id_number=payload["id_number"], name=payload["name"],
                                  card_digits=payload["card_digits"])
    if result is None:
        raise PublicError(404, "not_found", NOT_FOUND_MESSAGE, headers=NO_STORE)
    return json_bytes_response(result.answer_json(statement_links(request, result)), headers=NO_STORE)


def routes() -> list[BaseRoute]:
    return [
        *route("/query", query_form, name="query_form", methods=["GET"]),
        *route("/query", query_submit, name="query_submit", methods=["POST"]),
        json_route("/api/query", query_api, name="query_api", methods=["POST"]),
    ]
