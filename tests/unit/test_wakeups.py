"""The wake-up port: who a notification wakes, how long a sleeper sleeps, and the choice of
channel from the settings."""

from __future__ import annotations

import asyncio

import pytest

from conduit.adapters.pg_notify import PgNotifyWakeups, connect_arguments
from conduit.adapters.redis_wakeups import RedisWakeups
from conduit.bootstrap import ConfigurationError
from conduit.bootstrap.wakeups import wakeups_for
from conduit.core.wakeups import OUTBOX, LocalWakeups, WakeupHub
from conduit.settings import Settings

PG = "postgresql+asyncpg://conduit:secret@db.example:5433/conduit"
MARIADB = "mysql+asyncmy://conduit@db.example/conduit"


def test_a_notification_wakes_the_subscribers_that_accept_its_details() -> None:
    hub = WakeupHub()
    relay = hub.subscribe(OUTBOX, poll=0.5, safety=30)
    keeper = hub.subscribe(OUTBOX, only={"user.banned", "session.revoked"}, poll=1, safety=30)
    other = hub.subscribe("elsewhere", poll=1, safety=30)

    hub.deliver(OUTBOX, ["article.created"])
    assert [relay.is_set, keeper.is_set, other.is_set] == [True, False, False]

    relay.clear()
    hub.deliver(OUTBOX, ["comment.added", "user.banned"])
    assert [relay.is_set, keeper.is_set, other.is_set] == [True, True, False]


def test_a_notification_without_details_wakes_every_subscriber_of_its_topic() -> None:
    hub = WakeupHub()
    keeper = hub.subscribe(OUTBOX, only={"user.banned"}, poll=1, safety=30)
    hub.deliver(OUTBOX, None)
    assert keeper.is_set


def test_every_change_of_the_channel_wakes_everyone_and_sets_the_sleep() -> None:
    hub = WakeupHub()
    keeper = hub.subscribe(OUTBOX, only={"user.banned"}, poll=1, safety=30)
    assert keeper.interval == 1  # no channel: the poll interval

    hub.connection_changed(True)  # (re)connected: what was sent meanwhile is lost
    assert keeper.is_set
    assert keeper.interval == 30

    keeper.clear()
    hub.connection_changed(False)  # lost: sleep no longer than the poll interval
    assert keeper.is_set
    assert keeper.interval == 1


def test_the_safety_interval_is_never_shorter_than_the_poll_interval() -> None:
    hub = WakeupHub()
    hub.connection_changed(True)
    assert hub.subscribe(OUTBOX, poll=5, safety=2).interval == 5


async def test_a_sleeper_returns_when_woken_and_after_its_interval_otherwise() -> None:
    hub = LocalWakeups()
    wakeup = hub.subscribe(OUTBOX, poll=0.01, safety=60)
    assert await wakeup.sleep() is False  # no channel: 10 ms

    hub.connection_changed(True)
    wakeup.clear()
    sleeping = asyncio.create_task(wakeup.sleep())
    await asyncio.sleep(0)
    await hub.signal(OUTBOX, {"article.created"})
    assert await asyncio.wait_for(sleeping, 5) is True


def test_an_unsubscribed_sleeper_is_not_woken() -> None:
    hub = WakeupHub()
    wakeup = hub.subscribe(OUTBOX, poll=1, safety=30)
    wakeup.close()
    hub.deliver(OUTBOX, ["article.created"])
    hub.wake_everyone()
    assert not wakeup.is_set


def settings(**values: object) -> Settings:
    return Settings(secret_key="k" * 40, **values)  # type: ignore[arg-type]


def test_postgresql_listens_on_its_own_url_or_the_database_url() -> None:
    chosen = wakeups_for(settings(database_url=PG))
    assert isinstance(chosen, PgNotifyWakeups)
    assert not chosen.signals_commits  # the outbox's trigger notifies

    listen = "postgresql+asyncpg://conduit@10.0.0.9:5432/conduit"
    elsewhere = wakeups_for(settings(database_url=PG, database_listen_url=listen))
    assert isinstance(elsewhere, PgNotifyWakeups)


def test_through_a_transaction_pooler_only_a_listen_url_of_its_own_listens() -> None:
    pooled = settings(database_url=PG, database_pooler="pgbouncer")
    assert type(wakeups_for(pooled)) is LocalWakeups  # LISTEN through pgbouncer hears nothing
    direct = settings(
        database_url=PG, database_listen_url=PG.replace("5433", "5432"), database_pooler="pgbouncer"
    )
    assert isinstance(wakeups_for(direct), PgNotifyWakeups)


def test_mariadb_uses_redis_when_set_and_polls_otherwise() -> None:
    with_redis = wakeups_for(settings(database_url=MARIADB, redis_url="redis://r:6379/0"))
    assert isinstance(with_redis, RedisWakeups)
    assert with_redis.signals_commits  # each process publishes its commits
    assert type(wakeups_for(settings(database_url=MARIADB))) is LocalWakeups


def test_sqlite_and_switched_off_wake_ups_keep_polling() -> None:
    assert type(wakeups_for(settings(redis_url="redis://r:6379/0"))) is LocalWakeups
    off = settings(database_url=PG, wakeups_enabled=False)
    assert type(wakeups_for(off)) is LocalWakeups


@pytest.mark.parametrize(
    ("database_url", "listen_url"),
    [(MARIADB, PG), (PG, MARIADB), (PG, "redis://r:6379/0")],
)
def test_a_listen_url_off_postgresql_stops_the_start(database_url: str, listen_url: str) -> None:
    with pytest.raises(ConfigurationError, match="CONDUIT_DATABASE_LISTEN_URL"):
        wakeups_for(settings(database_url=database_url, database_listen_url=listen_url))


def test_the_listener_connects_as_the_engine_does() -> None:
    several = (
        "postgresql+asyncpg://conduit@/conduit?host=db1:5432&host=db2:5433"
        "&target_session_attrs=read-write&prepared_statement_cache_size=0"
    )
    arguments = connect_arguments(several)
    assert arguments["host"] == ["db1", "db2"]
    assert arguments["port"] == [5432, 5433]
    assert arguments["target_session_attrs"] == "read-write"
    assert "prepared_statement_cache_size" not in arguments  # SQLAlchemy's, not asyncpg's
    assert connect_arguments(PG) | {"password": "?"} == {
        "host": "db.example",
        "port": 5433,
        "user": "conduit",
        "password": "?",
        "database": "conduit",
    }
