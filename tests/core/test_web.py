"""The shared web toolkit (core/web.py): routes with JSON twins, wants_json, the JSON encoder,
root-relative url_for."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from core.web import JSONRoute, json_response, json_route, path_for, route, wants_json


async def page(request: Request) -> Response:
    if wants_json(request):
        return json_response({"path": request.url.path, "link": path_for(request, "item", id="a1")})
    return PlainTextResponse("page " + path_for(request, "item", id="a1"))


async def answer(request: Request) -> Response:
    return json_response({"amount": Decimal("1234.5"), "day": date(2024, 6, 18),
                          "at": datetime(2024, 6, 18, 1, 2, 3, tzinfo=timezone.utc), "name": "王秀英"})


async def error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if wants_json(request):
        return json_response({"error": exc.status_code}, status=exc.status_code)
    return PlainTextResponse("错误", status_code=exc.status_code)


class RefusePut:
    """A middleware that answers before routing, as the portal's body limit does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "PUT":
            request = Request(scope, receive)
            response = json_response({"error": 413}, status=413) if wants_json(request) else \
                PlainTextResponse("太大", status_code=413)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def make_app() -> Starlette:
    routes = [
        *route("/items", page, name="items", methods=["GET"], json=True),
        *route("/items/{id}", page, name="item", methods=["GET"], json=True),
        *route("/", page, name="home", methods=["GET"], json_path="/home.json"),
        json_route("/api/answer", answer, name="answer", methods=["POST"]),
        Mount("/sub", routes=route("/x", page, name="sub_x", methods=["GET"])),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: error}, middleware=[Middleware(RefusePut)])


def test_route_declares_the_twin_first_with_names_and_methods() -> None:
    twin, page_route = route("/items/{id}", page, name="item", methods=["GET"], json=True)
    assert isinstance(twin, JSONRoute) and twin.path == "/items/{id}.json" and twin.name == "item_json"
    assert not isinstance(page_route, JSONRoute) and page_route.name == "item"
    assert page_route.methods == twin.methods == {"GET", "HEAD"}
    only = route("/x", page, name="x", methods=["POST"])
    assert len(only) == 1 and isinstance(only[0], Route) and only[0].methods == {"POST"}


def test_page_and_twin_answer_from_one_view() -> None:
    with TestClient(make_app()) as client:
        assert client.get("/items/a1").text == "page /items/a1"
        assert client.get("/items/a1.json").json() == {"path": "/items/a1.json", "link": "/items/a1"}
        assert client.get("/home.json").json()["path"] == "/home.json"
        assert client.get("/", headers={"Accept": "application/json"}).json()["path"] == "/"
        assert client.get("/sub/x").text == "page /items/a1"


def test_json_routes_answer_errors_in_json_even_before_their_view_runs() -> None:
    with TestClient(make_app()) as client:
        assert client.get("/api/answer").json() == {"error": 405}  # router: wrong method
        assert client.put("/api/answer").json() == {"error": 413}  # middleware: before routing
        assert client.delete("/items.json").json() == {"error": 405}
        assert client.get("/nothing.json").json() == {"error": 404}  # no route: the .json path
        assert client.put("/items").text == "太大"  # a page: a page
        assert client.get("/nothing").text == "错误"
        assert client.get("/nothing", headers={"Accept": "application/json"}).json() == {"error": 404}


def test_csv_downloads_answer_programs_in_json_and_browsers_with_a_page() -> None:
    with TestClient(make_app()) as client:
        assert client.get("/nothing.csv").json() == {"error": 404}
        assert client.get("/nothing.csv", headers={"Accept": "text/html"}).text == "错误"


def test_one_encoder_for_amounts_dates_and_times_in_shanghai() -> None:
    with TestClient(make_app()) as client:
        response = client.post("/api/answer")
        assert response.json() == {"amount": "1234.50", "day": "2024-06-18", "at": "2024-06-18T09:02:03+08:00",
                                   "name": "王秀英"}
        assert "王秀英" in response.content.decode("utf-8")  # not \\u-escaped
