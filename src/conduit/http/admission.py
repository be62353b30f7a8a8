"""Admission: the requests one process serves at once, and a fast 503 for the rest.

Without a bound, every request a server accepts goes into the app at once; under a load
above what the process can serve, each answer then waits behind all the others, and past
the clients' timeout the process serves answers nobody reads (512 connections on one
core: most requests timed out at 2 s). :class:`Admission` lets at most ``max_in_flight``
requests into the app (CONDUIT_MAX_IN_FLIGHT, by default twice the database connections).
A request over the limit waits in a queue at most ``queue_timeout_ms``
(CONDUIT_QUEUE_TIMEOUT_MS) and goes in when a slot frees; one that cannot go in within that
time is answered at once::

    503 Service Unavailable
    Retry-After: 1
    Content-Type: application/json

    {"errors": {"server": ["is busy, try again"]}}

(the answer of an exhausted connection pool, so a client handles both alike), with the API's
security headers; the request id and CORS headers are not added (they sit further in). A shed
request costs the least the process can spend on it: no body read, no database, no access
log line; it is counted (``conduit_http_requests_shed_total``, and
``conduit_http_requests_queued`` while requests wait) and at most one warning a second
says how many were shed since the last.

The queue is served first come, first served while it drains within the timeout (a client
pool a little larger than the limit waits a few milliseconds and is never refused). Once it
holds more requests than the process serves within the timeout (the pace at which slots
free, smoothed), some will be shed whatever the order: the newest waiter goes in first, as
it can still be answered in time, and the oldest are shed at their timeout. So the requests
admitted under overload wait little instead of the whole timeout each.

Measured on PostgreSQL (bench/README.md, "Overload"), ``conduit serve`` on one core with
its defaults, 512 closed-loop connections that honour ``Retry-After``: the article read
admitted 1,777 req/s (1,968 at 64 connections) with p50/p99 61/151 ms, shed 349 req/s
answered within 102 ms at p99, and none timed out (without admission: about 2,300 client
timeouts in 10 s and a fifth of the answers). The admitted p99 is still 4.5-7.5x the p50 at
64 connections: the event loop that refuses the excess is the one the admitted run on.

Not counted and never refused: WebSockets (long-lived; their own limits apply), lifespan
events, the probes (``/health/live``, ``/health/ready``: an orchestrator must not read a
busy instance as a dead one) and ``/metrics``. ``max_in_flight`` 0 switches admission off.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Collection
from typing import Protocol

import orjson
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from conduit.http.hardening import API_POLICY, COMMON_HEADERS

log = structlog.get_logger("conduit.admission")

EXEMPT_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
RETRY_AFTER_SECONDS = 1
# One warning at most this often, with the number shed since the last one.
REPORT_INTERVAL_SECONDS = 1.0
# The pace of the slots is averaged over about this many releases.
SMOOTHING = 16
_BODY = orjson.dumps({"errors": {"server": ["is busy, try again"]}})
# Outside the pipeline, so the shed answer carries the security headers every API answer
# has itself (computed once: the same bytes for every shed request).
_HEADERS = (
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    (b"cache-control", b"no-store"),
    *COMMON_HEADERS,
    (b"content-security-policy", API_POLICY),
)


class AdmissionObserver(Protocol):
    """What admission reports as it goes (metrics); the HTTP kit knows no metrics library."""

    def shed(self) -> None:
        """A request was refused with 503."""

    def waiting(self, change: int) -> None:
        """The number of requests in the queue went up (1) or down (-1)."""


class _Unobserved:
    def shed(self) -> None:
        return None

    def waiting(self, change: int) -> None:
        return None


class Admission:
    """At most ``max_in_flight`` HTTP requests in the app; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        queue_timeout_ms: float,
        exempt_paths: Collection[str] = EXEMPT_PATHS,
        observer: AdmissionObserver | None = None,
    ) -> None:
        self.app = app
        self.limit = max_in_flight
        self.timeout = queue_timeout_ms / 1000

        self.exempt = frozenset(exempt_paths)
        self.observer: AdmissionObserver = observer or _Unobserved()
        self.in_flight = 0
        self.queued = 0  # waiters not yet admitted, shed or gone
        # Oldest on the left; a waiter gets True with a slot, False at the timeout.
        self._queue: deque[asyncio.Future[bool]] = deque()
        # Seconds between two requests leaving the app, smoothed: how fast slots free.
        self._interval = 0.0
        self._released_at = 0.0
        self._shed_since_report = 0
        self._reported_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.limit <= 0 or scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight < self.limit:
            self.in_flight += 1
        elif not await self._wait():
            await self._shed(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    async def _wait(self) -> bool:
        """Wait for a slot (True) or the end of the timeout (False)."""
        if self.timeout <= 0:
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._queue.append(waiter)
        self.queued += 1
        self.observer.waiting(1)
        timer = loop.call_later(self.timeout, self._expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Gone while waiting (the server stops, the client left): out of the queue, and
            # a slot handed over just before is passed on.
            if not waiter.done() or waiter.cancelled():
                self._left()
            elif waiter.result():
                self._release()
            raise
        finally:
            timer.cancel()

    def _left(self) -> None:
        self.queued -= 1
        self.observer.waiting(-1)

    def _expire(self, waiter: asyncio.Future[bool]) -> None:
        if not waiter.done():
            waiter.set_result(False)
            self._left()
        queue = self._queue
        while queue and queue[0].done():
            queue.popleft()

    def _release(self) -> None:
        """A request left the app: its slot goes to a waiter, or is freed."""
        now = asyncio.get_running_loop().time()
        # A pause longer than the timeout says nothing about the pace under load.
        gap = min(now - self._released_at, self.timeout)
        self._released_at = now
        self._interval += (gap - self._interval) / SMOOTHING
        waiter = self._next_waiter()
        if waiter is None:
            self.in_flight -= 1
            return
        waiter.set_result(True)
        self._left()

    def _next_waiter(self) -> asyncio.Future[bool] | None:
        queue = self._queue
        while queue and queue[0].done():
            queue.popleft()
        if not queue:
            return None
        if self.queued * self._interval <= self.timeout:
            return queue.popleft()  # the queue drains within the timeout: first come first
        # More wait than the process serves within the timeout: some will be shed whatever
        # the order, and the newest can still be answered in time.
        while queue:
            waiter = queue.pop()
            if not waiter.done():
                return waiter
        return None

    async def _shed(self, send: Send) -> None:
        self.observer.shed()
        self._shed_since_report += 1
        now = time.monotonic()
        if now - self._reported_at >= REPORT_INTERVAL_SECONDS:
            log.warning(
                "requests_shed",
                shed=self._shed_since_report,
                max_in_flight=self.limit,
                queue_timeout_ms=round(self.timeout * 1000),
            )
            self._shed_since_report = 0
            self._reported_at = now
        await send({"type": "http.response.start", "status": 503, "headers": list(_HEADERS)})
        await send({"type": "http.response.body", "body": _BODY})
