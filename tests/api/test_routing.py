"""Feature routes go into the app's own route list: same documents, same answers."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Response

from conduit.articles.router import router as articles_router
from conduit.web import JSONReply, PrefixedRoute, add_routes


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
    assert all(isinstance(route, PrefixedRoute) for route in added.router.routes[4:])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/things/lamp"),
        ("POST", "/api/things"),
        ("DELETE", "/api/things/lamp"),
        ("GET", "/api/things/lamp/parts/bulb/socket"),
        ("PUT", "/api/things/lamp"),  # 405, with the methods that exist
        ("GET", "/api/thing/lamp"),  # 404
        ("GET", "/api/things/"),  # an empty path parameter: 404
    ],
)
async def test_every_request_gets_the_answer_include_router_gives(method: str, path: str) -> None:
    answers: list[tuple[int, Any, str | None]] = []
    for app in _apps():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.request(method, path)
        answers.append((response.status_code, response.text, response.headers.get("allow")))
    assert answers[1] == answers[0]
    assert answers[0][0] != 500


async def test_behind_a_path_prefix_the_routes_still_match() -> None:
    """With a root_path (a proxy serving Conduit under /conduit) the pattern decides."""
    _, added = _apps()
    transport = httpx.ASGITransport(app=added, root_path="/conduit")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/conduit/api/things/lamp")
    assert response.status_code == 200
    assert response.json() == {"thing": "lamp", "owner": "me"}
