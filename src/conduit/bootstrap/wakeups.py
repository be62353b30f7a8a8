"""Which wake-up channel the settings name (``core/wakeups.py``), and who signals on it.

- PostgreSQL: ``LISTEN/NOTIFY`` on a connection of its own, to CONDUIT_DATABASE_LISTEN_URL
  (default: the database URL); the outbox's trigger notifies, nothing is sent by Conduit.
  Through a transaction pooler (CONDUIT_DATABASE_POOLER=pgbouncer) a ``LISTEN`` would never
  hear a thing, so without a listen URL of its own Conduit polls as before, and says so.
- MariaDB with CONDUIT_REDIS_URL: Redis pub/sub; each process publishes after its commits.
- Otherwise (SQLite, MariaDB alone, CONDUIT_WAKEUPS_ENABLED=false): the embedded one, which
  reaches no other process, so the relay and the keeper poll as they always did.

Adapters with a client library of their own are imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from conduit.bootstrap.configuration import ConfigurationError
from conduit.core.db import Database
from conduit.core.events import Event
from conduit.core.wakeups import OUTBOX, LocalWakeups, Wakeups
from conduit.settings import Settings

_log = structlog.get_logger("conduit.wakeups")


def _backend(url: str) -> str:
    try:
        return make_url(url).get_backend_name()
    except ArgumentError:
        return url.split("://")[0]


def wakeups_for(settings: Settings) -> Wakeups:
    """The channel for these settings (built, not connected)."""
    database = _backend(settings.effective_database_url)
    listen_url = settings.database_listen_url
    if listen_url is not None and (database != "postgresql" or _backend(listen_url) != database):
        raise ConfigurationError(
            "CONDUIT_DATABASE_LISTEN_URL is for PostgreSQL only and must be a PostgreSQL URL "
            "(postgresql+asyncpg://user@host:5432/db, a session that may LISTEN: not through "
            "pgbouncer in transaction mode); unset it to listen on CONDUIT_DATABASE_URL."
        )
    if not settings.wakeups_enabled:
        return LocalWakeups()
    # The pooler setting arrives with the pgbouncer support; "none" where it does not exist.
    pooled = settings.database_pooler != "none"
    if database == "postgresql" and pooled and listen_url is None:
        _log.warning(
            "wakeups_off_through_pooler",
            fix="set CONDUIT_DATABASE_LISTEN_URL to the PostgreSQL server itself: LISTEN "
            "cannot work through a transaction pooler, so Conduit polls meanwhile",
        )
        return LocalWakeups()
    if database == "postgresql":
        from conduit.adapters.pg_notify import PgNotifyWakeups

        try:
            return PgNotifyWakeups(
                listen_url or settings.effective_database_url,
                check_interval=settings.safety_poll_seconds,
            )
        except (ArgumentError, ValueError) as exc:
            raise ConfigurationError(f"CONDUIT_DATABASE_LISTEN_URL cannot be read: {exc}") from None
    if settings.redis_url and database in ("mysql", "mariadb"):
        from conduit.adapters.redis_wakeups import RedisWakeups

        return RedisWakeups(settings.redis_url, timeout_seconds=settings.cache_timeout_seconds)
    return LocalWakeups()


def signal_commits(db: Database, wakeups: Wakeups) -> None:
    """When the channel needs it (Redis), every commit with events tells every instance."""
    if not wakeups.signals_commits:
        return

    async def committed(events: Sequence[Event]) -> None:
        await wakeups.signal(OUTBOX, {event.type for event in events})

    db.on_commit(committed)
