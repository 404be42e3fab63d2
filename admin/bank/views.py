"""The bank pages: the forms of ``bank_export``, ``bank_import``, ``correct_failed``, ``reissue`` and
``return_unpaid`` (the batch page lists them, with these URLs, from ``workflow.available_actions``).

- ``GET /batches/{id}/bank/export?file=…&format=xlsx|csv`` — the bank file as a download,
  ``Cache-Control: no-store``; built in memory, never stored on the server, never logged.
- ``POST /batches/{id}/bank/import`` (multipart ``file``) — the bank's result file.
- ``POST /batches/{id}/results/correct|reissue|return`` — the failed-line actions.

Each POST answers like the other admin forms: 303 back to the batch page with a flash message,
or with ``Accept: application/json`` the result (or ``{"error": {code, message, field|row}}``).
A refusal for role or scope is a 403 page; nothing is changed by any refusal (the transaction
rolls back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin.access.auth import current_actor
from admin.bank import files, results, service
from admin.bank.files import BankFileError
from admin.actions import WorkflowError
from admin.web import flash, form_data, json_response, path_id, read_upload, redirect, refused, services, wants_json
from core.timeutil import today

__all__ = ["routes"]


def _refused(request: Request, batch_id: int, status: int, error: dict[str, Any]) -> Response:
    """A refused form: 403/404 as an error page; otherwise back to the batch page with the reason."""
    return refused(request, status, error, f"/batches/{batch_id}")


async def bank_export(request: Request) -> Response:
    actor = await current_actor(request)
    batch_id = path_id(request, "batch_id")
    file_id, fmt = request.query_params.get("file", ""), request.query_params.get("format", "xlsx")
    config = services(request).config

    def build(session: Session) -> service.BankFile:
        return service.export_file(session, config, actor, batch_id, file_id=file_id, fmt=fmt, today=today())

    try:
        exported = await services(request).db.run(build)
    except WorkflowError as error:
        return _refused(request, batch_id, error.status, error.as_dict())
    return Response(exported.data, media_type=exported.media_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(exported.filename)}",
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


async def bank_import(request: Request) -> Response:
    actor = await current_actor(request)
    batch_id = path_id(request, "batch_id")
    _form, data, filename = await read_upload(request, files.MAX_FILE_BYTES)
    config = services(request).config

    def run(session: Session) -> service.ImportResult:
        return service.import_results(session, config, actor, data, filename, today(), batch_id=batch_id)

    try:
        outcome = await services(request).db.run(run)
    except WorkflowError as error:
        return _refused(request, batch_id, error.status, error.as_dict())
    except BankFileError as error:
        return _refused(request, batch_id, 400, {**error.as_dict(), "message": "结果文件未导入：" + error.message})
    if wants_json(request):
        return json_response(outcome.as_dict())
    flash(request, outcome.message)
    return redirect(f"/batches/{batch_id}")


def _result_action(act: Callable[[Session, Any, Any, int, dict[str, Any]], Any]) -> Callable[[Request], Any]:
    async def view(request: Request) -> Response:
        actor = await current_actor(request)
        batch_id = path_id(request, "batch_id")
        form = await form_data(request)
        values = {key: value for key, value in form.items() if isinstance(value, str)}
        config = services(request).config
        try:
            result = await services(request).db.run(lambda session: act(session, config, actor, batch_id, values))
        except WorkflowError as error:
            return _refused(request, batch_id, error.status, error.as_dict())
        if wants_json(request):
            return json_response(result.as_dict())
        flash(request, result.message)
        return redirect(f"/batches/{batch_id}")

    return view


correct_view = _result_action(lambda s, config, actor, batch_id, form:
                              results.correct_failed(s, config, actor, batch_id, form, today()))
reissue_view = _result_action(lambda s, config, actor, batch_id, form:
                              results.reissue(s, actor, batch_id, form, today()))
return_view = _result_action(lambda s, config, actor, batch_id, form:
                             results.return_unpaid(s, actor, batch_id, form, today()))


def routes() -> list[Route]:
    return [
        Route("/batches/{batch_id}/bank/export", bank_export, methods=["GET"], name="bank_export"),
        Route("/batches/{batch_id}/bank/import", bank_import, methods=["POST"], name="bank_import"),
        Route("/batches/{batch_id}/results/correct", correct_view, methods=["POST"], name="correct_view"),
        Route("/batches/{batch_id}/results/reissue", reissue_view, methods=["POST"], name="reissue_view"),
        Route("/batches/{batch_id}/results/return", return_view, methods=["POST"], name="return_view"),
    ]
