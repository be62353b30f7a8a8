"""The one place that reads Settings and wires Conduit's parts together.

The web app, the CLI and the worker all start from :func:`build`; the app's lifespan and
``conduit worker`` then start and stop what the container built through
``Container.start(role)`` / ``Container.stop()`` (``lifecycle.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conduit.adapters.memory_bus import MemoryBus
from conduit.adapters.memory_live import MemoryLiveBus
from conduit.admin import audit as admin_audit
from conduit.articles import audit as articles_audit
from conduit.articles import cache_rules as articles_cache
from conduit.auth import audit as auth_audit
from conduit.bootstrap.adapters import build_bus as build_bus
from conduit.bootstrap.adapters import file_storage as file_storage
from conduit.bootstrap.adapters import identity_providers as identity_providers
from conduit.bootstrap.adapters import live_bus as live_bus
from conduit.bootstrap.adapters import rate_limit_rules as rate_limit_rules
from conduit.bootstrap.adapters import rate_limiter as rate_limiter
from conduit.bootstrap.adapters import response_cache as response_cache
from conduit.bootstrap.configuration import ConfigurationError as ConfigurationError
from conduit.bootstrap.configuration import check_production as check_production
from conduit.bootstrap.configuration import check_public_url as check_public_url
from conduit.bootstrap.configuration import resolve_secret as resolve_secret
from conduit.bootstrap.configuration import trusted_networks as trusted_networks
from conduit.bootstrap.lifecycle import Lifecycle
from conduit.bootstrap.lifecycle import Role as Role
from conduit.bootstrap.lifecycle import access_keeper as access_keeper
from conduit.bootstrap.lifecycle import relay_for as relay_for
from conduit.bootstrap.replicas import check_replicas, replica_set
from conduit.comments import audit as comments_audit
from conduit.comments import cache_rules as comments_cache
from conduit.core import audit
from conduit.core.bus import EventBus, adapter_of
from conduit.core.cache import CacheRules, NoCache, ResponseCache
from conduit.core.consumers import Consumer, applied_at_commit
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.identity import IdentityProvider
from conduit.core.live import LiveBus
from conduit.core.logging import configure_logging
from conduit.core.principal import Authenticator
from conduit.core.rate_limits import RateLimiter, RecentRefusals, RecordingRefusals
from conduit.core.security import TokenCodec
from conduit.core.storage import FileStorage
from conduit.notifications import cache_rules as notifications_cache
from conduit.notifications.handlers import consumer as notifications_consumer
from conduit.observability.metrics.measured import instrument
from conduit.observability.metrics.sampler import ProcessMetrics
from conduit.observability.tracing.environment import (
    TracingConfigurationError,
    check_tracing_environment,
)
from conduit.profiles import cache_rules as profiles_cache
from conduit.settings import Settings
from conduit.tags import cache_rules as tags_cache
from conduit.tags.handlers import consumer as tags_consumer
from conduit.users import cache_rules as users_cache

if TYPE_CHECKING:
    from conduit.observability.tracing.provider import Tracing


# Every consumer of events, from the features' handlers.py: the one place to add one.
# (Here rather than in entrypoints because the bus needs them: RabbitMQ declares a durable
# queue per consumer before the first publish, so no event is routed to nowhere.)
CONSUMERS: tuple[Consumer, ...] = (notifications_consumer, tags_consumer)

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
    # Whatever is given is wrapped to keep its refusals in rate_limit_refusals.
    rate_limiter: RateLimiter | None = None
    # The latest requests this process refused by a rate limit (the console shows them).
    rate_limit_refusals: RecentRefusals = field(default_factory=RecentRefusals)
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
        if self.rate_limiter is not None and not isinstance(self.rate_limiter, RecordingRefusals):
            recording = RecordingRefusals(self.rate_limiter, self.rate_limit_refusals)
            object.__setattr__(self, "rate_limiter", recording)
        if self.storage is None:
            object.__setattr__(self, "storage", file_storage(self.settings))
        object.__setattr__(self, "lifecycle", Lifecycle(self))
        if self.embedded_bus:  # before the write returns (tags: the RealWorld clients' read)
            self.db.on_commit(applied_at_commit(self.db, self.consumers))

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
    check_replicas(settings)
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
        pooler=settings.database_pooler,
    )
    db = Database(
        engine,
        readers=settings.sqlite_readers,
        trace_context=tracing.trace_context if tracing is not None else None,
        replicas=replica_set(settings, engine),
    )
    bus = build_bus(settings, CONSUMERS)
    if tracing is not None:
        tracing.instrument_database(db)
        bus = tracing.traced_bus(bus, broker_url=settings.broker_url)
    measured = instrument(  # outside the tracing: a delivery's time includes its span's
        settings,
        db,
        bus=bus,
        cache=response_cache(settings, db, CACHE_RULES),
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
