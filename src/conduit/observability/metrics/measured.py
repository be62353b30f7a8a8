"""The ports bootstrap hands out, measured: the event bus, the response cache, the rate limiter.

Each wrapper implements the same port as what it wraps and passes every call through; it
only counts what went by (:mod:`.metrics`). ``bootstrap.build`` calls :func:`instrument`
once, so no feature, adapter or core module knows it is measured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from conduit.core.bus import Deliver, EventBus, Outcome
from conduit.core.cache import Lookup, ResponseCache
from conduit.core.consumers import Consumer
from conduit.core.db import Database
from conduit.core.events import Event
from conduit.core.rate_limits import Quota, RateLimiter, refused_by_hit, refused_by_peek
from conduit.observability.metrics import registry as metrics
from conduit.observability.metrics.sampler import ProcessMetrics
from conduit.settings import Settings


class MeasuredBus:
    """:class:`~conduit.core.bus.EventBus`: publishes and failures of the relay, and every
    delivery's outcome per consumer."""

    def __init__(self, inner: EventBus) -> None:
        self.inner = inner

    async def start(self) -> None:
        await self.inner.start()

    async def publish(self, events: Sequence[Event]) -> None:
        try:
            await self.inner.publish(events)
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.RELAY_FAILURES.inc()
            raise
        metrics.RELAY_PUBLISHED.inc(len(events))

    async def consume(self, consumer: Consumer, deliver: Deliver) -> None:
        await self.inner.consume(consumer, measured_delivery(consumer.name, deliver))

    async def close(self) -> None:
        await self.inner.close()


def measured_delivery(consumer: str, deliver: Deliver) -> Deliver:
    """``deliver``, counting each attempt and how it ended (``Outcome``, or an error)."""
    deliveries = metrics.CONSUMER_DELIVERIES.labels(consumer)
    failures = metrics.CONSUMER_FAILURES.labels(consumer)
    retries = metrics.CONSUMER_RETRIES.labels(consumer)
    dead = metrics.CONSUMER_DEAD_LETTERS.labels(consumer)

    async def measured(event: Event, attempt: int) -> Outcome:
        deliveries.inc()
        try:
            outcome = await deliver(event, attempt)
        except asyncio.CancelledError:
            raise
        except Exception:
            failures.inc()
            raise
        if outcome is Outcome.RETRY:
            failures.inc()
            retries.inc()
        elif outcome is Outcome.DEAD:
            failures.inc()
            dead.inc()
        return outcome

    return measured


class MeasuredCache:
    """:class:`~conduit.core.cache.ResponseCache`: hits, misses and bypasses of lookups.

    The cache's own failures (it never raises) are read from the adapter by the sampler.
    """

    def __init__(self, inner: ResponseCache) -> None:
        self.inner = inner

    @property
    def enabled(self) -> bool:
        return self.inner.enabled

    async def lookup(self, request: str, generations: Sequence[str]) -> Lookup:
        found = await self.inner.lookup(request, generations)
        if found.value is not None:
            metrics.CACHE_HITS.inc()
        elif found.key is None:
            metrics.CACHE_BYPASSES.inc()
        else:
            metrics.CACHE_MISSES.inc()
        return found

    async def store(self, key: str, value: bytes) -> None:
        await self.inner.store(key, value)

    async def bump(self, generations: Collection[str]) -> None:
        await self.inner.bump(generations)

    async def close(self) -> None:
        await self.inner.close()


class MeasuredRateLimiter:
    """:class:`~conduit.core.rate_limits.RateLimiter`: refusals, by the limit refused.

    A count that refuses is a refusal of its rule, except for a login's failures, counted
    after the answer (:class:`~conduit.core.rate_limits.LoginLimits`): a login is refused
    by them when the account's budget is spent and the address has failed on it, which is
    seen when those failures are looked at; it is a refusal under ``login_per_account``.
    """

    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner

    async def hit(self, rule: str, caller: str) -> Quota | None:
        quota = await self.inner.hit(rule, caller)
        if (refused := refused_by_hit(rule, quota)) is not None:
            metrics.RATE_LIMIT_REJECTIONS.labels(refused).inc()
        return quota

    async def peek(self, rule: str, caller: str) -> Quota | None:
        quota = await self.inner.peek(rule, caller)
        if (refused := refused_by_peek(rule, quota)) is not None:
            metrics.RATE_LIMIT_REJECTIONS.labels(refused).inc()
        return quota

    async def close(self) -> None:
        await self.inner.close()


@dataclass(frozen=True, slots=True)
class Instrumented:
    """The ports to hand out, and the process's metrics (None: metrics are switched off)."""

    bus: EventBus
    cache: ResponseCache
    rate_limiter: RateLimiter | None
    metrics: ProcessMetrics | None


def instrument(
    settings: Settings,
    db: Database,
    *,
    bus: EventBus,
    cache: ResponseCache,
    rate_limiter: RateLimiter | None,
) -> Instrumented:
    """The parts measured (CONDUIT_METRICS_ENABLED, the default), else as they are."""
    if not settings.metrics_enabled:
        return Instrumented(bus, cache, rate_limiter, None)
    return Instrumented(
        bus=MeasuredBus(bus),
        cache=MeasuredCache(cache),
        rate_limiter=None if rate_limiter is None else MeasuredRateLimiter(rate_limiter),
        metrics=ProcessMetrics(settings, db, cache),
    )
