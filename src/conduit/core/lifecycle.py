"""What a process started, stopped in the reverse order: each stop bounded and logged.

:class:`StartedParts` is told, as each part starts, how to stop it (``on_stop``), or runs
the part as a background task (``run``: stopping it cancels it and waits for it). ``stop``
stops every part, last started first (an ``AsyncExitStack``), each within
``STOP_TIMEOUT_SECONDS`` and all of them within the ``budget`` given (the process's shutdown
timeout, CONDUIT_SHUTDOWN_TIMEOUT_SECONDS); a stop that raises or overruns is logged and
the next one runs all the same, so one broken part never leaves a pool open or a task
running behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

_log = structlog.get_logger("conduit.lifecycle")

# How long one part may take to stop before the next one is stopped regardless.
STOP_TIMEOUT_SECONDS = 10.0

Stop = Callable[[], Awaitable[object]]


class StartedParts:
    def __init__(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self._parts: list[str] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._raised: set[asyncio.Task[Any]] = set()
        self._failed: list[str] = []
        self._deadline: float | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        """The parts running now, in the order they started."""
        return tuple(self._parts)

    def on_stop(self, name: str, stop: Stop) -> None:
        """``name`` has started (or is starting): ``stop()`` stops it."""
        self._parts.append(name)
        self._stack.push_async_callback(self._stop_one, name, stop)

    def run(self, name: str, work: Coroutine[Any, Any, object]) -> asyncio.Task[Any]:
        """Run ``work`` in the background until :meth:`stop` cancels it."""
        task = asyncio.create_task(work, name=name)
        self._tasks.append(task)
        self.on_stop(name, lambda: self._cancel(task))
        return task

    async def wait(self) -> None:
        """Until a background part ends on its own, which is a failure: its error is raised
        here (and not logged again when it is stopped). Without one, until cancelled."""
        if not self._tasks:
            await asyncio.get_running_loop().create_future()
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                self._raised.add(task)
                task.result()

    async def stop(self, budget: float | None = None) -> list[str]:
        """Stop every part, last started first, all within ``budget`` seconds (each within
        ``STOP_TIMEOUT_SECONDS`` too); the names of those that failed to stop."""
        stack, self._stack = self._stack, contextlib.AsyncExitStack()
        self._failed = []
        loop = asyncio.get_running_loop()
        self._deadline = None if budget is None else loop.time() + budget
        try:
            await stack.aclose()
        finally:
            self._tasks.clear()
            self._raised.clear()
            self._deadline = None
        return list(self._failed)

    def _timeout(self) -> float:
        """What one part may take: ``STOP_TIMEOUT_SECONDS``, or less if the budget is short."""
        if self._deadline is None:
            return STOP_TIMEOUT_SECONDS
        remaining = self._deadline - asyncio.get_running_loop().time()
        return max(0.1, min(STOP_TIMEOUT_SECONDS, remaining))

    async def _stop_one(self, name: str, stop: Stop) -> None:
        seconds = self._timeout()
        deadline = asyncio.timeout(seconds)
        error: Exception | None = None
        try:
            async with deadline:
                await stop()
        except Exception as exc:
            error = exc
        finally:
            self._parts.remove(name)
        if deadline.expired():
            self._failed.append(name)
            _log.error("stop_timed_out", part=name, seconds=seconds)
        elif error is not None:
            self._failed.append(name)
            _log.error("stop_failed", part=name, error_type=type(error).__name__, error=str(error))

    async def _cancel(self, task: asyncio.Task[Any]) -> None:
        task.cancel()
        await asyncio.wait([task])
        if task in self._raised or task.cancelled():
            return
        error = task.exception()
        if error is not None:  # it had failed already: said now, once
            raise error
