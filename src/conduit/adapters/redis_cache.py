"""The response cache on Redis (``CONDUIT_REDIS_URL``), shared by every Conduit instance.

Keys::

    conduit:gen:<generation>                      a counter, INCR'd by commits (no TTL)
    conduit:cache:<path?query>|<g1>:<g2>...       a cached body (TTL ``cache_ttl_seconds``)

A lookup is one round trip: a Lua script reads the generations, composes the entry's key
and GETs it. An invalidation is one pipelined round trip of INCRs.

Redis down: every call is bounded by a short timeout and never retried; a request whose
call fails reads the database. A circuit breaker then makes requests bypass Redis without
touching it (no added latency), with one warning per ``WARNING_INTERVAL``. It opens at once
on a connection error or a failed invalidation, and after ``TIMEOUTS_TO_OPEN`` timeouts in
a row of reads (one slow answer, or an event loop lagging under load, costs only that
request its hit). A background probe retries with backoff and closes the breaker only after
it has replayed what may have been missed: the generations of every invalidation that
failed or was skipped, and the ``all`` generation after a connection error (Redis may have
restarted from an older snapshot). Entries from before the outage are then unreachable.
Reads then wait ``READS_RESUME_AFTER`` more (invalidations go through meanwhile): another
instance may still have its breaker open, skipping the invalidations of its commits, until
its own probe replays them, and an entry this instance stored meanwhile would hide them.

A Sentinel failover (``redis+sentinel://``) is such an outage: killing the primary breaks
every connection, the breaker opens, and the probe's new connections ask the Sentinels for
the primary until they name the promoted replica. Replication is asynchronous, so the
replica may lack the primary's last INCRs: a new connection that reaches another server
than the last one trips the breaker too (even when the old primary's loss showed only as
a timeout), and the probe bumps ``all`` there before the cache is read again, so no entry
written before the failover can hide a commit.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar

import structlog
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conduit.adapters.redis_client import ConnectionMaker
from conduit.core.cache import ALL, BYPASS, Lookup
from conduit.core.tasks import cancel_and_wait

log = structlog.get_logger("conduit.cache")

T = TypeVar("T")
GENERATION_PREFIX = "conduit:gen:"
ENTRY_PREFIX = "conduit:cache:"
MAX_ENTRY_BYTES = 4 * 1024 * 1024
MAX_IDLE_CONNECTIONS = 64
WARNING_INTERVAL = 10.0
PROBE_FIRST_DELAY = 0.1
PROBE_MAX_DELAY = 1.0
PROBE_TIMEOUT = 1.0
# After a recovery, reads keep bypassing Redis this long (invalidations go through): the
# longest another instance's probe takes to see Redis back and replay what it missed.
READS_RESUME_AFTER = PROBE_MAX_DELAY + PROBE_TIMEOUT + 0.5
TIMEOUTS_TO_OPEN = 3
_FAILURES = (RedisError, OSError, asyncio.TimeoutError)

# KEYS: the generation counters; ARGV[1]: the request. Returns {entry key, entry or nil}.
_LOOKUP = """
local generations = redis.call('MGET', unpack(KEYS))
local key = ARGV[1] .. '|'
for i, value in ipairs(generations) do
  if value then key = key .. value .. ':' else key = key .. '0:' end
end
return {key, redis.call('GET', key)}
"""
_LOOKUP_SHA = hashlib.sha1(_LOOKUP.encode()).hexdigest()  # noqa: S324 - Redis names scripts so


class LoopLag:
    """How late this event loop has been running its timers lately, in seconds.

    Under load a reply can sit unread while the loop serves other requests; that wait is
    the process's own, not Redis's, so it is added to the timeout of every cache call
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


class RedisLink:
    """A few redis-py connections used one command (or pipeline) at a time.

    Leaner than ``redis.asyncio.Redis`` on the hot path (no per-command pool checks,
    events or ``wait_for`` task): one ``asyncio.timeout`` bounds the whole call. A
    connection that failed in any way is closed, and so are the idle ones, never reused.
    With Sentinel a new connection asks where the primary is, so after a failover the
    cache's next connections reach the promoted replica.
    """

    def __init__(self, url: str, *, timeout_seconds: float) -> None:
        self._connect = ConnectionMaker(
            url,
            socket_timeout=None,  # bounded by asyncio.timeout around each call
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        self._timeout = timeout_seconds
        self._idle: list[AbstractConnection] = []
        self.lag = LoopLag()
        self._server: tuple[Any, ...] | None = None  # where the last new connection went
        self.moved = False  # a new connection reached another server (a Sentinel failover)

    async def execute(self, *commands: tuple[Any, ...], within: float | None = None) -> list[Any]:
        """Send ``commands`` in one write and read their replies (errors returned, not raised)."""
        self.lag.watch()
        fresh = not self._idle
        connection = self._connect() if fresh else self._idle.pop()
        try:
            async with asyncio.timeout((within or self._timeout) + self.lag.seconds):
                if fresh:  # connect() first: a Sentinel connection asks for the primary there
                    await connection.connect()  # type: ignore[no-untyped-call]
                await connection.send_packed_command(
                    connection.pack_commands(commands), check_health=False
                )
                replies = []
                for _ in commands:
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as exc:  # an error reply: the connection is fine
                        replies.append(exc)
        except BaseException:
            await connection.disconnect(nowait=True)
            await self.drop_idle()  # they are likely broken too (a restart, a reset)
            raise
        if fresh:
            self._arrived(connection)
        if len(self._idle) < MAX_IDLE_CONNECTIONS:
            self._idle.append(connection)
        else:
            await connection.disconnect(nowait=True)
        return replies

    def _arrived(self, connection: AbstractConnection) -> None:
        where = tuple(getattr(connection, name, None) for name in ("host", "port", "path"))
        if self._server is not None and where != self._server:
            self.moved = True
        self._server = where

    async def drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.disconnect(nowait=True)

    async def close(self) -> None:
        await self.drop_idle()
        await self._connect.close()
        await self.lag.close()


class RedisResponseCache:
    """:class:`conduit.core.cache.ResponseCache` on Redis, with a circuit breaker."""

    enabled = True

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: int,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = RedisLink(url, timeout_seconds=timeout_seconds)
        self.timeout_seconds = timeout_seconds
        self._ttl = ttl_seconds
        self._clock = clock
        self._open = False  # the breaker: True while Redis is considered down
        self._reads_resume_at = 0.0  # clock time before which lookups bypass Redis
        self._missed: set[str] = set()  # generations whose bump may not have reached Redis
        self._resync_all = False  # a connection broke: Redis may have lost bumps
        self._timeouts = 0  # reads timed out in a row
        self._probe: asyncio.Task[None] | None = None
        self._last_warning: float | None = None
        self._suppressed = 0
        # Failed calls by operation (lookup, store, invalidate), read by the metrics.
        self.failures: collections.Counter[str] = collections.Counter()

    @property
    def available(self) -> bool:
        """False while requests bypass Redis (until the probe has resynchronised, and for
        ``READS_RESUME_AFTER`` more)."""
        return not self._open and self._clock() >= self._reads_resume_at

    async def lookup(self, request: str, generations: Sequence[str]) -> Lookup:
        if self._reads_resume_at and self._clock() < self._reads_resume_at:
            return BYPASS
        keys = [GENERATION_PREFIX + name for name in generations]
        answer = await self._call("lookup", lambda: self._run_lookup(keys, ENTRY_PREFIX + request))
        if answer is None:
            return BYPASS
        key, value = answer
        return Lookup(key=key.decode(), value=value)

    async def _run_lookup(self, keys: list[str], request: str) -> Any:
        (reply,) = await self._redis.execute(("EVALSHA", _LOOKUP_SHA, len(keys), *keys, request))
        if isinstance(reply, NoScriptError):  # a restarted Redis forgot the script
            (reply,) = await self._redis.execute(("EVAL", _LOOKUP, len(keys), *keys, request))
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def store(self, key: str, value: bytes) -> None:
        if len(value) <= MAX_ENTRY_BYTES:
            await self._call(
                "store", lambda: self._redis.execute(("SET", key, value, "EX", self._ttl))
            )

    async def bump(self, generations: Collection[str]) -> None:
        changed = set(generations)
        if not changed:
            return
        if self._open:
            self._missed |= changed  # the probe replays them before anyone reads Redis again
            return
        if await self._call("invalidate", lambda: self._bump(changed)) is None:
            self._missed |= changed

    async def _bump(self, changed: set[str], within: float | None = None) -> bool:
        commands = [("INCR", GENERATION_PREFIX + name) for name in sorted(changed)]
        for reply in await self._redis.execute(*commands, within=within):
            if isinstance(reply, Exception):
                raise reply
        return True

    async def ping(self) -> None:
        """One PING to Redis, whatever the breaker says (the readiness check)."""
        (reply,) = await self._redis.execute(("PING",), within=PROBE_TIMEOUT)
        if isinstance(reply, Exception):
            raise reply

    async def close(self) -> None:
        await cancel_and_wait(self._probe)
        await self._redis.close()

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | None:
        if self._open:
            return None
        try:
            result = await call()
        except asyncio.CancelledError:
            raise
        except _FAILURES as exc:
            self._failed(operation, exc)
            return None
        if self._moved():
            self._trip(operation, ConnectionError("Redis answers from another server now"))
        if self._open:  # (tripped meanwhile: this answer may come from an unsynced server)
            return None
        self._timeouts = 0
        return result

    def _moved(self) -> bool:
        """True once after a new connection reached another server than the last one (a
        Sentinel failover): the promoted replica may lack the last bumps, so ``all`` is
        replayed there before its answers are used."""
        if not self._redis.moved:
            return False
        self._redis.moved = False
        self._resync_all = True
        return True

    def _failed(self, operation: str, exc: BaseException) -> None:
        self.failures[operation] += 1
        timed_out = isinstance(exc, asyncio.TimeoutError | RedisTimeoutError)
        if timed_out and operation != "invalidate":
            self._timeouts += 1
            if self._timeouts < TIMEOUTS_TO_OPEN:
                return  # this request reads the database; the next one tries Redis again
        elif not timed_out and not isinstance(exc, ResponseError):
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
                hint="requests bypass the cache until Redis answers again",
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
                    await self._bump(replay, within=PROBE_TIMEOUT)
                else:
                    await self._redis.execute(("PING",), within=PROBE_TIMEOUT)
            except _FAILURES:
                self._resync_all |= resync_all
                self._missed |= missed
                delay = min(delay * 2, PROBE_MAX_DELAY)
                continue
            if self._moved():  # the probe itself reached the promoted replica: replay ``all``
                delay = PROBE_FIRST_DELAY
            if self._missed or self._resync_all:  # more was missed meanwhile: replay it too
                continue
            self._timeouts = 0
            self._open = False
            self._reads_resume_at = self._clock() + READS_RESUME_AFTER
            log.info("cache_recovered", replayed=sorted(replay), reads_resume_in=READS_RESUME_AFTER)
            return
