"""How ``conduit serve`` runs uvicorn, and how it stops on SIGTERM (or Ctrl-C).

uvicorn's own shutdown does the right things in the right order, so Conduit hooks into it
rather than beside it: it closes the listening socket first (new connections are refused),
then tells every open connection to finish (``shutdown()`` on each protocol: an idle
keep-alive connection is closed, a request in flight completes and its connection closes
after the response), waits up to ``timeout_graceful_shutdown`` for them
(CONDUIT_SHUTDOWN_TIMEOUT_SECONDS), and only then runs the app's lifespan shutdown, where the
container stops the events (the relay finishes its batch), live updates and the pools.

Two things are Conduit's own:

- :class:`GoingAwayWebSocket`, the WebSocket protocol: uvicorn closes an open WebSocket at
  that moment with 1012 and no reason; Conduit closes it with **1001 (going away)** and a
  reason telling the client when to reconnect, ``{"reconnectAfterMs": N}``, N drawn between
  :data:`RECONNECT_MIN_MS` and :data:`RECONNECT_MAX_MS` so that the clients of a stopping
  instance do not all come back in the same millisecond. Doing it in the protocol's
  ``shutdown()`` (the hook uvicorn calls on every connection once the listener is closed)
  covers every socket of every worker process, ``/api/ws`` and GraphQL subscriptions alike,
  with ``--workers N`` too, where uvicorn's own server class runs in each worker.
- :class:`ConduitServer`: after a graceful stop, uvicorn raises the signal it caught again,
  so the process ends *killed by* SIGTERM (exit status 143); a stop that was asked for and
  went well is a success, so ``conduit serve`` (one process) exits with 0. With
  ``--workers N`` the supervising process exits with 0 by itself.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import HANDLED_SIGNALS
from uvicorn.supervisors import ChangeReload, Multiprocess

GOING_AWAY = 1001
RECONNECT_MIN_MS = 500
RECONNECT_MAX_MS = 3000


def going_away_reason() -> str:
    """The close reason of a WebSocket closed because this instance stops (JSON, 40 bytes)."""
    delay = random.randint(RECONNECT_MIN_MS, RECONNECT_MAX_MS)  # noqa: S311 (spreads reconnects)
    return json.dumps({"reconnectAfterMs": delay}, separators=(",", ":"))


class GoingAwayWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, closing with 1001 and a reconnect hint on shutdown."""

    def shutdown(self) -> None:
        if not self.handshake_complete or self.close_sent or self.transport.is_closing():
            super().shutdown()  # not accepted yet (500), or closing already
            return
        reason = going_away_reason()
        self.stop_keepalive()
        self.queue.put_nowait(
            {"type": "websocket.disconnect", "code": GOING_AWAY, "reason": reason}
        )
        self.conn.send_close(GOING_AWAY, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()


class ConduitServer(uvicorn.Server):
    """uvicorn's server; a stop asked for by a signal ends the process normally (exit 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's, without raising the signal again once the server has stopped.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def run(app: str, **options: Any) -> None:
    """``uvicorn.run(app, **options)``, with :class:`ConduitServer` serving in one process."""
    config = uvicorn.Config(app, **options)
    server = ConduitServer(config)
    if config.should_reload:
        ChangeReload(config, target=server.run, sockets=[config.bind_socket()]).run()
    elif config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
    if not server.started and not config.should_reload and config.workers == 1:
        sys.exit(STARTUP_FAILURE)


def options(shutdown_timeout_seconds: float) -> dict[str, Any]:
    """The uvicorn settings that make ``conduit serve`` stop as described above."""
    return {
        "ws": GoingAwayWebSocket,
        # uvicorn takes whole seconds; rounded up, never 0 (which would not wait at all).
        "timeout_graceful_shutdown": max(1, math.ceil(shutdown_timeout_seconds)),
    }
