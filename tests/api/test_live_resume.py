"""Resuming live updates after a reconnect (``subscribe`` with ``since``), on every database.

A client that reconnects with the cursor of the last message it got receives every message
of the article committed since, before live ones and once each on its socket, including an
event created before the cursor's event but committed after it (commit order is not the
outbox's seq order under concurrent writers); a cursor older than the events kept, or one
Conduit never sent, is refused with an error the client can act on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from conduit.articles.events import ArticleUpdated
from conduit.bootstrap import Container
from conduit.core import outbox
from conduit.core.db import Database
from conduit.core.events import Event
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.live.hub import Hub
from conduit.live.resume import REPLAY_MARGIN
from conduit.settings import Settings
from tests.helpers import auth, create_article, register
from tests.live_support import Served, add_comment, frame, send, serving, signed_in, subscribe


@pytest.fixture
async def served(db: Database, settings: Settings, tokens: TokenCodec) -> AsyncIterator[Served]:
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
    async with serving(app) as running:
        yield running


@pytest.fixture
async def api(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.api_url, timeout=10) as http:
        yield http


async def _resubscribe(ws: Any, slug: str, since: str) -> list[dict[str, Any]]:
    """Subscribe with ``since``; the replayed messages, after ``subscribed``."""
    await send(ws, {"type": "subscribe", "article": slug, "since": since})
    answer = await frame(ws)
    assert answer["type"] == "subscribed", answer
    assert answer["article"] == slug
    return [await frame(ws) for _ in range(answer["replayed"])]


async def test_a_reconnecting_client_gets_what_it_missed_then_live_ones(
    served: Served, api: httpx.AsyncClient
) -> None:
    author = await register(api, "author")
    reader = await register(api, "reader")
    slug = (await create_article(api, author))["slug"]
    async with signed_in(served.ws_url, reader) as ws:
        await subscribe(ws, slug)
        first = await add_comment(api, author, slug, "seen live")
        seen = await frame(ws)
        assert seen["comment"]["id"] == first["id"]
    # Offline: two comments, one deleted again, and the article renamed.
    second = await add_comment(api, author, slug, "missed")
    third = await add_comment(api, author, slug, "missed, then deleted")
    deleted = await api.delete(f"/articles/{slug}/comments/{third['id']}", headers=auth(author))
    assert deleted.status_code == 204
    renamed = await api.put(
        f"/articles/{slug}", json={"article": {"body": "new body"}}, headers=auth(author)
    )
    assert renamed.status_code == 200

    async with signed_in(served.ws_url, reader) as ws:
        replayed = await _resubscribe(ws, slug, seen["cursor"])
        # Anything replayed that the client already holds has the same eventId: dropped.
        missed = [message for message in replayed if message["eventId"] != seen["eventId"]]
        assert [(m["type"], m.get("comment", {}).get("id", m.get("id"))) for m in missed] == [
            ("comment.created", second["id"]),
            ("comment.deleted", third["id"]),  # its creation: the comment is gone
            ("article.updated", None),
        ]
        assert missed[0]["comment"]["body"] == "missed"
        assert len({message["eventId"] for message in replayed}) == len(replayed)
        # Then live messages go on, on the same socket.
        fourth = await add_comment(api, author, slug, "live again")
        live = await frame(ws)
        assert live["comment"]["id"] == fourth["id"]
        assert live["eventId"] not in {message["eventId"] for message in replayed}


async def test_an_event_committed_after_the_cursor_but_created_before_it_is_replayed(
    served: Served, api: httpx.AsyncClient, db: Database
) -> None:
    """Two writers: A's event is created (and its outbox seq could be taken) first, B's
    commits first and is pushed; A commits later. A client that got B's cursor and then
    lost its socket must still receive A."""
    author = await register(api, "author")
    slug = (await create_article(api, author))["slug"]
    late = Event.of(
        ArticleUpdated(article_id=1, slug=slug, title="A title", author_id=1, changed=["body"]),
        actor_id=None,
    )
    async with signed_in(served.ws_url, author) as ws:
        await subscribe(ws, slug)
        await add_comment(api, author, slug, "B commits first")
        pushed = await frame(ws)
    async with db.engine.begin() as conn:  # A commits now (the client is away)
        await outbox.write(conn, [late])
    async with signed_in(served.ws_url, author) as ws:
        replayed = await _resubscribe(ws, slug, pushed["cursor"])
        assert late.id in [message["eventId"] for message in replayed]


async def test_a_message_is_sent_once_on_a_socket_whether_replayed_or_live(
    served: Served, api: httpx.AsyncClient
) -> None:
    author = await register(api, "author")
    slug = (await create_article(api, author))["slug"]
    async with signed_in(served.ws_url, author) as ws:
        await subscribe(ws, slug)
        await add_comment(api, author, slug, "one")
        got = await frame(ws)
        # Resubscribing on the same socket replays nothing it was sent already.
        assert await _resubscribe(ws, slug, got["cursor"]) == []
        await send(ws, {"type": "ping"})
        assert await frame(ws) == {"type": "pong"}


def _cursor_at(moment: dt.datetime) -> str:
    stamp = f"{int(moment.replace(tzinfo=dt.UTC).timestamp() * 1000):012x}"
    return f"{stamp[:8]}-{stamp[8:]}-7abc-8def-0123456789ab"


@pytest.mark.parametrize(
    ("since", "code"),
    [
        (_cursor_at(dt.datetime.now(dt.UTC) - dt.timedelta(days=8)), "since_expired"),
        ("not-a-cursor", "since_invalid"),
        (12, "since_invalid"),
        ("6f9619ff-8b86-d011-b42d-00c04fc964ff", "since_invalid"),  # a UUID, not a cursor
    ],
    ids=["expired", "text", "number", "uuid"],
)
async def test_a_cursor_that_cannot_be_resumed_is_refused(
    served: Served, api: httpx.AsyncClient, since: object, code: str
) -> None:
    author = await register(api, "author")
    slug = (await create_article(api, author))["slug"]
    async with signed_in(served.ws_url, author) as ws:
        await send(ws, {"type": "subscribe", "article": slug, "since": since})
        refused = await frame(ws)
        assert refused["type"] == "error"
        assert (refused["code"], refused["article"]) == (code, slug)
        if code == "since_expired":
            assert "REST" in refused["error"]
        # Not subscribed: a new comment is not pushed; the socket still answers.
        await add_comment(api, author, slug, "not pushed")
        await send(ws, {"type": "ping"})
        assert await frame(ws) == {"type": "pong"}


async def test_a_cursor_just_inside_the_retention_is_accepted(
    served: Served, api: httpx.AsyncClient, settings: Settings
) -> None:
    author = await register(api, "author")
    slug = (await create_article(api, author))["slug"]
    kept = dt.timedelta(days=settings.event_retention_days)
    since = _cursor_at(dt.datetime.now(dt.UTC) - kept + REPLAY_MARGIN + dt.timedelta(minutes=1))
    async with signed_in(served.ws_url, author) as ws:
        assert await _resubscribe(ws, slug, since) == []


async def test_live_messages_held_during_a_replay_follow_it_without_repeats() -> None:
    async def nobody(_author: int, _users: object) -> set[int]:
        return set()

    hub = Hub(followers_among=nobody)
    connection = hub.connect(1)
    assert connection is not None
    hub.subscribe(connection, "a")
    connection.hold("a")

    def message(event_id: str) -> bytes:
        body = {"type": "comment.deleted", "article": "a", "id": 1, "eventId": event_id}
        return orjson.dumps({"article": "a", "message": {**body, "cursor": event_id}})

    await hub.deliver(message("e2"))
    await hub.deliver(message("e3"))
    assert connection.outbox.empty()  # held while the replay is read
    connection.remember("e1")
    connection.remember("e2")  # the replay had e1 and e2
    assert await connection.put('{"replayed": "e1"}', 1.0)
    connection.release("a")
    sent = [connection.outbox.get_nowait() for _ in range(connection.outbox.qsize())]
    assert [orjson.loads(text).get("eventId", "replay") for text in sent] == ["replay", "e3"]
