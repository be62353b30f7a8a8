"""The connection pool Conduit builds from its default settings keeps what a burst opened.

An overflow connection is closed when it is returned, so a pool with overflow opens new
server connections under every burst above its size (a backend start each on PostgreSQL).
"""

from __future__ import annotations

import asyncio

import pytest

from conduit.core.engines import create_engine
from conduit.settings import Settings


@pytest.mark.server_databases
async def test_a_burst_of_the_pool_size_leaves_every_connection_open(database_url: str) -> None:
    settings = Settings(database_url=database_url, secret_key="k" * 48)
    engine = create_engine(
        database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    burst = settings.db_pool_size + settings.db_pool_max_overflow  # the most it allows
    everyone_in = asyncio.Barrier(burst)

    async def request() -> None:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
            await everyone_in.wait()  # all connections checked out at once

    try:
        await asyncio.gather(*(request() for _ in range(burst)))
        # Every connection the burst opened is kept for the next one.
        assert engine.pool.checkedin() == burst  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
