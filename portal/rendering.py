"""Views with JSON twins: one view, two representations (as in datasette).

`/disclosures` renders HTML, `/disclosures.json` (or `Accept: application/json`) returns the
same data as JSON, so the page and the API can never disagree. Twins are declared with
`core.web.route(..., json=True)`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.web import json_response, wants_json


def respond(request: Request, template: str, context: dict[str, Any], data: Any,
            *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if wants_json(request):
        return json_response(data, status=status, headers=headers)
    return request.app.state.templates.TemplateResponse(
        request, template, {**context, "data": data}, status_code=status, headers=headers
    )
