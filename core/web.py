"""The small web toolkit the apps share: routes declared with their JSON twins, one `wants_json`,
one JSON encoder and root-relative links for templates.

* :func:`route` declares a page and, with ``json=True``, its JSON twin (``/disclosures`` and
  ``/disclosures.json``): same view, two representations, so the page and the API never
  disagree (as in datasette). :func:`json_route` declares an endpoint that only speaks JSON (an
  API call, a kiosk fetch endpoint, a health check). Every route is named and lists its methods.
* :func:`wants_json` decides how to answer, errors included: a JSON route (twin or endpoint)
  always gets JSON — also for a 405 from the router or a 413 from a middleware, before any view
  ran — so no app keeps a list of JSON paths. Elsewhere the client decides: a ``.json`` path,
  or ``Accept: application/json`` without ``text/html``; a data download (``.csv``) answers a
  program in JSON and a person's browser (``Accept: text/html``) with a page.
* :func:`json_response` encodes amounts (``Decimal`` → ``"1234.50"``), dates (ISO 8601) and
  times (ISO 8601 in Asia/Shanghai, to the second): one encoder for every JSON answer.
* :func:`path_for` (``url_for`` in templates, see :func:`install_url_for`) gives the
  root-relative path of a named route (``/policies/p1``), not Starlette's absolute URL, so pages
  do not depend on the Host header.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
from jinja2 import pass_context
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from core.timeutil import local

__all__ = [
    "SHARED_TEMPLATES",
    "NO_STORE",
    "AppJSONResponse",
    "JSONRoute",
    "install_url_for",
    "json_default",
    "json_response",
    "json_route",
    "matched_route",
    "path_for",
    "route",
    "wants_json",
]

# Headers of an answer that must never be cached (personal data, forms with a CSRF token).
NO_STORE: Mapping[str, str] = MappingProxyType({"Cache-Control": "no-store", "Pragma": "no-cache"})

DEFAULT_METHODS: tuple[str, ...] = ("GET",)


class JSONRoute(Route):
    """A route whose every answer, errors included, is JSON."""


def route(path: str, endpoint: Callable[..., Any], *, name: str, methods: Sequence[str] = DEFAULT_METHODS,
          json: bool = False, json_path: str | None = None) -> list[BaseRoute]:
    """The route of a page; with ``json=True`` also its JSON twin, ``name + "_json"`` at
    ``json_path`` (default ``path + ".json"``).

    The twin comes first, so ``/policies/{id}.json`` is not taken for the page ``/policies/{id}``.
    """
    page = Route(path, endpoint, name=name, methods=list(methods))
    if not json and json_path is None:
        return [page]
    twin = JSONRoute(json_path or path + ".json", endpoint, name=name + "_json", methods=list(methods))
    return [twin, page]


def json_route(path: str, endpoint: Callable[..., Any], *, name: str,
               methods: Sequence[str] = DEFAULT_METHODS) -> JSONRoute:
    """An endpoint that speaks only JSON (no page twin)."""
    return JSONRoute(path, endpoint, name=name, methods=list(methods))


def matched_route(scope: Scope) -> BaseRoute | None:
    """The route the request is (or will be) handled by, also when asked from a middleware that
    runs before routing: a full match, else the route that matched the path but not the method."""
    found = scope.get("route")
    if found is not None:
        return found
    partial = None
    for candidate in getattr(scope.get("app"), "routes", ()):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return candidate
        if match is Match.PARTIAL and partial is None:
            partial = candidate
    return partial


def wants_json(request: Request) -> bool:
    """Answer in JSON (errors too)? See the module docstring for the rules."""
    if isinstance(matched_route(request.scope), JSONRoute):
        return True
    path = request.url.path
    accept = request.headers.get("accept", "")
    if path.endswith(".json"):
        return True
    if path.endswith(".csv"):
        return "text/html" not in accept
    return "application/json" in accept and "text/html" not in accept


def json_default(value: Any) -> Any:
    """The JSON form of what :mod:`json` does not know: amounts, dates and times."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return local(value).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# orjson: the same bytes as json.dumps(ensure_ascii=False, separators=(",", ":")) for what the app
# renders, 10x faster (a personal answer of 47 lines: 74 → 5 µs, docs/benchmarks.md). Dates, times
# and dataclasses go through json_default as with json; keys that are not strings become strings
# as with json; NaN and infinities become null (json raised).
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class AppJSONResponse(JSONResponse):
    """Starlette's JSON response (UTF-8, compact, no NaN) with :func:`json_default`."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=json_default, option=_ORJSON_OPTIONS)


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A JSON answer with the one encoder."""
    return AppJSONResponse(data, status_code=status, headers=headers)


def json_bytes_response(body: bytes, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer already encoded (by the same encoder, or assembled from its output)."""
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def path_for(request: Request, name: str, /, **path_params: Any) -> str:
    """The root-relative path of a named route, e.g. ``path_for(request, "policy", id="p1")``."""
    return request.url_for(name, **path_params).path


@pass_context
def _url_for(context: Mapping[str, Any], name: str, /, **path_params: Any) -> str:
    return path_for(context["request"], name, **path_params)


SHARED_TEMPLATES = str(Path(__file__).resolve().parent / "templates")
"""Partials both apps include (``_bar_chart.html``); each app loads this folder after its own."""


def install_url_for(templates: Jinja2Templates) -> Jinja2Templates:
    """Make ``url_for(name, **params)`` in templates return :func:`path_for`'s root-relative path."""
    templates.env.globals["url_for"] = _url_for
    return templates
