"""A replica's pool against a real PostgreSQL replica: connections the server closed are
thrown away at checkout (no failed read), and what the process knew of the replica's
replay position is forgotten with them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from conduit.adapters.memory_write_positions import MemoryWritePositions
from conduit.core.engines import create_engine, create_replica_engine
from conduit.core.read_routing import ANONYMOUS
from conduit.core.replicas import Replica, ReplicaSet
from tests.conftest import _unreachable
from tests.replicas.cluster import Cluster, lagging_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    try:
        with lagging_cluster() as running:
            yield running
    except RuntimeError as exc:
        _unreachable("postgresql", exc)


async def test_a_stopped_replica_costs_no_failed_read(cluster: Cluster) -> None:
    primary = create_engine(cluster.primary.url())
    replica = Replica(
        name="replica",
        engine=create_replica_engine(cluster.replica.url(), pool_size=2, pool_timeout=5),
    )
    routing = ReplicaSet(
        primary=primary, replicas=[replica], positions=MemoryWritePositions(ttl_seconds=60)
    )
    try:
        conn = await routing.connect(ANONYMOUS)
        recovering = (await conn.exec_driver_sql("SELECT pg_is_in_recovery()")).scalar_one()
        await conn.close()
        assert recovering is True
        assert await routing.replayed_everywhere() > 0
        assert replica.replayed > 0
        cluster.replica.stop("fast")
        await asyncio.sleep(0.2)  # a serving process's loop reads the closed sockets meanwhile
        # The pooled connection is dead; the checkout notices, the new connection is
        # refused, and the read goes to the primary instead of failing.
        conn = await routing.connect(ANONYMOUS)
        recovering = (await conn.exec_driver_sql("SELECT pg_is_in_recovery()")).scalar_one()
        await conn.close()
        assert recovering is False
        assert routing.counts.unavailable == 1
        assert replica.replayed == -1
        with pytest.raises((OperationalError, DBAPIError, OSError)):
            await replica.engine.connect()
    finally:
        cluster.replica.start()
        await routing.dispose()
        await primary.dispose()
