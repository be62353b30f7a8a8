"""The one place that reads Settings and wires Conduit's parts together.

The web app, the CLI and the worker all start from :func:`build`; the app's lifespan and
``conduit worker`` then start and stop what the container built through
``Container.start(role)`` / ``Container.stop()`` (``lifecycle.py``).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from conduit.adapters.memory_bus import MemoryBus
from conduit.adapters.memory_live import MemoryLiveBus
from conduit.admin import audit as admin_audit
from conduit.articles import audit as articles_audit
from conduit.articles import cache_rules as articles_cache
from conduit.auth import audit as auth_audit
from conduit.bootstrap.lifecycle import Lifecycle
from conduit.bootstrap.lifecycle import Role as Role
from conduit.bootstrap.lifecycle import access_keeper as access_keeper
from conduit.bootstrap.lifecycle import relay_for as relay_for
from conduit.comments import audit as comments_audit
from conduit.comments import cache_rules as comments_cache
from conduit.core import audit
from conduit.core.bus import EventBus, adapter_of
from conduit.core.cache import CacheRules, NoCache, ResponseCache, invalidate
from conduit.core.consumers import Consumer
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.identity import IdentityProvider
from conduit.core.live import LiveBus
from conduit.core.logging import configure_logging
from conduit.core.principal import Authenticator
from conduit.core.rate_limits import LOGIN_FAILURES_PER_ADDRESS, LOGIN_PER_ACCOUNT, RateLimiter
from conduit.core.security import TokenCodec, is_weak_secret, load_or_create_secret
from conduit.core.storage import FileStorage
from conduit.http.client_address import IPNetwork
from conduit.notifications import cache_rules as notifications_cache
from conduit.notifications.handlers import consumer as notifications_consumer
from conduit.observability.measured import instrument
from conduit.observability.metrics_sampler import ProcessMetrics
from conduit.observability.environment import (
    TracingConfigurationError,
    check_tracing_environment,
)
from conduit.profiles import cache_rules as profiles_cache
from conduit.settings import RateLimits, Settings
from conduit.tags import cache_rules as tags_cache
from conduit.users import cache_rules as users_cache

if TYPE_CHECKING:
    from limits import RateLimitItem

    from conduit.observability.tracing import Tracing


class ConfigurationError(RuntimeError):
    """Conduit cannot start with these settings; the message says what to change."""


# Every consumer of events, from the features' handlers.py: the one place to add one.
# (Here rather than in entrypoints because the bus needs them: RabbitMQ declares a durable
# queue per consumer before the first publish, so no event is routed to nowhere.)
CONSUMERS: tuple[Consumer, ...] = (notifications_consumer,)

# What each feature declares about the response cache, in its cache_rules.py: which
# generations its events bump (every event it emits, even those that bump nothing) and which
# of its reads are cached. The one place to add a feature's.
CACHE_RULES = CacheRules.merge(
    users_cache.RULES,
    profiles_cache.RULES,
    tags_cache.RULES,
    articles_cache.RULES,
    comments_cache.RULES,
    notifications_cache.RULES,
)

# The kinds of audit record each feature writes, in its audit.py: what the admin audit view
# (GET /api/admin/audit?type=) filters by. The one place to add a feature's.
AUDIT_TYPES: tuple[str, ...] = audit.catalogue(
    auth_audit.TYPES,
    admin_audit.TYPES,
    articles_audit.TYPES,
    comments_audit.TYPES,
)


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    db: Database
    tokens: TokenCodec
    live: LiveBus = field(default_factory=MemoryLiveBus)
    bus: EventBus = field(default_factory=MemoryBus)
    consumers: tuple[Consumer, ...] = CONSUMERS
    cache: ResponseCache = field(default_factory=NoCache)
    # What each feature's writes make stale and which reads are cached (CACHE_RULES).
    cache_rules: CacheRules = CACHE_RULES
    # Every kind of audit record, for the admin audit view (AUDIT_TYPES).
    audit_types: tuple[str, ...] = AUDIT_TYPES
    # OpenID Connect providers users may log in with, by name (CONDUIT_OIDC_PROVIDERS).
    identity_providers: Mapping[str, IdentityProvider] = field(default_factory=dict)
    # None: no rate limits (CONDUIT_RATE_LIMITS_ENABLED=false, or a container built by hand).
    rate_limiter: RateLimiter | None = None
    # Uploaded images; None: the one CONDUIT_STORAGE_URL names (see file_storage).
    storage: FileStorage = None  # type: ignore[assignment]
    # What the process measures beside its ports (observability); None: metrics are off.
    metrics: ProcessMetrics | None = None
    # OpenTelemetry tracing (OTEL_EXPORTER_OTLP_ENDPOINT); None: off, nothing instrumented.
    tracing: Tracing | None = None
    # Checks access tokens against the key and the in-memory access rules (one per process).
    authenticator: Authenticator = field(init=False)
    # Starts and stops what the process runs beside its requests (see lifecycle.py).
    lifecycle: Lifecycle = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "authenticator", Authenticator(self.tokens))
        if self.storage is None:
            object.__setattr__(self, "storage", file_storage(self.settings))
        object.__setattr__(self, "lifecycle", Lifecycle(self))

    async def start(self, role: Role) -> None:
        """Start what ``role`` runs, after entering the pools; if a part fails to start,
        what had started is stopped and the error raised."""
        await self.lifecycle.start(role)

    async def stop(self) -> list[str]:
        """Stop everything :meth:`start` started, last first, the pools last (the database
        at the very end); the names of the parts that failed to stop (each logged)."""
        return await self.lifecycle.stop()

    @asynccontextmanager
    async def running(self, role: Role) -> AsyncIterator[None]:
        """:meth:`start` on entry, :meth:`stop` on exit."""
        await self.start(role)
        try:
            yield
        finally:
            await self.stop()

    @property
    def embedded_bus(self) -> bool:
        """True when events are delivered in-process (no broker URL)."""
        return isinstance(adapter_of(self.bus), MemoryBus)


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


def resolve_secret(settings: Settings) -> str:
    """The token signing key: from the environment, or generated in the zero-config mode."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if is_weak_secret(key):
            raise ConfigurationError(
                "CONDUIT_SECRET_KEY is too weak: use at least 32 random characters "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        return key
    if settings.environment == "production" or not settings.is_sqlite:
        raise ConfigurationError(
            "CONDUIT_SECRET_KEY is not set. Outside the zero-config SQLite mode Conduit needs "
            "a key of at least 32 random characters in the environment or in .env."
        )
    return load_or_create_secret(Path(settings.data_dir) / "secret_key")


def response_cache(
    settings: Settings, db: Database, rules: CacheRules = CACHE_RULES
) -> ResponseCache:
    """Redis when ``CONDUIT_REDIS_URL`` is set (invalidated by every commit), else nothing.

    Each commit bumps the generations its events changed, as ``rules`` say.
    """
    if not settings.redis_url:
        return NoCache()
    from conduit.adapters.redis_cache import RedisResponseCache

    try:
        cache = RedisResponseCache(
            settings.redis_url,
            ttl_seconds=settings.cache_ttl_seconds,
            timeout_seconds=settings.cache_timeout_seconds,
        )
    except ValueError as exc:
        raise ConfigurationError(f"CONDUIT_REDIS_URL is not a Redis URL: {exc}") from None
    db.on_commit(functools.partial(invalidate, cache, rules))
    return cache


def live_bus(settings: Settings) -> LiveBus:
    """Redis pub/sub across instances when CONDUIT_REDIS_URL is set; in-process otherwise."""
    if settings.redis_url:
        from conduit.adapters.redis_live import RedisLiveBus

        return RedisLiveBus(settings.redis_url)
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


def trusted_networks(settings: Settings) -> tuple[IPNetwork, ...]:
    """``CONDUIT_TRUSTED_PROXIES`` as networks (an address is a network of one)."""
    networks = []
    for entry in settings.trusted_proxies:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"CONDUIT_TRUSTED_PROXIES: {entry!r} is not an IP address or network "
                '(for example ["10.0.0.5", "10.1.0.0/16", "fd00::/8"]).'
            ) from None
    return tuple(networks)


def check_public_url(settings: Settings) -> None:
    """CONDUIT_PUBLIC_URL is an absolute http(s) URL; production with OpenID Connect
    providers needs it (the providers' redirect URIs are built from it)."""
    url = settings.public_url
    if url is not None and not url.startswith(("https://", "http://")):
        raise ConfigurationError(
            f"CONDUIT_PUBLIC_URL must be the API's public base URL, such as "
            f"https://api.example.com, not {url!r}"
        )
    if url is None and settings.oidc_providers and settings.environment == "production":
        raise ConfigurationError(
            "CONDUIT_PUBLIC_URL is not set: with CONDUIT_OIDC_PROVIDERS in production, set it "
            "to the API's public base URL (https://api.example.com); the providers send the "
            "browser back to <CONDUIT_PUBLIC_URL>/api/auth/<provider>/callback."
        )


def check_production(settings: Settings) -> None:
    """What production refuses beyond the secret key (see resolve_secret)."""
    check_public_url(settings)
    if settings.environment != "production":
        return
    if "*" in settings.cors_origins:
        raise ConfigurationError(
            "CONDUIT_CORS_ORIGINS allows any origin ('*'). In production list the frontend's "
            'origins, for example ["https://app.example.com"]: the refresh-token cookie '
            "needs credentialed requests, which a wildcard origin cannot have."
        )


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


def check_settings(settings: Settings, *, serving: bool = True) -> str:
    """Every check that can refuse a start, without connecting anywhere; returns the key.

    ``serving=False`` (a command that serves no HTTP: the worker, ``conduit users`` ...)
    leaves out what only matters to browsers (CORS), and checks what building the parts needs.
    The ``OTEL_*`` variables are checked too (a protocol Conduit does not export).
    """
    try:
        check_tracing_environment()
    except TracingConfigurationError as exc:
        raise ConfigurationError(str(exc)) from None
    secret = resolve_secret(settings)
    if serving:
        check_production(settings)
    trusted_networks(settings)
    rate_limit_rules(settings)
    file_storage(settings)
    return secret


def build(
    settings: Settings | None = None, *, serving: bool = True, tracing: Tracing | None = None
) -> Container:
    """Every part, built and not started; ``serving=False`` for a process without HTTP;
    ``tracing`` (started by the entrypoints from ``OTEL_*``) traced into the parts."""
    settings = settings or Settings()
    configure_logging(
        level=settings.log_level,
        json=settings.log_json,
        processors=tracing.log_processors if tracing is not None else (),
    )
    secret = check_settings(settings, serving=serving)
    engine = create_engine(
        settings.effective_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        echo=settings.db_echo,
    )
    db = Database(
        engine,
        readers=settings.sqlite_readers,
        trace_context=tracing.trace_context if tracing is not None else None,
    )
    bus = build_bus(settings, CONSUMERS)
    if tracing is not None:
        tracing.instrument_database(db)
        bus = tracing.traced_bus(bus, broker_url=settings.broker_url)
    measured = instrument(  # outside the tracing: a delivery's time includes its span's
        settings,
        db,
        bus=bus,
        cache=response_cache(settings, db),
        rate_limiter=rate_limiter(settings, secret),
    )
    return Container(
        settings=settings,
        db=db,
        tokens=TokenCodec(secret=secret, ttl_seconds=settings.access_token_ttl_seconds),
        bus=measured.bus,
        tracing=tracing,
        consumers=CONSUMERS,
        cache=measured.cache,
        live=live_bus(settings),
        identity_providers=identity_providers(settings),
        rate_limiter=measured.rate_limiter,
        storage=file_storage(settings),
        metrics=measured.metrics,
    )
