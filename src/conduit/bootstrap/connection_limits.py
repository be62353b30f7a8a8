"""Reading the database server's connection limits for the start-up budget check
(:mod:`conduit.bootstrap.connection_budget` does the arithmetic).

One connection, one round trip, then closed: made before any pool exists, so that the
count of connections open now holds only others' (and this check's own, taken off).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import make_url

from conduit.bootstrap.connection_budget import Limits
from conduit.core.engines import create_engine

# reserved_connections exists from PostgreSQL 16 (slots for pg_use_reserved_connections);
# current_setting(name, true) is NULL where it does not.
POSTGRESQL = text(
    "SELECT current_setting('max_connections')::int,"
    " current_setting('superuser_reserved_connections')::int,"
    " COALESCE(current_setting('reserved_connections', true)::int, 0),"
    " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int"
)
# Threads_connected counts every client, including those this user cannot list.
MARIADB_MAX = text("SELECT @@max_connections")
MARIADB_OPEN = text("SHOW GLOBAL STATUS LIKE 'Threads_connected'")


async def read_limits(url: str, *, timeout_seconds: float = 5.0) -> Limits:
    """The server's limits; raises what connecting raises (or TimeoutError)."""
    return await asyncio.wait_for(_read(url), timeout_seconds)


async def _read(url: str) -> Limits:
    backend = make_url(url).get_backend_name()
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            if backend == "postgresql":
                row = (await conn.execute(POSTGRESQL)).one()
                max_connections, superuser, reserved, open_now = (int(value) for value in row)
                return Limits(max_connections, superuser + reserved, max(0, open_now - 1))
            max_connections = int((await conn.execute(MARIADB_MAX)).scalar_one())
            status = (await conn.execute(MARIADB_OPEN)).one()
            return Limits(max_connections, 0, max(0, int(status[1]) - 1))
    finally:
        await engine.dispose()
