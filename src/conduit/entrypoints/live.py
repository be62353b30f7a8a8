"""``GET /api/ws``: live updates over a WebSocket (protocol in the README, "Live updates").

The client authenticates with its first frame, ``{"type": "auth", "token": "<jwt>"}``,
then may ``subscribe`` / ``unsubscribe`` to articles and ``ping``. A ``subscribe`` with
``since`` (the ``cursor`` of the last article message the client got) first replays what the
client missed, from the outbox (:mod:`conduit.live.resume`). Every frame is a JSON text frame
of at most 64 KiB. This module only speaks the protocol; routing lives in
:mod:`conduit.live.hub`, and the container starts and stops the live parts
(:class:`~conduit.live.updates.LiveUpdates`) with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketState

from conduit.core.errors import Unauthenticated
from conduit.core.principal import Principal
from conduit.live import service
from conduit.live.hub import Connection
from conduit.live.resume import ResumeRefused, resume
from conduit.live.updates import LiveUpdates

log = structlog.get_logger("conduit.live")
router = APIRouter()

MAX_FRAME_BYTES = 64 * 1024
CLOSE_TIMEOUT_SECONDS = 1.0


class Close(enum.IntEnum):
    """Every close code the server sends (documented in the README)."""

    NORMAL = 1000
    TOO_BIG = 1009  # a frame over 64 KiB
    UNAUTHENTICATED = 4401  # no valid auth message first, within the auth timeout
    TOO_SLOW = 4408  # the client did not read: its send queue filled up
    TOO_MANY_CONNECTIONS = 4429  # the user has the most connections allowed already


def _error(text: str) -> dict[str, Any]:
    return {"type": "error", "error": text}


class _TooBig(Exception):
    pass


async def _receive(websocket: WebSocket) -> Any | None:
    """The next frame as JSON (None when the client left); _TooBig over the limit.

    A frame that is not JSON comes back as the bytes/str it was, for the caller to refuse.
    """
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    raw: str | bytes | None = message.get("text")
    if raw is None:
        raw = message.get("bytes") or b""
    if len(raw) > MAX_FRAME_BYTES or (
        isinstance(raw, str) and len(raw.encode("utf-8", "replace")) > MAX_FRAME_BYTES
    ):
        raise _TooBig
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw if raw else b""


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state == WebSocketState.DISCONNECTED:
        return
    # A client that does not read may never take the close frame: do not wait forever.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason), CLOSE_TIMEOUT_SECONDS)


async def _authenticate(websocket: WebSocket, live: LiveUpdates) -> Principal | None:
    """The principal of the first frame; None after closing the socket.

    No header is read here: the frame carries the bare access token (what follows the
    scheme in an ``Authorization`` header), checked by the same Authenticator as every
    other entry point; an empty token is invalid, as it is in the header.
    """
    try:
        first = await asyncio.wait_for(_receive(websocket), live.auth_timeout)
    except TimeoutError:
        await _close(websocket, Close.UNAUTHENTICATED, "authentication timed out")
        return None
    except _TooBig:
        await _close(websocket, Close.TOO_BIG, "frame over 64 KiB")
        return None
    if first is None:
        return None
    token = first.get("token") if isinstance(first, dict) else None
    if not isinstance(first, dict) or first.get("type") != "auth" or not isinstance(token, str):
        await _close(websocket, Close.UNAUTHENTICATED, 'send {"type": "auth", "token": ...} first')
        return None
    try:
        return live.authenticator.authenticate(token)
    except Unauthenticated:
        await _close(websocket, Close.UNAUTHENTICATED, "token is invalid")
        return None


async def _send_loop(websocket: WebSocket, connection: Connection, ping_seconds: float) -> None:
    """Send queued frames in order; a ``ping`` message when nothing was sent for a while."""
    ping = orjson.dumps({"type": "ping"}).decode()
    while True:
        try:
            text = await asyncio.wait_for(connection.outbox.get(), ping_seconds)
        except TimeoutError:
            text = ping
        await websocket.send_text(text)


async def _subscribe(live: LiveUpdates, connection: Connection, request: dict[str, Any]) -> None:
    slug = request.get("article")
    kind = request["type"]
    if not isinstance(slug, str) or not 0 < len(slug) <= service.MAX_SLUG_LENGTH:
        connection.send(_error(f"{kind}: article must be an article's slug"))
        return
    if kind == "unsubscribe":
        live.hub.unsubscribe(connection, slug)
        connection.send({"type": "unsubscribed", "article": slug})
        return
    if slug not in connection.articles:
        if len(connection.articles) >= live.hub.max_subscriptions:
            limit = live.hub.max_subscriptions
            connection.send(_error(f"subscribe: at most {limit} articles per connection"))
            return
        if not await service.article_exists(live.db, slug=slug):
            connection.send(_error("subscribe: article not found"))
            return
    since = request.get("since")
    if since is not None:
        try:
            await resume(
                live.hub, live.db, connection, slug=slug, since=since, retention=live.retention
            )
        except ResumeRefused as refused:
            connection.send({**_error(refused.text), "code": refused.code, "article": slug})
        return
    live.hub.subscribe(connection, slug)
    connection.send({"type": "subscribed", "article": slug})


async def _receive_loop(websocket: WebSocket, live: LiveUpdates, connection: Connection) -> int:
    """Answer the client's frames until it leaves; the close code to send, if any."""
    while True:
        try:
            request = await _receive(websocket)
        except _TooBig:
            return Close.TOO_BIG
        if request is None:
            return Close.NORMAL
        if not isinstance(request, dict):
            connection.send(_error("frames must be JSON objects with a type"))
            continue
        kind = request.get("type")
        if kind == "ping":
            connection.send({"type": "pong"})
        elif kind in ("subscribe", "unsubscribe"):
            await _subscribe(live, connection, request)
        elif kind == "auth":
            connection.send(_error("auth: already authenticated"))
        else:
            shown = kind if isinstance(kind, str) else None
            connection.send(_error(f"unknown type: {shown!r}"[:200]))


@router.websocket("/ws", name="live_updates")
async def live_updates(websocket: WebSocket) -> None:
    live: LiveUpdates = websocket.app.state.live
    await websocket.accept()
    principal = await _authenticate(websocket, live)
    if principal is None:
        return
    connection = live.hub.connect(principal.id)
    if connection is None:
        limit = live.hub.max_connections_per_user
        await _close(websocket, Close.TOO_MANY_CONNECTIONS, f"at most {limit} connections")
        return
    connection.send({"type": "ready"})
    tasks = {
        asyncio.create_task(_send_loop(websocket, connection, live.ping_seconds)),
        asyncio.create_task(_receive_loop(websocket, live, connection)),
        asyncio.create_task(connection.dropped.wait()),
    }
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        code, reason = Close.NORMAL, ""
        if connection.dropped.is_set():
            code, reason = Close.TOO_SLOW, "send queue full: the client does not read"
            log.info("live_client_dropped", user_id=principal.id, reason="slow")
        for task in done:
            result = None if task.cancelled() or task.exception() else task.result()
            if result == Close.TOO_BIG:
                code, reason = Close.TOO_BIG, "frame over 64 KiB"
        await _close(websocket, code, reason)
    finally:
        live.hub.disconnect(connection)
        for task in tasks:
            task.cancel()
