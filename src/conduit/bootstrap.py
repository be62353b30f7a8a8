"""The one place that reads Settings and wires Conduit's parts together.

The web app, the CLI and (later) the worker all start from :func:`build`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from conduit.adapters.memory_live import MemoryLiveBus
from conduit.core.db import Database, create_engine
from conduit.core.live import LiveBus
from conduit.core.logging import configure_logging
from conduit.core.security import TokenCodec, is_weak_secret, load_or_create_secret
from conduit.settings import Settings


class ConfigurationError(RuntimeError):
    """Conduit cannot start with these settings; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    db: Database
    tokens: TokenCodec
    live: LiveBus = field(default_factory=MemoryLiveBus)


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


def live_bus(settings: Settings) -> LiveBus:
    """Redis pub/sub across instances when CONDUIT_REDIS_URL is set; in-process otherwise."""
    if settings.redis_url:
        from conduit.adapters.redis_live import RedisLiveBus

        return RedisLiveBus(settings.redis_url)
    return MemoryLiveBus()


def build(settings: Settings | None = None) -> Container:
    settings = settings or Settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    secret = resolve_secret(settings)
    engine = create_engine(
        settings.effective_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        echo=settings.db_echo,
    )
    return Container(
        settings=settings,
        db=Database(engine),
        tokens=TokenCodec(secret=secret, ttl_seconds=settings.access_token_ttl_seconds),
        live=live_bus(settings),
    )
