"""What a response cache on a server does when that server is slow or gone.

A cache call never raises and never makes a request wait long: each is bounded by a short
timeout (plus the event loop's own lag, :class:`LoopLag`) and never retried; a request
whose call fails reads the database. :class:`CacheBreaker` then makes requests bypass the
server without touching it, with one warning per ``WARNING_INTERVAL``. It opens at once on
a broken connection or a failed invalidation, and after ``TIMEOUTS_TO_OPEN`` timeouts in a
row of reads (one slow answer, or an event loop lagging under load, costs only that
request its hit). A background probe retries with backoff and closes the breaker only
after it has replayed what may have been missed: the generations of every invalidation
that failed or was skipped, and the ``all`` generation after a broken connection (the
server may have restarted with older contents). Entries from before the outage are then
unreachable.

The adapter says how to replay bumps and how to ping; the breaker decides when.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

import structlog

from conduit.core.cache import ALL
from conduit.core.tasks import cancel_and_wait

log = structlog.get_logger("conduit.cache")

T = TypeVar("T")
WARNING_INTERVAL = 10.0
PROBE_FIRST_DELAY = 0.1
PROBE_MAX_DELAY = 1.0
PROBE_TIMEOUT = 1.0
TIMEOUTS_TO_OPEN = 3

# How the adapter replays bumps and pings its server, each within a bound in seconds.
Replay = Callable[[Collection[str], float], Awaitable[object]]
Ping = Callable[[float], Awaitable[object]]


class LoopLag:
    """How late this event loop has been running its timers lately, in seconds.

    Under load a reply can sit unread while the loop serves other requests; that wait is
    the process's own, not the server's, so it is added to the timeout of every cache call
    (otherwise an overloaded instance would switch its cache off exactly when it needs it).
    """

    INTERVAL = 0.05

    def __init__(self) -> None:
        self.seconds = 0.0
        self._task: asyncio.Task[None] | None = None

    def watch(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._measure())

    async def _measure(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.INTERVAL
            await asyncio.sleep(self.INTERVAL)
            late = max(0.0, loop.time() - expected)
            self.seconds = max(late, self.seconds * 0.8)

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None


class CacheBreaker:
    """The circuit breaker of one cache adapter (see the module's docstring).

    ``failures`` are the exceptions a call to the server may end with; among them,
    ``replies`` are the server answering with an error (the connection is fine, the server
    did not restart). A reply error on a store only loses that entry; anywhere else it
    opens the breaker.
    """

    def __init__(
        self,
        server: str,
        *,
        replay: Replay,
        ping: Ping,
        failures: tuple[type[BaseException], ...],
        replies: tuple[type[BaseException], ...],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server
        self._replay = replay
        self._ping = ping
        self._catch: tuple[type[BaseException], ...] = (*failures, *replies, TimeoutError)
        self._replies = replies
        self._clock = clock
        self._open = False  # True while the server is considered down
        self._missed: set[str] = set()  # generations whose bump may not have reached it
        self._resync_all = False  # a connection broke: the server may have lost bumps
        self._timeouts = 0  # reads timed out in a row
        self._probe: asyncio.Task[None] | None = None
        self._last_warning: float | None = None
        self._suppressed = 0
        # Failed calls by operation (lookup, store, invalidate), read by the metrics.
        self.failures: collections.Counter[str] = collections.Counter()

    @property
    def available(self) -> bool:
        """False while requests bypass the server (until the probe has resynchronised)."""
        return not self._open

    async def call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """``call()``'s result, or None when it failed or the breaker is open."""
        if self._open:
            return None
        try:
            result = await call()
        except asyncio.CancelledError:
            raise
        except self._catch as exc:
            self._failed(operation, exc)
            return None
        self._timeouts = 0
        return result

    async def bump(self, changed: set[str], within: float) -> None:
        """Replay ``changed`` now, or (breaker open, or the replay failed) once it closes."""
        if self._open:
            self._missed |= changed  # the probe replays them before anyone reads again
            return
        if await self.call("invalidate", lambda: self._replay(changed, within)) is None:
            self._missed |= changed

    async def close(self) -> None:
        await cancel_and_wait(self._probe)

    def _failed(self, operation: str, exc: BaseException) -> None:
        self.failures[operation] += 1
        timed_out = isinstance(exc, asyncio.TimeoutError)
        replied = isinstance(exc, self._replies)
        if timed_out and operation != "invalidate":
            self._timeouts += 1
            if self._timeouts < TIMEOUTS_TO_OPEN:
                return  # this request reads the database; the next one tries again
        elif replied and operation == "store":
            return  # the server refused this entry (too large, out of memory): not kept
        elif not timed_out and not replied:
            self._resync_all = True  # connection refused or reset: perhaps a restart
        self._trip(operation, exc)

    def _trip(self, operation: str, exc: BaseException) -> None:
        """Open the breaker and start the probe."""
        self._open = True
        now = self._clock()
        if self._last_warning is None or now - self._last_warning >= WARNING_INTERVAL:
            log.warning(
                "cache_unavailable",
                operation=operation,
                error=f"{type(exc).__name__}: {exc}",
                suppressed=self._suppressed,
                hint=f"requests bypass the cache until {self._server} answers again",
            )
            self._last_warning = now
            self._suppressed = 0
        else:
            self._suppressed += 1
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        delay = PROBE_FIRST_DELAY
        while True:
            await asyncio.sleep(delay)
            # Replay what may have been lost, so that no entry written before a missed
            # bump is served once the breaker closes.
            resync_all, self._resync_all = self._resync_all, False
            missed, self._missed = self._missed, set()
            replay = {ALL} if resync_all else missed
            try:
                if replay:
                    await self._replay(replay, PROBE_TIMEOUT)
                else:
                    await self._ping(PROBE_TIMEOUT)
            except self._catch:
                self._resync_all |= resync_all
                self._missed |= missed
                delay = min(delay * 2, PROBE_MAX_DELAY)
                continue
            if self._missed or self._resync_all:  # more was missed meanwhile: replay it too
                continue
            self._timeouts = 0
            self._open = False
            log.info("cache_recovered", replayed=sorted(replay))
            return
