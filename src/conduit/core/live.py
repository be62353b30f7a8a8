"""The live-updates port: best-effort fan-out of small messages to every serving process.

``conduit serve`` pushes live updates to the WebSockets connected to it. A write may happen
on any instance, so each instance publishes the live messages of what it committed on the
:class:`LiveBus`, and every instance (itself included) receives every message and delivers it
to its own sockets. Adapters (``conduit.adapters``): in-process (the zero-config default,
one process) and Redis pub/sub (``CONDUIT_REDIS_URL``); ``bootstrap`` picks one.

Delivery is at most once: a message published while an instance is disconnected from Redis
is not seen there. Live pushes are hints; a client re-reads the REST API when it
(re)connects, so nothing is lost for good.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

LiveHandler = Callable[[bytes], Awaitable[None]]


class LiveBus(Protocol):
    async def start(self, handler: LiveHandler) -> None:
        """Call ``handler(message)`` for every message any instance publishes, until closed."""

    async def publish(self, message: bytes) -> None:
        """Send a message to every instance (this one included); raise if it cannot."""

    async def close(self) -> None: ...
