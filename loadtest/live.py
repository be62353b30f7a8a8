"""The live listener: a reader with an article open, on ``/api/ws`` (README, "Live
updates"), driven by websocket-client (blocking sockets, which gevent makes cooperative).

It signs up, connects and authenticates (``{"type": "auth"}`` → ``ready``), subscribes to
the hot articles writers comment on, then listens, sending a ``ping`` now and then. What it
reports to locust (request type ``WS``):

``WS connect+auth``   from opening the socket to ``ready``;
``WS subscribe``      from ``subscribe`` to ``subscribed``;
``WS ping``           from ``ping`` to ``pong`` (frames pushed meanwhile are handled too);
``WS push``           each ``comment.created`` received: its delay from the comment's
                      ``createdAt`` (the server's clock, the same machine's in the tests).

A socket the server closes, or a frame that is not what the protocol says, is a failure
(the socket is opened again at the next task).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import time
from typing import Any

import websocket
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

from loadtest.common import DATASET, ORIGIN, next_address
from loadtest.writers import sign_up

SUBSCRIPTIONS = 5
LISTEN_SECONDS = (2.0, 6.0)
TIMEOUT_SECONDS = 10.0
RECONNECT_SECONDS = 1.0


class ProtocolError(Exception):
    """The server answered something the live-updates protocol does not say."""


class LiveListener(FastHttpUser):
    scenario = "live"
    wait_time = constant(0)  # it is always listening; each task listens a few seconds

    def on_start(self) -> None:
        self.address = next_address()
        user = sign_up(self, self.address, "live")
        self.token = user["token"] if user else None
        self.socket: websocket.WebSocket | None = None

    def on_stop(self) -> None:
        self._drop()

    def context(self) -> dict[str, Any]:
        return {"scenario": self.scenario}

    @task
    def listen(self) -> None:
        if self.token is None:  # registration was refused (reported)
            time.sleep(1)
            return
        try:
            if self.socket is None:
                self._connect()
            self._ping()
            self._listen(random.uniform(*LISTEN_SECONDS))
        except (websocket.WebSocketException, OSError, ProtocolError) as exc:
            self._report("WS connection", 0.0, exc)
            self._drop()
            time.sleep(RECONNECT_SECONDS)

    def _url(self) -> str:
        return self.host.replace("http://", "ws://").replace("https://", "wss://") + "/api/ws"

    def _connect(self) -> None:
        started = time.perf_counter()
        self.socket = websocket.create_connection(
            self._url(),
            timeout=TIMEOUT_SECONDS,
            origin=ORIGIN,
            header=[f"X-Forwarded-For: {self.address}"],
        )
        self._send({"type": "auth", "token": self.token})
        self._until("ready")
        self._report("WS connect+auth", _ms_since(started))
        for slug in random.sample(DATASET.hot_slugs, min(SUBSCRIPTIONS, len(DATASET.hot_slugs))):
            started = time.perf_counter()
            self._send({"type": "subscribe", "article": slug})
            self._until("subscribed")
            self._report("WS subscribe", _ms_since(started))

    def _ping(self) -> None:
        started = time.perf_counter()
        self._send({"type": "ping"})
        self._until("pong")
        self._report("WS ping", _ms_since(started))

    def _listen(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._receive(timeout=left)
            except websocket.WebSocketTimeoutException:
                return

    def _until(self, wanted: str) -> None:
        """Read frames (handling pushes) until one of type ``wanted``."""
        while self._receive(timeout=TIMEOUT_SECONDS) != wanted:
            pass

    def _receive(self, *, timeout: float) -> str:
        """One frame: a push is reported; an error frame is a failure; its type."""
        assert self.socket is not None
        self.socket.settimeout(timeout)
        frame = json.loads(self.socket.recv())
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "error" or not isinstance(kind, str):
            raise ProtocolError(f"unexpected frame: {frame!r}"[:200])
        if kind == "comment.created":
            created = dt.datetime.fromisoformat(frame["comment"]["createdAt"])
            delay = dt.datetime.now(dt.UTC) - created
            self._report("WS push", max(0.0, delay.total_seconds() * 1000))
        return kind

    def _send(self, message: dict[str, Any]) -> None:
        assert self.socket is not None
        self.socket.send(json.dumps(message))

    def _report(self, name: str, milliseconds: float, exc: BaseException | None = None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=milliseconds,
            response_length=0,
            exception=exc,
            context=self.context(),
        )

    def _drop(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(websocket.WebSocketException, OSError):
                self.socket.close()
            self.socket = None


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
