"""A bare Starlette hello-world: the ceiling to compare the portal's figures with.

    .venv/bin/uvicorn loadtests.hello:app --port 8099 --log-level warning
    .venv/bin/locust -f loadtests/locustfile.py HelloUser --headless -u 50 -r 50 -t 20s -H http://127.0.0.1:8099
"""

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request):
    return PlainTextResponse("你好")


app = Starlette(routes=[Route("/", hello)])


def create_app() -> Starlette:
    """The app as a factory: served by `cli.serve.serve_public` like the portal (make bench)."""
    return app
