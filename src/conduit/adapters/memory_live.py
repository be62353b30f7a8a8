"""The embedded live bus: one process, so publishing is handing the message over."""

from __future__ import annotations

from conduit.core.live import LiveHandler


class MemoryLiveBus:
    """Delivers in-process; the zero-config default (one ``conduit serve`` process)."""

    def __init__(self) -> None:
        self._handler: LiveHandler | None = None

    async def start(self, handler: LiveHandler) -> None:
        self._handler = handler

    async def publish(self, message: bytes) -> None:
        if self._handler is not None:
            await self._handler(message)

    async def close(self) -> None:
        self._handler = None
