"""PostgreSQL read replicas from the settings (``CONDUIT_DATABASE_REPLICA_URLS``).

Only PostgreSQL: its replay position (``pg_last_wal_replay_lsn()``) is what lets a user's
read wait for their own write. MariaDB's equivalent (GTIDs and ``MASTER_GTID_WAIT``) is
not built; a replica URL with SQLite or MariaDB is refused at start.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine

from conduit.bootstrap.configuration import ConfigurationError
from conduit.core.engines import create_replica_engine
from conduit.core.replicas import Replica, ReplicaSet, WritePositions
from conduit.settings import Settings


def check_replicas(settings: Settings) -> None:
    """Refuse replica URLs Conduit cannot use, naming the fix; without connecting."""
    urls = settings.database_replica_urls
    if not urls:
        return
    primary = settings.effective_database_url
    if make_url(primary).get_backend_name() != "postgresql":
        raise ConfigurationError(
            "CONDUIT_DATABASE_REPLICA_URLS: read replicas need PostgreSQL as "
            "CONDUIT_DATABASE_URL (SQLite and MariaDB have none in Conduit); unset "
            "CONDUIT_DATABASE_REPLICA_URLS"
        )
    for url in urls:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ConfigurationError(
                f"CONDUIT_DATABASE_REPLICA_URLS: {url!r} is not a database URL; write "
                "postgresql+asyncpg://user:password@host:port/database (a JSON list, or "
                "separated by commas)"
            ) from None
        if parsed.drivername != make_url(primary).drivername:
            raise ConfigurationError(
                f"CONDUIT_DATABASE_REPLICA_URLS: {parsed.render_as_string()!r} must use the "
                f"driver of CONDUIT_DATABASE_URL ({make_url(primary).drivername}://)"
            )


def replica_set(settings: Settings, primary: AsyncEngine) -> ReplicaSet | None:
    """The replicas the settings name, beside ``primary``; None without any."""
    check_replicas(settings)
    if not settings.database_replica_urls:
        return None
    replicas = [
        Replica(
            name=f"{parsed.host}:{parsed.port or 5432}/{parsed.database}",
            engine=create_replica_engine(
                url,
                pool_size=settings.database_replica_pool_size,
                pool_timeout=settings.db_pool_timeout_seconds,
                pooler=settings.database_pooler,
            ),
        )
        for url in settings.database_replica_urls
        for parsed in [make_url(url)]
    ]
    return ReplicaSet(
        primary=primary,
        replicas=replicas,
        positions=write_positions(settings),
        wait_seconds=settings.database_replica_wait_seconds,
        retry_seconds=settings.database_replica_retry_seconds,
        memory_seconds=settings.database_replica_write_memory_seconds,
    )


def write_positions(settings: Settings) -> WritePositions:
    """Users' last write positions: in Redis, shared by every instance, when
    ``CONDUIT_REDIS_URL`` is set; else in this process's memory (one instance)."""
    ttl = settings.database_replica_write_memory_seconds
    if settings.redis_url:
        from conduit.adapters.redis_write_positions import RedisWritePositions

        return RedisWritePositions(
            settings.redis_url, ttl_seconds=ttl, timeout_seconds=settings.cache_timeout_seconds
        )
    from conduit.adapters.memory_write_positions import MemoryWritePositions

    return MemoryWritePositions(ttl_seconds=ttl)
