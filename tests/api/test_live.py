"""Live updates over WebSockets (GET /api/ws), against a real uvicorn server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.live.updates import LiveUpdates
from conduit.settings import Settings
from tests.helpers import auth, create_article, register
from tests.live_support import (
    NOTIFICATION,
    Served,
    add_comment,
    close_code,
    frame,
    send,
    serving,
    signed_in,
    subscribe,
)


def positioned(message: dict[str, Any]) -> dict[str, Any]:
    """An article message less its ``eventId`` and ``cursor``, which it must carry."""
    assert isinstance(message.pop("eventId"), str), message
    assert isinstance(message.pop("cursor"), str), message
    return message


@pytest.fixture
async def served(db: Database, settings: Settings, tokens: TokenCodec) -> AsyncIterator[Served]:
    tuned = settings.model_copy(
        update={
            "live_auth_timeout_seconds": 0.5,
            "live_max_connections_per_user": 2,
            "live_max_subscriptions": 3,
            "live_send_queue": 4,
        }
    )
    app = create_app(container=Container(settings=tuned, db=db, tokens=tokens))
    async with serving(app) as running:
        yield running


@pytest.fixture
async def api(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.api_url, timeout=10) as http:
        yield http


async def test_auth_with_a_valid_token_is_ready(served: Served, api: httpx.AsyncClient) -> None:
    token = await register(api, "reader")
    async with signed_in(served.ws_url, token) as ws:
        await send(ws, {"type": "ping"})
        assert await frame(ws) == {"type": "pong"}


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "token": "not-a-jwt"},
        {"type": "auth"},
        {"type": "subscribe", "article": "x"},
        "not json at all",
    ],
)
async def test_a_bad_or_missing_token_closes_4401(served: Served, first: object) -> None:
    async with connect(served.ws_url) as ws:
        await ws.send(first if isinstance(first, str) else orjson.dumps(first).decode())
        assert await close_code(ws) == 4401


async def test_the_auth_frame_carries_the_bare_token(
    served: Served, api: httpx.AsyncClient
) -> None:
    """What follows the scheme in an Authorization header, exactly: an empty token is
    invalid (as in the header), and the header's own form is not a token."""
    token = await register(api, "reader")
    for sent in ("", "   ", f"Token {token}", f"Bearer {token}", f" {token} "):
        async with connect(served.ws_url) as ws:
            await send(ws, {"type": "auth", "token": sent})
            assert await close_code(ws) == 4401, sent


async def test_no_auth_within_the_timeout_closes_4401(served: Served) -> None:
    async with connect(served.ws_url) as ws:
        assert await close_code(ws) == 4401


async def test_subscriber_receives_comments_and_article_changes(
    served: Served, api: httpx.AsyncClient
) -> None:
    author = await register(api, "author")
    reader = await register(api, "reader")
    slug = (await create_article(api, author))["slug"]
    assert (await api.post("/profiles/author/follow", headers=auth(reader))).status_code == 200
    async with signed_in(served.ws_url, reader) as ws:
        await subscribe(ws, slug)
        comment = await add_comment(api, author, slug, "Live!")
        pushed = positioned(await frame(ws))
        assert pushed["type"] == "comment.created"
        assert pushed["article"] == slug
        # The comment as REST shows it to this reader (who follows the author).
        listed = (await api.get(f"/articles/{slug}/comments", headers=auth(reader))).json()
        assert pushed["comment"] == listed["comments"][0]
        assert pushed["comment"]["id"] == comment["id"]
        assert pushed["comment"]["author"]["following"] is True

        deleted = await api.delete(
            f"/articles/{slug}/comments/{comment['id']}", headers=auth(author)
        )
        assert deleted.status_code == 204
        assert positioned(await frame(ws)) == {
            "type": "comment.deleted",
            "article": slug,
            "id": comment["id"],
        }

        updated = await api.put(
            f"/articles/{slug}", json={"article": {"title": "New title"}}, headers=auth(author)
        )
        assert updated.status_code == 200
        assert positioned(await frame(ws)) == {
            "type": "article.updated",
            "article": slug,
            "title": "New title",
            "changed": ["title"],
        }
        assert (await api.delete(f"/articles/{slug}", headers=auth(author))).status_code == 204
        assert positioned(await frame(ws)) == {"type": "article.deleted", "article": slug}


async def test_following_flag_is_per_reader(served: Served, api: httpx.AsyncClient) -> None:
    author = await register(api, "author")
    fan = await register(api, "fan")
    other = await register(api, "other")
    slug = (await create_article(api, author))["slug"]
    await api.post("/profiles/author/follow", headers=auth(fan))
    async with signed_in(served.ws_url, fan) as ws_fan, signed_in(served.ws_url, other) as ws_other:
        await subscribe(ws_fan, slug)
        await subscribe(ws_other, slug)
        await add_comment(api, author, slug, "Hello")
        assert (await frame(ws_fan))["comment"]["author"]["following"] is True
        assert (await frame(ws_other))["comment"]["author"]["following"] is False


async def test_unsubscribe_stops_the_pushes(served: Served, api: httpx.AsyncClient) -> None:
    author = await register(api, "author")
    slug = (await create_article(api, author))["slug"]
    other_slug = (await create_article(api, author, title="Other"))["slug"]
    async with signed_in(served.ws_url, author) as ws:
        await subscribe(ws, slug)
        await subscribe(ws, other_slug)
        await send(ws, {"type": "unsubscribe", "article": slug})
        assert await frame(ws) == {"type": "unsubscribed", "article": slug}
        await add_comment(api, author, slug, "Nobody hears this")
        await add_comment(api, author, other_slug, "This one is heard")
        pushed = await frame(ws)
        # Pushes keep their order: had the first comment been sent, it would come first.
        assert (pushed["article"], pushed["comment"]["body"]) == (other_slug, "This one is heard")


async def test_subscribe_errors(served: Served, api: httpx.AsyncClient) -> None:
    author = await register(api, "author")
    slugs = [(await create_article(api, author, title=f"T{n}"))["slug"] for n in range(4)]
    async with signed_in(served.ws_url, author) as ws:
        await send(ws, {"type": "subscribe", "article": "no-such-article"})
        assert await frame(ws) == {"type": "error", "error": "subscribe: article not found"}
        await send(ws, {"type": "subscribe", "article": 7})
        assert (await frame(ws))["type"] == "error"
        for slug in slugs[:3]:
            await subscribe(ws, slug)
        await send(ws, {"type": "subscribe", "article": slugs[3]})
        assert await frame(ws) == {
            "type": "error",
            "error": "subscribe: at most 3 articles per connection",
        }


async def test_invalid_json_and_unknown_types_get_an_error(
    served: Served, api: httpx.AsyncClient
) -> None:
    token = await register(api, "reader")
    async with signed_in(served.ws_url, token) as ws:
        for bad in ("{not json", "[1, 2]", '"text"', '{"no": "type"}', '{"type": "dance"}'):
            await ws.send(bad)
            reply = await frame(ws)
            assert reply["type"] == "error", (bad, reply)
            assert isinstance(reply["error"], str)
        await ws.send(b'{"type": "ping"}')  # a binary frame is read as JSON too
        assert await frame(ws) == {"type": "pong"}
        await send(ws, {"type": "ping"})
        assert await frame(ws) == {"type": "pong"}  # still connected, still answering


async def test_a_frame_over_64_kib_closes_1009(served: Served, api: httpx.AsyncClient) -> None:
    token = await register(api, "reader")
    async with signed_in(served.ws_url, token) as ws:
        await send(ws, {"type": "ping", "padding": "x" * 64 * 1024})
        assert await close_code(ws) == 1009


async def test_connections_over_the_per_user_cap_close_4429(
    served: Served, api: httpx.AsyncClient
) -> None:
    token = await register(api, "reader")
    async with (
        signed_in(served.ws_url, token),
        signed_in(served.ws_url, token),
        connect(served.ws_url) as third,
    ):
        await send(third, {"type": "auth", "token": token})
        assert await close_code(third) == 4429
    # Closed connections no longer count.
    async with signed_in(served.ws_url, token) as ws:
        await send(ws, {"type": "ping"})
        assert await frame(ws) == {"type": "pong"}


async def test_a_client_that_does_not_read_is_dropped_and_others_still_receive(
    served: Served, api: httpx.AsyncClient
) -> None:
    author = await register(api, "author")
    slow_token = await register(api, "slow")
    slug = (await create_article(api, author))["slug"]
    live: LiveUpdates = served.app.state.live
    big = "x" * 60_000
    # A small receive buffer (no autotuning up to tens of MB) so that its pipe fills quickly.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.connect(("127.0.0.1", served.port))
    sock.setblocking(False)
    async with (
        signed_in(served.ws_url, author) as fast,
        connect(served.ws_url, sock=sock, max_queue=1, max_size=None, compression=None) as slow,
    ):
        await send(slow, {"type": "auth", "token": slow_token})
        assert await frame(slow) == {"type": "ready"}
        await subscribe(slow, slug)
        await subscribe(fast, slug)
        # The slow client stops reading; fill its pipe with large pushes until it is dropped.
        for n in range(400):
            message = {"type": "comment.deleted", "article": slug, "id": n, "padding": big}
            await live.hub.deliver(orjson.dumps({"article": slug, "message": message}))
            pushed = await frame(fast)  # the reading client gets every push, in order
            assert pushed["id"] == n
            if live.hub.connections == 1:
                break
        for _ in range(100):  # its task gives the close frame a second, then cuts it off
            if live.hub.connections == 1:
                break
            await asyncio.sleep(0.05)
        assert live.hub.connections == 1, "the slow client was never dropped"
        assert await close_code(slow, wait=10) in (4408, 1006)
        # And the fast client goes on receiving, through the real write path as well.
        await add_comment(api, author, slug, "still here")
        assert (await frame(fast))["comment"]["body"] == "still here"


async def test_server_pings_an_idle_client(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    tuned = settings.model_copy(update={"live_ping_seconds": 0.2})
    app = create_app(container=Container(settings=tuned, db=db, tokens=tokens))
    async with serving(app) as running, httpx.AsyncClient(base_url=running.api_url) as api:
        token = await register(api, "reader")
        async with signed_in(running.ws_url, token) as ws:
            raw = await asyncio.wait_for(ws.recv(), 3)
            assert orjson.loads(raw) == {"type": "ping"}


async def test_a_notification_is_pushed_to_its_recipient(
    served: Served, api: httpx.AsyncClient
) -> None:
    author = await register(api, "author")
    fan = await register(api, "fan")
    async with (
        signed_in(served.ws_url, author) as ws_author,
        signed_in(served.ws_url, fan) as ws_fan,
    ):
        assert (await api.post("/profiles/author/follow", headers=auth(fan))).status_code == 200
        # conduit serve's embedded relay delivers the follow to the notifications consumer,
        # whose commit pushes the notification it wrote.
        pushed = await frame(ws_author, wait=5, kinds=NOTIFICATION)
        listed = (await api.get("/notifications", headers=auth(author))).json()
        assert pushed == {"type": "notification", "notification": listed["notifications"][0]}
        assert pushed["notification"]["type"] == "follow"
        await send(ws_fan, {"type": "ping"})
        assert await frame(ws_fan) == {"type": "pong"}  # the follower is not notified
