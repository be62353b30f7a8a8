"""Which adapter each setting names: the bus, storage, the cache, live updates, identity
providers and rate limits (the embedded one when the setting is unset).

Adapters with a client library of their own are imported only when chosen, so the
zero-config mode never loads a broker, Redis or S3 client.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from conduit.adapters.memory_bus import MemoryBus
from conduit.adapters.memory_live import MemoryLiveBus
from conduit.bootstrap.configuration import ConfigurationError, resolve_secret
from conduit.core.bus import EventBus
from conduit.core.cache import CacheRules, NoCache, ResponseCache, invalidate
from conduit.core.consumers import Consumer
from conduit.core.db import Database
from conduit.core.identity import IdentityProvider
from conduit.core.live import LiveBus
from conduit.core.rate_limits import LOGIN_FAILURES_PER_ADDRESS, LOGIN_PER_ACCOUNT, RateLimiter
from conduit.core.storage import FileStorage
from conduit.settings import RateLimits, Settings

if TYPE_CHECKING:
    from limits import RateLimitItem


def build_bus(settings: Settings, consumers: Sequence[Consumer]) -> EventBus:
    """The event bus ``CONDUIT_BROKER_URL`` names (unset or ``memory://``: in-process)."""
    url = settings.broker_url
    if not url or url.startswith("memory://"):
        return MemoryBus()
    if url.startswith(("amqp://", "amqps://")):
        from conduit.adapters.rabbitmq import RabbitMqBus

        return RabbitMqBus(url, consumers=consumers, max_attempts=settings.consumer_max_attempts)
    if url.startswith(("nats://", "tls://")):
        from conduit.adapters.nats import NatsBus

        return NatsBus(url, max_attempts=settings.consumer_max_attempts)
    raise ConfigurationError(
        "CONDUIT_BROKER_URL must start with amqp://, amqps:// or nats:// (or be unset for the "
        f"embedded bus), not {url.split('://')[0]}://"
    )


def file_storage(settings: Settings) -> FileStorage:
    """The storage ``CONDUIT_STORAGE_URL`` names: ``s3://bucket``, or unset for a local folder."""
    url = settings.storage_url
    if not url or url.startswith("file://"):
        from conduit.adapters.local_storage import LocalStorage

        folder = Path(url.removeprefix("file://")) if url else Path(settings.data_dir) / "media"
        return LocalStorage(folder, base_url=settings.media_base_url)
    if url.startswith("s3://"):
        bucket = url.removeprefix("s3://").strip("/")
        if not bucket or "/" in bucket:
            raise ConfigurationError(
                f"CONDUIT_STORAGE_URL must name one bucket (s3://bucket), not {url!r}"
            )
        from conduit.adapters.s3_storage import S3Storage

        secret = settings.s3_secret_access_key
        return S3Storage(
            bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=None if secret is None else secret.get_secret_value(),
            url_ttl_seconds=settings.s3_url_ttl_seconds,
        )
    raise ConfigurationError(
        "CONDUIT_STORAGE_URL must start with s3:// or file:// (or be unset for the folder "
        f"<data_dir>/media), not {url.split('://')[0]}://"
    )


def response_cache(settings: Settings, db: Database, rules: CacheRules) -> ResponseCache:
    """The cache ``CONDUIT_CACHE_URL`` names (Memcached or Redis), else ``CONDUIT_REDIS_URL``'s
    Redis, else nothing.

    Each commit bumps the generations its events changed, as ``rules`` say.
    """
    url = settings.cache_url or settings.redis_url
    if not url:
        return NoCache()
    variable = "CONDUIT_CACHE_URL" if settings.cache_url else "CONDUIT_REDIS_URL"
    scheme = url.split("://")[0] if "://" in url else ""
    cache: ResponseCache
    if scheme == "memcached":
        from conduit.adapters.memcached_cache import MemcachedResponseCache

        try:
            cache = MemcachedResponseCache(
                url,
                ttl_seconds=settings.cache_ttl_seconds,
                timeout_seconds=settings.cache_timeout_seconds,
            )
        except ValueError as exc:
            raise ConfigurationError(f"{variable} is not a Memcached URL: {exc}") from None
    elif settings.cache_url and not scheme.startswith("redis") and scheme != "unix":
        found = f"{scheme}://" if scheme else "a URL without a scheme"
        raise ConfigurationError(
            "CONDUIT_CACHE_URL must be memcached://host:port or a Redis URL (redis://, "
            "rediss://, redis+sentinel://, unix://), or unset for CONDUIT_REDIS_URL's Redis; "
            f"not {found}"
        )
    else:
        from conduit.adapters.redis_cache import RedisResponseCache

        try:
            cache = RedisResponseCache(
                url,
                ttl_seconds=settings.cache_ttl_seconds,
                timeout_seconds=settings.cache_timeout_seconds,
            )
        except ValueError as exc:
            raise ConfigurationError(f"{variable} is not a Redis URL: {exc}") from None
    db.on_commit(functools.partial(invalidate, cache, rules))
    # Again once read replicas have the commit: an anonymous read served by a replica in
    # between may have cached what it showed before the write.
    db.on_replayed(functools.partial(invalidate, cache, rules))
    return cache


def live_bus(settings: Settings) -> LiveBus:
    """Redis pub/sub across instances when CONDUIT_REDIS_URL is set; in-process otherwise."""
    if settings.redis_url:
        from conduit.adapters.redis_live import RedisLiveBus

        try:
            return RedisLiveBus(settings.redis_url)
        except ValueError as exc:
            raise ConfigurationError(f"CONDUIT_REDIS_URL is not a Redis URL: {exc}") from None
    return MemoryLiveBus()


def identity_providers(settings: Settings) -> dict[str, IdentityProvider]:
    """An OpenID Connect client per configured provider (Authlib, over HTTP)."""
    if not settings.oidc_providers:
        return {}
    from conduit.adapters.oidc import OidcClient

    clients: dict[str, IdentityProvider] = {}
    for provider in settings.oidc_providers:
        if provider.name in clients:
            raise ConfigurationError(
                f"CONDUIT_OIDC_PROVIDERS names the provider {provider.name!r} twice"
            )
        if not provider.issuer.startswith(("https://", "http://")):
            raise ConfigurationError(
                f"CONDUIT_OIDC_PROVIDERS: the issuer of {provider.name!r} must be an "
                "https:// (or http://) URL"
            )
        clients[provider.name] = OidcClient(provider)
    return clients


def rate_limit_rules(settings: Settings) -> dict[str, RateLimitItem]:
    """Every rate limit parsed; a value the ``limits`` notation cannot read stops the start."""
    from conduit.adapters.rate_limits import parse_rule

    chosen = settings.rate_limits
    rules = {}
    for name in RateLimits.model_fields:
        text = getattr(chosen, name)
        try:
            rules[name] = parse_rule(text)
        except ValueError as exc:
            raise ConfigurationError(
                f"CONDUIT_RATE_LIMIT_{name.upper()}: cannot read {text!r} ({exc}). Write a "
                'count per period, for example "10/minute", "600 per minute" or "5/second".'
            ) from None
    return rules


def rate_limiter(settings: Settings, secret: str | None = None) -> RateLimiter | None:
    """The limits counted on Redis when ``CONDUIT_REDIS_URL`` is set, else in this process.

    Callers are stored as an HMAC under a key derived from ``secret`` (the secret key,
    resolved from the settings when not given).
    """
    rules = rate_limit_rules(settings)  # checked even when switched off: a typo waits for no one
    if not settings.rate_limits_enabled:
        return None
    from conduit.adapters.rate_limits import memory_rate_limiter, redis_rate_limiter

    rules[LOGIN_FAILURES_PER_ADDRESS] = rules[LOGIN_PER_ACCOUNT]  # in the account's window
    secret = secret or resolve_secret(settings)
    if not settings.redis_url:
        return memory_rate_limiter(rules, secret=secret)
    try:
        return redis_rate_limiter(
            settings.redis_url,
            rules,
            secret=secret,
            timeout_seconds=settings.cache_timeout_seconds,
        )
    except ValueError as exc:
        raise ConfigurationError(f"CONDUIT_REDIS_URL is not a Redis URL: {exc}") from None
