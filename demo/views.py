"""What demo mode attaches to the admin app (cli/apps.py wires it in demo mode only):

- `routes()`: the clerk's sample roster file, `/demo/roster.xlsx` (404 before a demo build);
- `login_notes(config)`: the demo accounts to log in with, under the login form, with a link to
  that roster.

Outside demo mode neither exists: the admin app knows nothing of them (DESIGN.md "Demo mode").
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin.web import XLSX, services
from core.config import Config
from demo.accounts import demo_accounts, roster_file

__all__ = ["login_notes", "routes"]

_templates = Environment(loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
                         autoescape=True)


async def demo_roster(request: Request) -> Response:
    config = services(request).config
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
    return [Route("/demo/roster.xlsx", demo_roster, methods=["GET"], name="demo_roster")]


def login_notes(config: Config) -> Sequence[Markup]:
    """The demo accounts (one per role, one password), once a demo build has created them."""
    accounts = demo_accounts(config)
    if not accounts:
        return ()
    return (Markup(_templates.get_template("login_accounts.html").render(accounts=accounts)),)
