"""Background tasks: how Conduit stops one it started, and work a stop lets finish."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task (if any) and wait until it has finished. An error it had
    failed with is not raised again: a background task logs its own failures."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


class InFlight:
    """Work that is never cut in the middle: when whoever awaits it is cancelled, the work
    itself runs on to its end (a delivery's transaction commits rather than rolls back), and
    :meth:`finish` waits for what is still running, within a bound."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._running)

    async def run(self, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its caller, if cancelled, never will

    async def finish(self, within: float) -> int:
        """Wait up to ``within`` seconds for the work still running, then cancel what is
        left; how many had to be cancelled."""
        running = set(self._running)
        if not running:
            return 0
        _, late = await asyncio.wait(running, timeout=max(0.0, within))
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        return len(late)
