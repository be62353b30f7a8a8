"""Rate limits counted by the ``limits`` library: in memory, or on Redis shared by instances.

Strategy: the *sliding window counter*. It keeps two counters per caller (this window and
the previous one) and weighs the previous one by how much of it still overlaps the last
minute, so a caller cannot spend a whole budget at the end of one window and another at
the start of the next (the fixed window's double burst), while storage stays O(1) per
caller (the moving window keeps a timestamp per request: 60 000 of them per address with
the development read budget). On Redis a hit is one Lua script, and the window figures for
the response headers one more.

Redis unreachable: a call fails after ``timeout_seconds`` (never retried), the request goes
through (fail open) with one warning per ``WARNING_INTERVAL``, and Redis is left alone for
``PAUSE_SECONDS`` so that an outage adds no latency to every request.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from conduit.core.rate_limits import Quota

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

log = structlog.get_logger("conduit.rate_limits")

KEY_PREFIX = "conduit:limits"
WARNING_INTERVAL = 10.0
PAUSE_SECONDS = 1.0
_FAILURES = (StorageError, OSError, asyncio.TimeoutError)


def parse_rule(text: str) -> RateLimitItem:
    """One limit in the ``limits`` notation ("10/minute", "100 per hour"); ValueError if not."""
    items = parse_many(text)
    if len(items) != 1:
        raise ValueError(f"{text!r} names {len(items)} limits, not one")
    if items[0].amount < 1:
        raise ValueError(f"{text!r} allows no request at all")
    return items[0]


class LimitsRateLimiter:
    """The :class:`conduit.core.rate_limits.RateLimiter` port on ``limits``."""

    def __init__(
        self,
        rules: Mapping[str, RateLimitItem],
        storage: Storage,
        *,
        timeout_seconds: float | None = None,
        pool: ConnectionPool | None = None,
    ) -> None:
        self.rules = dict(rules)
        self.storage = storage
        self.strategy = SlidingWindowCounterRateLimiter(storage)
        self.timeout = timeout_seconds
        self._pool = pool
        self._paused_until = 0.0
        self._warned_at = -math.inf

    async def hit(self, rule: str, caller: str) -> Quota | None:
        item = self.rules[rule]
        if self._paused_until and time.monotonic() < self._paused_until:
            return None
        try:
            async with asyncio.timeout(self.timeout):  # None: no timeout (memory)
                allowed = await self.strategy.hit(item, rule, caller)
                stats = await self.strategy.get_window_stats(item, rule, caller)
        except _FAILURES as exc:
            self._failed(exc)
            return None
        self._paused_until = 0.0
        return Quota(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_seconds=max(1, math.ceil(stats.reset_time - time.time())),
        )

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._paused_until = now + PAUSE_SECONDS
        if now - self._warned_at >= WARNING_INTERVAL:
            self._warned_at = now
            log.warning("rate_limits_unavailable", error=repr(exc), requests="let through")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()


def memory_rate_limiter(rules: Mapping[str, RateLimitItem]) -> LimitsRateLimiter:
    """Counts in this process: right for one instance (``conduit serve --workers 1``)."""
    return LimitsRateLimiter(rules, MemoryStorage())


def redis_rate_limiter(
    url: str, rules: Mapping[str, RateLimitItem], *, timeout_seconds: float
) -> LimitsRateLimiter:
    """Counts on Redis, so every instance (and worker process) shares one budget per caller."""
    # Imported here: redis-py takes a tenth of a second to import, and only this mode needs it.
    from redis.asyncio import ConnectionPool
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = ConnectionPool.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        max_connections=256,
    )
    storage = RedisStorage(
        f"async+{url}",
        wrap_exceptions=True,
        implementation="redispy",
        key_prefix=KEY_PREFIX,
        connection_pool=pool,  # type: ignore[arg-type]  # passed on to redis.asyncio.Redis
        retry=Retry(NoBackoff(), 0),  # type: ignore[arg-type]
    )
    return LimitsRateLimiter(rules, storage, timeout_seconds=timeout_seconds, pool=pool)
