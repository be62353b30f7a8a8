"""WebSocket test helpers: a real uvicorn server in the test's event loop, a client, frames."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.ports import free_port
from tests.processes import stop

__all__ = ["free_port"]


@dataclass
class Served:
    app: FastAPI
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/ws"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[Served]:
    """Serve ``app`` with uvicorn on a free port, in this event loop, as ``conduit serve`` does."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws_max_size=65_536, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield Served(app=app, port=port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def frame(
    ws: ClientConnection, wait: float = 3.0, *, kinds: frozenset[str] | None = None
) -> dict[str, Any]:
    """The next message of one of ``kinds``; default: anything but pings and notifications.

    (Notifications arrive whenever the embedded relay has run the notifications consumer, so
    the tests of other pushes look past them, and the notification tests ask for them.)
    """
    while True:
        message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), wait))
        kind = message.get("type")
        if kinds is None and kind not in ("ping", "notification"):
            return message
        if kinds is not None and kind in kinds:
            return message


NOTIFICATION = frozenset({"notification"})


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


@contextlib.asynccontextmanager
async def signed_in(url: str, token: str) -> AsyncIterator[ClientConnection]:
    """A WebSocket that has authenticated (``ready`` received)."""
    async with connect(url, open_timeout=5) as ws:
        await send(ws, {"type": "auth", "token": token})
        assert await frame(ws) == {"type": "ready"}
        yield ws


async def subscribe(ws: ClientConnection, slug: str) -> None:
    await send(ws, {"type": "subscribe", "article": slug})
    assert await frame(ws) == {"type": "subscribed", "article": slug}


async def close_code(ws: ClientConnection, wait: float = 5.0) -> int | None:
    """Read until the server closes; the close code it sent."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), wait)
    return ws.close_code


async def add_comment(api: httpx.AsyncClient, token: str, slug: str, body: str) -> dict[str, Any]:
    response = await api.post(
        f"/articles/{slug}/comments",
        json={"comment": {"body": body}},
        headers={"Authorization": f"Token {token}"},
    )
    assert response.status_code == 201, response.text
    comment: dict[str, Any] = response.json()["comment"]
    return comment


@contextlib.contextmanager
def private_redis(tmp_dir: Path, port: int | None = None) -> Iterator[str]:
    """A throw-away ``redis-server`` on a free port (no persistence); yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], wait: float = 20.0) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {wait} s")


@contextlib.contextmanager
def conduit_servers(env: dict[str, str], logs: list[Path]) -> Iterator[list[str]]:
    """``conduit serve`` processes (one per log file), started together on free ports.

    Yields their API URLs (``http://127.0.0.1:PORT/api``) once every one listens, which
    uvicorn does only after the app's startup (live bus subscribed) has completed.
    """
    with contextlib.ExitStack() as stack:
        started: list[tuple[int, subprocess.Popen[bytes]]] = []
        for log in logs:
            port = free_port()
            output = stack.enter_context(log.open("wb"))
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "conduit.entrypoints.cli",
                    "serve",
                    "--port",
                    str(port),
                ],
                env={**os.environ, **env},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, process)
            started.append((port, process))
        for port, process in started:
            _wait_for_port(port, process, wait=90)
        yield [f"http://127.0.0.1:{port}/api" for port, _ in started]


def _stop(process: subprocess.Popen[bytes]) -> None:
    stop(process, timeout=15)
