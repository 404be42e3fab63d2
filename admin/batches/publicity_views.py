"""Pages of the village publicity list (村务公开栏), admin/batches/publicity.py has the rules.

- ``GET /batches/{id}/publicity`` (+ ``.json``): the batch's villages in the operator's region, each
  with its line count, total, links to its list and the postings recorded for it;
- ``GET /batches/{id}/publicity/{village_code}`` (+ ``.json``; ``?paper=A4|A3``): the printable list
  of one village (print CSS sizes the page), the postings below it on screen;
- ``GET /batches/{id}/publicity/{village_code}.pdf`` (``?paper=A4|A3``): the same list as a PDF.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.access.auth import current_actor
from admin.batches import publicity
from admin.batches.views import batch_dict, load_batch
from admin.web import AdminError, json_response, path_id, render, services, wants_json
from core.masking import load_policy
from core.web import route

__all__ = ["routes"]


async def publicity_index(request: Request) -> Response:
    actor = await current_actor(request, "batch.view")
    batch_id = path_id(request, "batch_id")

    def load(session: Any) -> dict[str, Any]:
        batch = load_batch(session, actor, batch_id)
        return {"batch": batch, "batch_info": batch_dict(batch),
                "villages": publicity.villages(session, actor, batch)}

    data = await services(request).db.run(load)
    if wants_json(request):
        return json_response({"batch": data["batch_info"], "in_publicity": data["batch"].state in publicity.LIST_STATES,
                              "villages": [v.as_dict(batch_id) for v in data["villages"]]})
    return render(request, "batches/publicity_index.html", data)


async def _village_list(request: Request) -> tuple[publicity.VillageList, str]:
    actor = await current_actor(request, "batch.view")
    batch_id = path_id(request, "batch_id")
    paper = publicity.parse_paper(request.query_params.get("paper"))
    config = services(request).config
    try:
        masking = load_policy(config.data_dir)  # the deployment's rules, as the indexer reads them
    except ValueError as exc:
        raise AdminError(500, "masking_config", f"{exc}。请系统管理员修正后再打印。") from None

    def load(session: Any) -> publicity.VillageList:
        batch = load_batch(session, actor, batch_id)
        return publicity.village_list(session, actor, batch, request.path_params["village_code"], masking=masking,
                                      public_base_url=config.public_base_url)

    return await services(request).db.run(load), paper


async def village_page(request: Request) -> Response:
    vlist, paper = await _village_list(request)
    if wants_json(request):
        return json_response(vlist.as_dict())
    return render(request, "batches/publicity_village.html", {"list": vlist, "paper": paper})


async def village_pdf(request: Request) -> Response:
    vlist, paper = await _village_list(request)
    data = await run_in_threadpool(publicity.render_pdf, vlist, paper, demo=services(request).config.demo)
    filename = f"{vlist.village}公示名单-{vlist.batch_code}-{paper}.pdf"
    return Response(data, media_type="application/pdf", headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f"inline; filename=\"publicity-{vlist.village_code}.pdf\"; "
                               f"filename*=UTF-8''{quote(filename)}"})


def routes() -> list[BaseRoute]:
    return [
        *route("/batches/{batch_id}/publicity", publicity_index, name="publicity_index", methods=["GET"], json=True),
        Route("/batches/{batch_id}/publicity/{village_code}.pdf", village_pdf, methods=["GET"], name="village_pdf"),
        *route("/batches/{batch_id}/publicity/{village_code}", village_page, name="village_page", methods=["GET"], json=True),
    ]
