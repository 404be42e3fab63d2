"""Demo mode only: the clerk's sample roster file, downloadable from the login and home pages.

Outside demo mode the route answers 404 like any unknown page (DESIGN.md "Demo mode").
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin.app import services

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def demo_roster(request: Request) -> Response:
    config = services(request).config
    if not config.demo:
        raise HTTPException(404)
    from admin.demo_accounts import roster_file

    try:
        sample = await services(request).db.run(lambda session: roster_file(config, session=session))
    except LookupError:
        raise HTTPException(404) from None
    return Response(sample.data, media_type=XLSX, headers={
        # 演示花名册.xlsx
        "Content-Disposition": "attachment; filename=\"demo-roster.xlsx\"; "
                               "filename*=UTF-8''%E6%BC%94%E7%A4%BA%E8%8A%B1%E5%90%8D%E5%86%8C.xlsx",
        "Cache-Control": "no-store"})


def routes() -> list[Route]:
    return [Route("/demo/roster.xlsx", demo_roster, methods=["GET"])]
