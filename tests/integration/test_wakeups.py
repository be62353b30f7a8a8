"""Wake-ups across processes: what another process commits reaches this one's relay and
access-rules keeper at once, though they look on their own only every minute here.

PostgreSQL: the outbox's trigger notifies, the listener hears it, and it reconnects (and
wakes everyone) when its connection is killed. MariaDB: the committing process publishes
on Redis (a private redis-server), the others listen there.

"Another process" is a second ``Database`` on its own engine: its commits reach this one's
listeners only through the channel, never through ``on_commit``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text, update

from conduit.adapters.memory_bus import MemoryBus
from conduit.adapters.pg_notify import APPLICATION_NAME, PgNotifyWakeups
from conduit.adapters.redis_wakeups import RedisWakeups
from conduit.auth import access
from conduit.bootstrap.wakeups import signal_commits
from conduit.core.bus import delivery
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.principal import AccessRulesKeeper, Authenticator
from conduit.core.relay import Relay
from conduit.core.security import TokenCodec
from conduit.core.tables import utcnow
from conduit.core.wakeups import Wakeups
from conduit.users.events import UserBanned, UserRegistered
from conduit.users.models import users
from tests.conftest import SessionDatabases
from tests.integration.messaging import Recorder, consumer, eventually
from tests.integration.support import make_user
from tests.redis_server import PrivateRedis

# Far longer than any wait below: only a wake-up can be this quick.
SLEEP = 60.0
WITHIN = 10.0
CODEC = TokenCodec(secret="wake-ups-test-secret-0123456789-abcdefgh", ttl_seconds=3600)


@contextlib.asynccontextmanager
async def another_process(url: str) -> AsyncIterator[Database]:
    other = Database(create_engine(url, pool_size=2, max_overflow=0))
    try:
        yield other
    finally:
        await other.dispose()


@contextlib.asynccontextmanager
async def running(work: Awaitable[None]) -> AsyncIterator[None]:
    task = asyncio.ensure_future(work)
    try:
        await asyncio.sleep(0.3)  # the first round done: asleep now
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def register(db: Database, user_id: int) -> str:
    async with db.uow() as uow:
        event = uow.emit(UserRegistered(user_id=user_id, username=f"u{user_id}"), actor_id=None)
        await uow.commit()
    return event.id


def url_of(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


async def relay_with(db: Database, wakeups: Wakeups) -> tuple[Relay, Recorder]:
    bus = MemoryBus()
    recorder = Recorder()
    wanted = consumer("recorder", recorder)
    bus.subscribe(wanted, delivery(db, wanted))
    relay = Relay(db, bus, poll_interval=SLEEP, safety_interval=SLEEP, wakeups=wakeups)
    return relay, recorder


def holds(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def checked() -> bool:
        return check()

    return checked


@pytest.mark.postgresql_only
async def test_the_relay_publishes_what_another_process_commits_at_once(db: Database) -> None:
    wakeups = PgNotifyWakeups(url_of(db))
    await wakeups.start()
    relay, recorder = await relay_with(db, wakeups)
    try:
        assert wakeups.connected
        async with another_process(url_of(db)) as other, running(relay.run()):
            ids = [await register(other, n) for n in range(3)]
            await eventually(holds(lambda: recorder.applied == ids), within=WITHIN)
    finally:
        await wakeups.close()


@pytest.mark.postgresql_only
async def test_the_keeper_applies_another_process_s_ban_at_once(db: Database) -> None:
    alice = await make_user(db, "alice")
    wakeups = PgNotifyWakeups(url_of(db))
    await wakeups.start()
    keeper = AccessRulesKeeper(
        db,
        Authenticator(CODEC),
        load=lambda conn, horizon: access.load(conn, horizon=horizon),
        fold=access.apply,
        interval=SLEEP,
        wakeups=wakeups,
        wakes_on=access.TRIGGERS,
        safety_interval=SLEEP,
    )
    token = CODEC.issue(alice)
    try:
        async with another_process(url_of(db)) as other, running(keeper.run()):
            assert not keeper.authenticator.authenticate(token).banned
            async with other.uow() as uow:
                await uow.conn.execute(
                    update(users).where(users.c.id == alice).values(banned_at=utcnow())
                )
                uow.emit(UserBanned(user_id=alice, username="alice"), actor_id=None)
                await uow.commit()
            await eventually(
                holds(lambda: keeper.authenticator.authenticate(token).banned), within=WITHIN
            )
    finally:
        await wakeups.close()


async def kill_listener(db: Database) -> int:
    """``pg_terminate_backend`` on this database's wake-up listeners; how many."""
    async with db.engine.connect() as conn:
        killed = await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": APPLICATION_NAME},
        )
        return len(killed.all())


@pytest.mark.postgresql_only
async def test_a_killed_listener_reconnects_and_wakes_its_subscribers(db: Database) -> None:
    wakeups = PgNotifyWakeups(url_of(db))
    await wakeups.start()
    relay, recorder = await relay_with(db, wakeups)
    try:
        async with running(relay.run()), another_process(url_of(db)) as other:
            assert await kill_listener(db) == 1
            # Committed while the listener is down: no notification reaches it; the reconnect
            # wakes the relay, which finds the row.
            missed = await register(other, 1)
            await eventually(holds(lambda: wakeups.connects == 2), within=WITHIN)
            await eventually(holds(lambda: recorder.applied == [missed]), within=WITHIN)
            # And it listens again.
            heard = await register(other, 2)
            await eventually(holds(lambda: recorder.applied == [missed, heard]), within=WITHIN)
            assert wakeups.connected
    finally:
        await wakeups.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> PrivateRedis:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server  # type: ignore[misc]
    finally:
        server.stop()


@pytest.fixture
def mariadb_url(session_databases: SessionDatabases) -> str:
    """This session's migrated MariaDB database, whichever backends the run chose."""
    return session_databases.url("mariadb")


@pytest.fixture
async def mariadb(mariadb_url: str) -> AsyncIterator[Database]:
    database = Database(create_engine(mariadb_url, pool_size=2))
    try:
        yield database
    finally:
        async with database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM processed_events"))
            await conn.execute(text("DELETE FROM outbox"))
        await database.dispose()


async def test_on_mariadb_a_commit_wakes_the_other_instances_over_redis(
    mariadb: Database, private_redis: PrivateRedis
) -> None:
    here = RedisWakeups(private_redis.url)
    there = RedisWakeups(private_redis.url)  # the other process's own channel
    await here.start()
    relay, recorder = await relay_with(mariadb, here)
    try:
        assert here.connected
        async with another_process(url_of(mariadb)) as other, running(relay.run()):
            signal_commits(other, there)  # as bootstrap wires every process on MariaDB
            ids = [await register(other, n) for n in range(3)]
            await eventually(holds(lambda: recorder.applied == ids), within=WITHIN)

            private_redis.stop()  # Redis gone: the relay falls back to its poll interval
            await eventually(holds(lambda: not here.connected), within=WITHIN)
            await register(other, 4)  # never slowed by Redis being down
    finally:
        await here.close()
        await there.close()
