"""Subscriptions over graphql-transport-ws on a real server, fed by the live-update hub."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.helpers import auth, create_article, register
from tests.live_support import Served, add_comment, close_code, serving

PROTOCOL = "graphql-transport-ws"
COMMENT_ADDED = (
    "subscription($slug: String!) { commentAdded(slug: $slug) "
    "{ id createdAt updatedAt body author { username bio image following } } }"
)
NOTIFICATIONS = (
    "subscription { notifications { id type createdAt read "
    "actor { username bio image following } article { slug title } comment { id body } } }"
)


@pytest.fixture
async def served(db: Database, settings: Settings, tokens: TokenCodec) -> AsyncIterator[Served]:
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
    async with serving(app) as running:
        yield running


@pytest.fixture
async def api(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.api_url, timeout=10) as http:
        yield http


def _url(served: Served) -> str:
    return f"ws://127.0.0.1:{served.port}/graphql"


async def _send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def _receive(ws: ClientConnection, wait: float = 5.0) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), wait))
        if message.get("type") not in ("ping", "pong"):
            return message


@contextlib.asynccontextmanager
async def _session(
    served: Served, payload: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[ClientConnection]:
    async with connect(
        _url(served), subprotocols=[PROTOCOL], additional_headers=headers, open_timeout=5
    ) as ws:
        assert ws.subprotocol == PROTOCOL
        await _send(ws, {"type": "connection_init", "payload": payload or {}})
        assert (await _receive(ws))["type"] == "connection_ack"
        yield ws


async def _subscribe(
    served: Served, ws: ClientConnection, query: str, variables: dict[str, Any] | None = None
) -> None:
    """Subscribe and wait until the hub has the subscription's connection."""
    hub = served.app.state.live.hub
    before = hub.connections
    payload = {"query": query, "variables": variables or {}}
    await _send(ws, {"id": "1", "type": "subscribe", "payload": payload})
    for _ in range(300):
        if hub.connections > before:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the subscription never reached the hub")


async def test_comment_added_through_rest_arrives_as_the_reader_lists_it(
    served: Served, api: httpx.AsyncClient
) -> None:
    author = await register(api, "author")
    reader = await register(api, "reader")
    slug = (await create_article(api, author))["slug"]
    assert (await api.post("/profiles/author/follow", headers=auth(reader))).status_code == 200
    async with _session(served, {"authorization": f"Token {reader}"}) as ws:
        await _subscribe(served, ws, COMMENT_ADDED, {"slug": slug})
        comment = await add_comment(api, author, slug, "Live!")
        pushed = await _receive(ws)
        assert pushed["type"] == "next"
        assert pushed["id"] == "1"
        added = pushed["payload"]["data"]["commentAdded"]
        listed = (await api.get(f"/articles/{slug}/comments", headers=auth(reader))).json()
        assert added == listed["comments"][0]
        assert added["id"] == comment["id"]
        assert added["author"]["following"] is True
        # The article goes: the subscription completes.
        assert (await api.delete(f"/articles/{slug}", headers=auth(author))).status_code == 204
        assert await _receive(ws) == {"id": "1", "type": "complete"}
    assert served.app.state.live.hub.connections == 0


async def test_a_bearer_header_on_the_handshake_authenticates(
    served: Served, api: httpx.AsyncClient
) -> None:
    author = await register(api, "author")
    slug = (await create_article(api, author))["slug"]
    async with _session(served, headers={"Authorization": f"Bearer {author}"}) as ws:
        await _subscribe(served, ws, COMMENT_ADDED, {"slug": slug})
        await add_comment(api, author, slug, "Mine")
        pushed = await _receive(ws)
        assert pushed["payload"]["data"]["commentAdded"]["body"] == "Mine"


async def test_notifications_of_the_signed_in_reader(
    served: Served, api: httpx.AsyncClient
) -> None:
    reader = await register(api, "reader")
    fan = await register(api, "fan")
    async with _session(served, {"authorization": f"Token {reader}"}) as ws:
        await _subscribe(served, ws, NOTIFICATIONS)
        assert (await api.post("/profiles/reader/follow", headers=auth(fan))).status_code == 200
        pushed = await _receive(ws, wait=10)
        notification = pushed["payload"]["data"]["notifications"]
        listed = (await api.get("/notifications", headers=auth(reader))).json()
        assert notification == listed["notifications"][0]
        assert notification["type"] == "follow"
        assert notification["actor"]["username"] == "fan"


async def test_subscriptions_need_a_user(served: Served, api: httpx.AsyncClient) -> None:
    author = await register(api, "author")
    slug = (await create_article(api, author))["slug"]
    async with _session(served) as ws:
        payload = {"query": COMMENT_ADDED, "variables": {"slug": slug}}
        await _send(ws, {"id": "1", "type": "subscribe", "payload": payload})
        answer = await _receive(ws)
    errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
    assert errors[0]["extensions"] == {
        "code": "UNAUTHENTICATED",
        "errors": {"token": ["is missing"]},
    }


async def test_an_unknown_article_is_not_found(served: Served, api: httpx.AsyncClient) -> None:
    reader = await register(api, "reader")
    async with _session(served, {"authorization": f"Token {reader}"}) as ws:
        payload = {"query": COMMENT_ADDED, "variables": {"slug": "nope"}}
        await _send(ws, {"id": "1", "type": "subscribe", "payload": payload})
        answer = await _receive(ws)
    errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
    assert errors[0]["extensions"] == {"code": "NOT_FOUND", "errors": {"article": ["not found"]}}


async def test_an_invalid_token_in_connection_init_closes_the_socket(served: Served) -> None:
    async with connect(_url(served), subprotocols=[PROTOCOL], open_timeout=5) as ws:
        await _send(ws, {"type": "connection_init", "payload": {"authorization": "Token bad"}})
        assert await close_code(ws) == 4403


async def test_subscriptions_count_against_the_live_connection_cap(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    capped = settings.model_copy(update={"live_max_connections_per_user": 1})
    app = create_app(container=Container(settings=capped, db=db, tokens=tokens))
    async with serving(app) as served, httpx.AsyncClient(base_url=served.api_url) as api:
        reader = await register(api, "reader")
        async with _session(served, {"authorization": f"Token {reader}"}) as ws:
            await _subscribe(served, ws, NOTIFICATIONS)
            await _send(ws, {"id": "2", "type": "subscribe", "payload": {"query": NOTIFICATIONS}})
            answer = await _receive(ws)
            assert answer["id"] == "2"
            errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
            assert errors[0]["extensions"]["code"] == "RATE_LIMITED"
            assert errors[0]["extensions"]["errors"] == {"subscriptions": ["at most 1 per user"]}
            await _send(ws, {"id": "1", "type": "complete"})
            for _ in range(300):
                if app.state.live.hub.connections == 0:
                    break
                await asyncio.sleep(0.01)
            assert app.state.live.hub.connections == 0
