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

Reads then wait ``READS_RESUME_AFTER`` more (invalidations go through meanwhile). The
outage was seen by every instance, and another instance may still have its breaker open,
skipping the invalidations of its commits until its own probe replays them: an entry from
before those commits, read here meanwhile, would be served stale. The wait covers the
longest such probe (its longest backoff plus its timeout). It applies on Redis and on
Memcached alike, as both keep the generations every instance shares.

The server may also change under a working connection: an adapter whose new connections
can reach another server than the last one (Redis behind Sentinel, after a failover) says
so through ``moved``; the breaker then opens, and the probe replays ``all`` there before the
cache is read again, as after a broken connection.

The adapter says how to replay bumps, how to ping and whether its server moved; the
breaker decides when.
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
# After a recovery, reads keep bypassing the server this long (invalidations go through):
# the longest another instance's probe takes to see the server back and replay what it missed.
READS_RESUME_AFTER = PROBE_MAX_DELAY + PROBE_TIMEOUT + 0.5

# How the adapter replays bumps and pings its server, each within a bound in seconds.
Replay = Callable[[Collection[str], float], Awaitable[object]]
Ping = Callable[[float], Awaitable[object]]
# True once after the adapter's connections reached another server than before.
Moved = Callable[[], bool]


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
    did not restart), and ``timeouts`` the client's own timeout errors (counted as
    :class:`TimeoutError` is). A reply error on a store only loses that entry; anywhere else
    it opens the breaker. ``moved`` is asked after every answer (see the module's docstring);
    ``reads_resume_after`` is the wait after a recovery before lookups use the server.
    """

    def __init__(
        self,
        server: str,
        *,
        replay: Replay,
        ping: Ping,
        failures: tuple[type[BaseException], ...],
        replies: tuple[type[BaseException], ...],
        timeouts: tuple[type[BaseException], ...] = (),
        moved: Moved | None = None,
        reads_resume_after: float = READS_RESUME_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server
        self._replay = replay
        self._ping = ping
        self._catch: tuple[type[BaseException], ...] = (*failures, *replies, TimeoutError)
        self._replies = replies
        self._timeout_errors: tuple[type[BaseException], ...] = (TimeoutError, *timeouts)
        self._moved = moved
        self.reads_resume_after = reads_resume_after
        self._clock = clock
        self._open = False  # True while the server is considered down
        self._reads_resume_at = 0.0  # clock time before which lookups bypass the server
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
        """False while requests bypass the server (until the probe has resynchronised, and
        for ``reads_resume_after`` more)."""
        return not self._open and self._clock() >= self._reads_resume_at

    async def call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """``call()``'s result, or None when it failed or the breaker is open (or, for a
        ``lookup``, while reads wait after a recovery)."""
        if self._open or (operation == "lookup" and self._reads_wait()):
            return None
        try:
            result = await call()
        except asyncio.CancelledError:
            raise
        except self._catch as exc:
            self._failed(operation, exc)
            return None
        if self._server_moved():
            moved = ConnectionError(f"{self._server} answers from another server now")
            self._trip(operation, moved)
        if self._open:  # (tripped meanwhile: this answer may come from an unsynced server)
            return None
        self._timeouts = 0
        return result

    def _reads_wait(self) -> bool:
        return bool(self._reads_resume_at) and self._clock() < self._reads_resume_at

    def _server_moved(self) -> bool:
        """True once after the adapter's connections reached another server: it may lack
        the last bumps, so ``all`` is replayed there before its answers are used."""
        if self._moved is None or not self._moved():
            return False
        self._resync_all = True
        return True

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
        timed_out = isinstance(exc, self._timeout_errors)
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
            if self._server_moved():  # the probe itself reached another server: replay ``all``
                delay = PROBE_FIRST_DELAY
            if self._missed or self._resync_all:  # more was missed meanwhile: replay it too
                continue
            self._timeouts = 0
            self._open = False
            self._reads_resume_at = self._clock() + self.reads_resume_after
            log.info(
                "cache_recovered",
                replayed=sorted(replay),
                reads_resume_in=self.reads_resume_after,
            )
            return
