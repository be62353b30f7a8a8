"""Rate limits counted with the ``limits`` library's rules: in memory, or on Redis shared by
instances.

Strategy: the *sliding window counter*. It keeps two counters per caller (this window and
the previous one) and weighs the previous one by how much of it still overlaps the last
minute, so a caller cannot spend a whole budget at the end of one window and another at
the start of the next (the fixed window's double burst), while storage stays O(1) per
caller (the moving window keeps a timestamp per request: 60 000 of them per address with
the development read budget).

One storage call per count: on Redis one Lua script (:data:`COUNT_SCRIPT`, ``limits``'
sliding window with the same keys and arithmetic) counts the request and answers the window
figures the response headers need, where ``limits`` takes a second round trip for them; in
memory :class:`MemoryWindows` does the same arithmetic in one synchronous pass.

Callers are never stored as given: a key names the HMAC-SHA256 of the caller (an email, an
address, a user id) under a key derived from the secret key, so Redis holds no email.

Redis unreachable: a call fails after ``timeout_seconds`` (never retried), the request goes
through (fail open) with one warning per ``WARNING_INTERVAL``, and Redis is left alone for
``PAUSE_SECONDS`` so that an outage adds no latency to every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from limits import RateLimitItem, parse_many
from limits.errors import StorageError

from conduit.core.rate_limits import Quota

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger("conduit.rate_limits")

KEY_PREFIX = "conduit:limits"
WARNING_INTERVAL = 10.0
PAUSE_SECONDS = 1.0
KNOWN_KEYS = 4096  # callers whose storage keys are remembered (forgotten all at once)
SWEEP_SECONDS = 60.0  # how often the memory counters of finished windows are dropped
_FAILURES = (StorageError, OSError, asyncio.TimeoutError)
_KEY_PURPOSE = b"conduit rate-limit keys"


def parse_rule(text: str) -> RateLimitItem:
    """One limit in the ``limits`` notation ("10/minute", "100 per hour"); ValueError if not."""
    items = parse_many(text)
    if len(items) != 1:
        raise ValueError(f"{text!r} names {len(items)} limits, not one")
    if items[0].amount < 1:
        raise ValueError(f"{text!r} allows no request at all")
    return items[0]


def caller_key(secret: str | bytes) -> bytes:
    """The HMAC key callers are hashed with, derived from the secret key (never the key
    itself, which signs tokens)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, _KEY_PURPOSE, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Window:
    """The two counters of one caller after a count (TTLs in seconds)."""

    counted: bool
    previous_count: int
    previous_ttl: float
    current_count: int
    current_ttl: float


class Windows(Protocol):
    async def count(self, key: str, limit: int, expiry: int, cost: int) -> Window:
        """Add ``cost`` (0: only look) if the window has room; the counters after."""
        ...


class MemoryWindows:
    """The counters in this process, in one synchronous pass per count.

    The arithmetic of :data:`COUNT_SCRIPT`, so that a caller meets the same limit in memory
    as on Redis: a caller's window opens at its first counted request and lasts ``expiry``
    seconds; the window before it weighs by its overlap with the last ``expiry`` seconds; a
    caller unseen for two windows starts afresh. (``limits``' own memory storage numbers
    windows from the epoch instead, ``int(now / expiry)``: every caller's window turns at the
    same second, and a burst that straddles that second is counted mostly in the new one.)
    ``limits``' storage also takes a lock, reads both counters, increments, then reads both
    again for the figures (two awaited calls, six lookups); here one dictionary entry per
    caller holds both counters and there is no await between the read and the write, so no
    lock is needed. Entries whose windows are both over are swept once per
    :data:`SWEEP_SECONDS`.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        # key -> [start of the current window, count in it, count in the window before, expiry]
        self._entries: dict[str, list[float]] = {}
        self._clock = clock
        self._swept_at = clock()

    async def count(self, key: str, limit: int, expiry: int, cost: int) -> Window:
        now = self._clock()
        if now - self._swept_at >= SWEEP_SECONDS:
            self._sweep(now)
        entry = self._entries.get(key)
        turned = False
        if entry is None or now >= entry[0] + 2 * expiry:  # nothing, or both windows over
            start, current, previous = now, 0, 0
        elif now >= entry[0] + expiry:  # the current window is over: it becomes the previous
            start, current, previous = entry[0] + expiry, 0, int(entry[1])
            turned = True
        else:
            start, current, previous = entry[0], int(entry[1]), int(entry[2])
        previous_ttl = start + expiry - now if previous else 0.0
        current_ttl = start + 2 * expiry - now
        weighted = previous * previous_ttl / expiry + current
        counted = 0 < cost <= limit and math.floor(weighted) + cost <= limit
        if counted:
            current += cost
        if counted or turned:
            self._entries[key] = [start, current, previous, expiry]
        return Window(counted, previous, previous_ttl, current, current_ttl)

    def _sweep(self, now: float) -> None:
        self._swept_at = now
        over = [
            key for key, (start, _, _, expiry) in self._entries.items() if now >= start + 2 * expiry
        ]
        for key in over:
            del self._entries[key]


# ``limits``' acquire_sliding_window.lua, answering the counters as its sliding_window.lua
# does: a count and the figures for the headers in one round trip. Times in milliseconds.
COUNT_SCRIPT = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local cost = tonumber(ARGV[3])
local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end
local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = math.max(0, tonumber(redis.call('pttl', KEYS[1])))
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = math.max(0, tonumber(redis.call('pttl', KEYS[2])))
local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
local counted = 0
if cost > 0 and weighted + cost <= limit then
    if redis.call('exists', KEYS[2]) == 1 then
        redis.call('incrby', KEYS[2], cost)
    else
        redis.call('set', KEYS[2], cost, 'PX', expiry * 2)
        current_ttl = expiry * 2
    end
    current_count = current_count + cost
    counted = 1
end
return {counted, previous_count, previous_ttl, current_count, current_ttl}
"""


class RedisWindows:
    """The counters on Redis: one ``EVALSHA`` of :data:`COUNT_SCRIPT` per count."""

    def __init__(self, client: Redis) -> None:
        from redis.exceptions import RedisError

        self._errors = RedisError
        self._script = client.register_script(COUNT_SCRIPT)

    async def count(self, key: str, limit: int, expiry: int, cost: int) -> Window:
        current = f"{KEY_PREFIX}:{{{key}}}"  # both keys on one cluster slot, as ``limits``
        try:
            answer: Any = await self._script(
                keys=[f"{current}/-1", current], args=[limit, expiry, cost]
            )
        except self._errors as exc:
            raise StorageError(exc) from exc
        counted, previous, previous_ttl, now, current_ttl = (int(value) for value in answer)
        return Window(bool(counted), previous, previous_ttl / 1000, now, current_ttl / 1000)


def _quota(item: RateLimitItem, window: Window, *, counting: bool) -> Quota:
    """The figures ``limits``' get_window_stats computes, from the counters at hand."""
    expiry = item.get_expiry()
    weighted = window.previous_count * window.previous_ttl / expiry + window.current_count
    remaining = max(0, item.amount - math.floor(weighted))
    resets = [math.inf]
    if window.previous_count:
        resets.append(window.previous_ttl % (expiry / window.previous_count))
    if window.current_count:
        resets.append(window.current_ttl % expiry)
    reset = min(resets)
    return Quota(
        allowed=window.counted if counting else weighted < item.amount,
        limit=item.amount,
        remaining=remaining,
        reset_seconds=max(1, math.ceil(0 if reset == math.inf else reset)),
    )


class LimitsRateLimiter:
    """The :class:`conduit.core.rate_limits.RateLimiter` port."""

    def __init__(
        self,
        rules: Mapping[str, RateLimitItem],
        windows: Windows,
        *,
        secret: str | bytes,
        timeout_seconds: float | None = None,
        client: Redis | None = None,
    ) -> None:
        self.rules = dict(rules)
        self.windows = windows
        self.timeout = timeout_seconds
        self._key = caller_key(secret)
        self._keys: dict[tuple[str, str], str] = {}
        self._client = client
        self._paused_until = 0.0
        self._warned_at = -math.inf

    def key_of(self, rule: str, caller: str) -> str:
        """The storage key of ``caller`` under ``rule``: the caller only as its HMAC.

        Remembered for the callers seen lately (the same addresses read again and again):
        an HMAC and ``limits``' key formatting per request otherwise."""
        known = self._keys.get((rule, caller))
        if known is not None:
            return known
        digest = hmac.new(self._key, caller.encode(), hashlib.sha256).hexdigest()[:32]
        key = self.rules[rule].key_for(rule, digest)
        if len(self._keys) >= KNOWN_KEYS:
            self._keys.clear()
        self._keys[(rule, caller)] = key
        return key

    async def hit(self, rule: str, caller: str) -> Quota | None:
        return await self._count(rule, caller, cost=1)

    async def peek(self, rule: str, caller: str) -> Quota | None:
        return await self._count(rule, caller, cost=0)

    async def _count(self, rule: str, caller: str, *, cost: int) -> Quota | None:
        item = self.rules[rule]
        if self._paused_until and time.monotonic() < self._paused_until:
            return None
        key = self.key_of(rule, caller)
        try:
            async with asyncio.timeout(self.timeout):  # None: no timeout (memory)
                window = await self.windows.count(key, item.amount, item.get_expiry(), cost)
        except _FAILURES as exc:
            self._failed(exc)
            return None
        self._paused_until = 0.0
        return _quota(item, window, counting=cost > 0)

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._paused_until = now + PAUSE_SECONDS
        if now - self._warned_at >= WARNING_INTERVAL:
            self._warned_at = now
            log.warning("rate_limits_unavailable", error=repr(exc), requests="let through")

    async def ping(self) -> None:
        """One PING to the Redis the counters live on (nothing to reach in memory)."""
        if self._client is not None:
            await self._client.ping()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def memory_rate_limiter(
    rules: Mapping[str, RateLimitItem], *, secret: str | bytes
) -> LimitsRateLimiter:
    """Counts in this process: right for one instance (``conduit serve --workers 1``)."""
    return LimitsRateLimiter(rules, MemoryWindows(), secret=secret)


def redis_rate_limiter(
    url: str, rules: Mapping[str, RateLimitItem], *, secret: str | bytes, timeout_seconds: float
) -> LimitsRateLimiter:
    """Counts on Redis, so every instance (and worker process) shares one budget per caller.

    ``url`` is ``CONDUIT_REDIS_URL``: one server, or Sentinels naming the primary; after a
    failover counting goes on on the promoted replica, from the counters it had replicated
    (requests are let through while no primary answers). Conduit runs its own script on a
    redis-py client rather than ``limits``' storage (``async+redis+sentinel://``), so that
    client comes from the factory every Redis user shares.
    """
    # Imported here: redis-py takes a tenth of a second to import, and only this mode needs it.
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from conduit.adapters.redis_client import redis_client

    client = redis_client(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        max_connections=256,
        retry=Retry(NoBackoff(), 0),
    )
    return LimitsRateLimiter(
        rules,
        RedisWindows(client),
        secret=secret,
        timeout_seconds=timeout_seconds,
        client=client,
    )
