"""Feature routes go into the app's own route list: same documents, same answers."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Body, Depends, FastAPI, Response, WebSocket

from conduit.articles.router import router as articles_router
from conduit.http.kit import JSONReply
from conduit.http.routing import AppRoute, add_routes


def _me() -> str:
    return "me"


async def _owner(who: Annotated[str, Depends(_me)]) -> str:
    return who


Owner = Annotated[str, Depends(_owner)]


def _feature_router() -> APIRouter:
    """A router with what Conduit's feature routers use: tags, path parameters,
    dependencies, documented errors, status codes, other response classes, extra OpenAPI."""
    router = APIRouter(tags=["Things"])

    @router.get("/things/{name}", responses={404: {"description": "Not Found"}})
    async def get_thing(name: str, who: Owner) -> JSONReply:
        return JSONReply({"thing": name, "owner": who})

    @router.post("/things", status_code=201, summary="Make a thing", operation_id="MakeThing")
    async def make_thing() -> JSONReply:
        return JSONReply({"made": True}, status_code=201)

    @router.delete("/things/{name}", response_class=Response, openapi_extra={"x-kind": "gone"})
    async def delete_thing(name: str) -> Response:
        return Response(status_code=204)

    @router.post("/things/{name}/notes", max_body_size=16)
    async def add_note(name: str, note: Annotated[dict[str, str], Body()]) -> JSONReply:
        return JSONReply({"thing": name, "note": note})

    @router.get("/things/{name}/parts/{part:path}", include_in_schema=False)
    async def get_part(name: str, part: str) -> JSONReply:
        return JSONReply({"thing": name, "part": part})

    return router


def _apps() -> tuple[FastAPI, FastAPI]:
    included, added = FastAPI(), FastAPI()
    included.include_router(_feature_router(), prefix="/api")
    included.include_router(articles_router, prefix="/api")
    add_routes(added, _feature_router(), prefix="/api")
    add_routes(added, articles_router, prefix="/api")
    return included, added


def test_the_openapi_document_is_the_one_include_router_gives() -> None:
    included, added = _apps()
    assert added.openapi() == included.openapi()
    api_routes = [r for r in added.router.routes if getattr(r, "path", "").startswith("/api/")]
    assert len(api_routes) == 5 + len(articles_router.routes)
    assert all(isinstance(route, AppRoute) for route in api_routes)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/things/lamp", None),
        ("POST", "/api/things", None),
        ("DELETE", "/api/things/lamp", None),
        ("GET", "/api/things/lamp/parts/bulb/socket", None),
        ("POST", "/api/things/lamp/notes", {"a": "b"}),  # within the route's body limit
        ("POST", "/api/things/lamp/notes", {"a": "b" * 40}),  # over it: 413
        ("PUT", "/api/things/lamp", None),  # 405, with the methods that exist
        ("GET", "/api/thing/lamp", None),  # 404
        ("GET", "/api/things/", None),  # an empty path parameter: 404
    ],
)
async def test_every_request_gets_the_answer_include_router_gives(
    method: str, path: str, body: dict[str, str] | None
) -> None:
    answers: list[tuple[int, Any, str | None]] = []
    for app in _apps():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.request(method, path, json=body)
        answers.append((response.status_code, response.text, response.headers.get("allow")))
    assert answers[1] == answers[0]
    assert answers[0][0] != 500
    if body and len(body["a"]) > 1:
        assert answers[0][0] == 413  # the route's own body limit came along


async def test_behind_a_path_prefix_the_routes_still_match() -> None:
    """With a root_path (a proxy serving Conduit under /conduit) the pattern decides."""
    _, added = _apps()
    transport = httpx.ASGITransport(app=added, root_path="/conduit")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/conduit/api/things/lamp")
    assert response.status_code == 200
    assert response.json() == {"thing": "lamp", "owner": "me"}


def test_what_it_cannot_carry_over_is_refused_not_dropped() -> None:
    """Websockets and start-up handlers belong to include_router: refused, not lost."""
    sockets = APIRouter()

    @sockets.websocket("/live")
    async def live(websocket: WebSocket) -> None:
        await websocket.close()

    with pytest.raises(TypeError, match="only plain API routes"):
        add_routes(FastAPI(), sockets)
    starting = APIRouter(on_startup=[lambda: None])
    with pytest.raises(TypeError, match="start-up or shutdown"):
        add_routes(FastAPI(), starting)


def test_only_routes_with_simple_parameters_get_a_plan() -> None:
    """A sync dependency, a body or a returned dict for FastAPI to serialize: its handler."""
    router = _feature_router()

    @router.get("/things/{name}/size")
    async def size(name: str, unit: str | None = None) -> dict[str, str | None]:
        return {"thing": name, "unit": unit}

    _, added = _apps()
    add_routes(added, router, prefix="/v2")
    plans = {
        (sorted(route.methods)[0], route.path): route.plan is not None
        for route in added.router.routes
        if isinstance(route, AppRoute) and route.path.startswith("/v2/")
    }
    assert plans == {
        ("GET", "/v2/things/{name}"): False,  # its dependency's dependency is sync
        ("POST", "/v2/things"): True,
        ("DELETE", "/v2/things/{name}"): True,
        ("POST", "/v2/things/{name}/notes"): False,  # a body
        ("GET", "/v2/things/{name}/parts/{part:path}"): True,
        ("GET", "/v2/things/{name}/size"): False,  # FastAPI serializes what it returns
    }
