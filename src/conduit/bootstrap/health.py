"""Which dependencies ``conduit serve`` reports on ``/health/ready``, and which it needs.

Required (``/health/ready`` answers 503 while it is down): the **database** only. Every
other dependency degrades one feature and leaves the API serving, as the README's "When a
service is down" says, so it is reported (``status: degraded``) without taking the
instance out of rotation:

- **Redis** (``cache``, ``rate_limits``, ``live_updates``, with ``CONDUIT_REDIS_URL``):
  reads come from the database, rate limits fail open, live updates across instances pause;
- **Memcached** (``cache``, with ``CONDUIT_CACHE_URL=memcached://…``): reads come from the
  database;
- **broker** (RabbitMQ, NATS): writes go to the outbox and wait there; the embedded bus is
  reported as ``embedded`` (it is this process);
- **storage** (the local folder takes a file; the S3 bucket answers): uploads answer 503,
  everything else works.

OpenID Connect providers are not checked: a check would call each provider at every probe
of every instance, and password login works without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conduit.observability.health import Dependency, Pingable, Readiness

if TYPE_CHECKING:
    from conduit.bootstrap import Container


def _adapter(part: object) -> object:
    """The adapter under the wrappers that observe a port (metrics, tracing): each keeps
    the part it wraps as ``inner``, and only the adapter knows how to ping its server."""
    while (inner := getattr(part, "inner", None)) is not None:
        part = inner
    return part


def broker_kind(url: str | None) -> str:
    """``rabbitmq``, ``nats`` or ``embedded``, from CONDUIT_BROKER_URL."""
    if not url or url.startswith("memory://"):
        return "embedded"
    return "rabbitmq" if url.startswith(("amqp://", "amqps://")) else "nats"


def cache_kind(url: str) -> str:
    """``memcached`` or ``redis``, from CONDUIT_CACHE_URL (else CONDUIT_REDIS_URL)."""
    return "memcached" if url.startswith("memcached://") else "redis"


def dependencies(container: Container) -> tuple[Dependency, ...]:
    """What ``conduit serve`` depends on, in the order reported."""
    c = container
    found = [Dependency("database", c.db.dialect, required=True, ping=c.db.ping)]
    cache_url = c.settings.cache_url or c.settings.redis_url
    parts: list[tuple[str, object, str]] = []
    if cache_url:
        parts.append(("cache", c.cache, cache_kind(cache_url)))
    if c.settings.redis_url:
        parts += [("rate_limits", c.rate_limiter, "redis"), ("live_updates", c.live, "redis")]
    for name, wrapped, kind in parts:
        if isinstance(part := _adapter(wrapped), Pingable):
            found.append(Dependency(name, kind, ping=part.ping))
    kind = broker_kind(c.settings.broker_url)
    bus = _adapter(c.bus)
    found.append(Dependency("broker", kind, ping=bus.ping if isinstance(bus, Pingable) else None))
    storage = c.storage
    if isinstance(storage, Pingable):
        found.append(Dependency("storage", "s3" if storage.direct else "folder", ping=storage.ping))
    return tuple(found)


def readiness(container: Container) -> Readiness:
    return Readiness(dependencies(container))
