"""SIGTERM to ``conduit serve`` under load, on PostgreSQL with the embedded bus.

Client loops send a steady mix of reads and writes, each on a connection of its own (some
slow enough to be in flight at any moment: registrations hash a password), WebSocket
clients listen, and the server is sent SIGTERM mid-load. Then:

- every request that got a response got a whole 2xx one (none cut, no 5xx); those sent
  after the listener closed were refused, or closed unanswered and left no trace (a
  registration that got no answer did not register anyone);
- every WebSocket was closed with 1001 and a reconnect hint;
- the process exited with 0, within its shutdown timeout, the relay's batch finished;
  with ``--workers 2`` too (each worker stops so; the supervising process exits with 0);
- every article, comment and user whose 201 arrived is in the database, with its event in
  the outbox (published or not: none lost).

The counts are printed (``pytest -s``) and reported in docs/operating/health-and-shutdown.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conduit.core.db import Database
from conduit.core.engines import create_engine
from tests.conftest import TEST_SECRET, Backend, _unreachable
from tests.integration.test_worker_shutdown import worker_stopped
from tests.live_support import _wait_for_port
from tests.ports import free_port

CLIENTS = 12
SOCKETS = 4
WARM_UP = 80  # requests answered before the signal
WRITES = ("register", "article", "comment")
SHUTDOWN_TIMEOUT = 20
# Connection refused (the listener is closed), or closed before any answer (a connection
# the server had not read from yet when it stopped).
UNANSWERED = {"ConnectError", "RemoteProtocolError", "ReadError"}


@dataclass
class Sent:
    kind: str
    started: float
    name: str = ""  # the username or title it wrote
    finished: float = 0.0
    status: int | None = None  # once the response's head arrived
    whole: bool = False  # the whole body arrived
    error: str | None = None
    body: Any = None


@dataclass
class Socket:
    code: int | None = None
    reason: str = ""


@pytest.fixture
def postgresql(tmp_path: Path) -> Any:
    backend = Backend("postgresql", tmp_path)
    try:
        backend.create()
    except Exception as exc:
        _unreachable("postgresql", exc)
    yield backend.url
    backend.drop()


def start_serve(
    database_url: str, folder: Path, port: int, workers: str
) -> subprocess.Popen[bytes]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CONDUIT_")}
    env.update(
        CONDUIT_ENVIRONMENT="test",
        CONDUIT_DATABASE_URL=database_url,
        CONDUIT_SECRET_KEY=TEST_SECRET,
        CONDUIT_DATA_DIR=str(folder),
        CONDUIT_RATE_LIMITS_ENABLED="false",
        CONDUIT_LIVE_MAX_CONNECTIONS_PER_USER=str(SOCKETS),
        CONDUIT_SHUTDOWN_TIMEOUT_SECONDS=str(SHUTDOWN_TIMEOUT),
        CONDUIT_LOG_JSON="true",
    )
    command = ["serve", "--port", str(port), "--workers", workers]
    return subprocess.Popen(
        [sys.executable, "-m", "conduit.entrypoints.cli", *command],
        env=env,
        stdout=(folder / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


async def send(http: httpx.AsyncClient, sent: Sent, method: str, url: str, **kw: Any) -> Sent:
    try:
        async with http.stream(method, url, **kw) as response:
            sent.status = response.status_code
            content = await response.aread()
            sent.whole = True
            sent.body = orjson.loads(content) if content else None
    except httpx.HTTPError as exc:
        sent.error = type(exc).__name__
    sent.finished = time.monotonic()
    return sent


class Load:
    """The client loops: reads, registrations, articles and comments, in turn."""

    def __init__(self, base: str, token: str, slug: str) -> None:
        self.base, self.token, self.slug = base, token, slug
        self.sent: list[Sent] = []
        self.signalled_at: float | None = None
        self.warm = asyncio.Event()

    async def one(self, http: httpx.AsyncClient, kind: str) -> Sent:
        name = uuid.uuid4().hex[:12]
        sent = Sent(kind, time.monotonic(), name)
        auth = {"Authorization": f"Token {self.token}"}
        if kind == "read":
            return await send(http, sent, "GET", "/articles?limit=5")
        if kind == "register":
            user = {"username": name, "email": f"{name}@conduit.test", "password": "pw123456"}
            return await send(http, sent, "POST", "/users", json={"user": user})
        if kind == "article":
            article = {"title": name, "description": "d", "body": "b"}
            body = {"article": article}
            return await send(http, sent, "POST", "/articles", json=body, headers=auth)
        comment = {"body": name}
        path = f"/articles/{self.slug}/comments"
        return await send(http, sent, "POST", path, json={"comment": comment}, headers=auth)

    async def loop(self, number: int) -> None:
        kinds = ("read", "register", "article", "comment", "read")
        # No keep-alive: each request on a connection of its own, as many clients send them.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=self.base, limits=limits, timeout=30) as http:
            refused_in_a_row = 0
            for n in range(10_000):
                sent = await self.one(http, kinds[(number + n) % len(kinds)])
                self.sent.append(sent)
                if len(self.sent) >= WARM_UP:
                    self.warm.set()
                refused_in_a_row = refused_in_a_row + 1 if sent.status is None else 0
                if self.signalled_at is not None and refused_in_a_row >= 3:
                    return


async def listen(url: str, token: str, socket: Socket, ready: asyncio.Event) -> None:
    async with connect(url, open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv()) == {"type": "ready"}
        ready.set()
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()
    socket.code, socket.reason = ws.close_code, ws.close_reason or ""


async def in_database(url: str) -> tuple[set[str], set[str], set[str], dict[str, set[str]]]:
    db = Database(create_engine(url))
    try:
        async with db.engine.connect() as conn:
            users = {row[0] for row in await conn.execute(text("SELECT username FROM users"))}
            titles = {row[0] for row in await conn.execute(text("SELECT title FROM articles"))}
            bodies = {row[0] for row in await conn.execute(text("SELECT body FROM comments"))}
            payloads = [row[0] for row in await conn.execute(text("SELECT payload FROM outbox"))]
    finally:
        await db.dispose()
    events: dict[str, set[str]] = {}
    for payload in payloads:
        envelope = orjson.loads(payload)
        data = envelope["data"]
        key = data.get("username") or data.get("slug") or ""
        if envelope["type"] == "comment.created":
            key = data["body"]
        events.setdefault(envelope["type"], set()).add(key)
    return users, titles, bodies, events


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_sigterm_under_load_finishes_what_was_accepted_and_refuses_the_rest(
    postgresql: str, tmp_path: Path, workers: str
) -> None:
    port = free_port()
    server = start_serve(postgresql, tmp_path, port, workers)
    try:
        await asyncio.to_thread(_wait_for_port, port, server, 90)
        base = f"http://127.0.0.1:{port}/api"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            user = {"username": "writer", "email": "writer@conduit.test", "password": "pw123456"}
            token = (await http.post("/users", json={"user": user})).json()["user"]["token"]
            article = {"title": "Shutdown", "description": "d", "body": "b"}
            created = await http.post(
                "/articles", json={"article": article}, headers={"Authorization": f"Token {token}"}
            )
            slug = created.json()["article"]["slug"]

        sockets = [Socket() for _ in range(SOCKETS)]
        ready = [asyncio.Event() for _ in range(SOCKETS)]
        ws_url = f"ws://127.0.0.1:{port}/api/ws"
        listeners = [
            asyncio.create_task(listen(ws_url, token, socket, up))
            for socket, up in zip(sockets, ready, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(up.wait() for up in ready)), 30)

        load = Load(base, token, slug)
        loops = [asyncio.create_task(load.loop(n)) for n in range(CLIENTS)]
        await asyncio.wait_for(load.warm.wait(), 120)
        load.signalled_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        returncode = await asyncio.to_thread(server.wait, SHUTDOWN_TIMEOUT + 10)
        exited_after = time.monotonic() - load.signalled_at
        await asyncio.wait_for(asyncio.gather(*loops, *listeners), 60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    log = (tmp_path / "serve.log").read_text()
    signalled = load.signalled_at

    answered = [sent for sent in load.sent if sent.status is not None]
    unanswered = [sent for sent in load.sent if sent.status is None]
    failed = [sent for sent in answered if not (sent.whole and 200 <= (sent.status or 0) < 300)]
    done = [sent for sent in answered if sent not in failed]
    in_flight = [sent for sent in done if sent.started < signalled < sent.finished]
    refused = [sent for sent in unanswered if sent.error == "ConnectError"]
    counts = {
        "requests": len(load.sent),
        "answered_2xx": len(done),
        "in_flight_at_signal_completed": len(in_flight),
        "failed": len(failed),
        "refused": len(refused),
        "closed_unanswered": len(unanswered) - len(refused),
        "websockets_1001": sum(socket.code == 1001 for socket in sockets),
        "exit_code": returncode,
        "exit_seconds": round(exited_after, 2),
    }
    print(f"graceful shutdown (--workers {workers}):", json.dumps(counts))

    assert returncode == 0, log[-3000:]
    assert failed == [], [(s.kind, s.status, s.error) for s in failed]
    assert in_flight, "no request was in flight at the signal: the load is too light"
    assert refused, "no request was refused after the signal"
    assert {sent.error for sent in unanswered} <= UNANSWERED
    for socket in sockets:
        assert socket.code == 1001, (socket.code, socket.reason)
        assert 500 <= json.loads(socket.reason)["reconnectAfterMs"] <= 3000
    assert worker_stopped(log)["relay_batch_finished"] is True
    assert "stop_timed_out" not in log
    assert "timeout graceful shutdown exceeded" not in log

    users, titles, bodies, events = await in_database(postgresql)
    created = {kind: {s.name for s in done if s.kind == kind} for kind in WRITES}
    assert created["register"] <= users
    assert created["register"] <= events["user.registered"]
    assert created["article"] <= titles
    slugs = {sent.body["article"]["slug"] for sent in done if sent.kind == "article"}
    assert slugs <= events["article.created"]
    assert created["comment"] <= bodies
    assert created["comment"] <= events["comment.created"]
    # A write that got no answer was never started: it left nothing behind.
    for sent in unanswered:
        if sent.kind == "register":
            assert sent.name not in users
        if sent.kind == "article":
            assert sent.name not in titles
        if sent.kind == "comment":
            assert sent.name not in bodies
