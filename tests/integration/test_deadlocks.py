"""A transaction the database undoes to break a deadlock is run again, and leaves nothing behind.

Two transactions lock the same two rows in opposite orders, a real deadlock on PostgreSQL and
MariaDB; the server picks a victim and rolls it back. SQLite has one writer connection, so
its transactions cannot cross like this.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from conduit.core.db import Database
from conduit.core.db_errors import is_database_unavailable, is_deadlock, retry_deadlocks
from conduit.core.outbox import outbox
from conduit.users.events import UserUpdated
from conduit.users.models import users
from tests.integration.support import count_rows, fetch_all, make_user

pytestmark = pytest.mark.server_databases


class CrossedWriters:
    """Two units of work, each writing both users' bio, in opposite orders.

    Each attempt records an event, so the outbox shows which attempts committed. The first
    attempts wait for each other between their two writes: each holds the lock the other
    needs next.
    """

    def __init__(self, db: Database, first: int, second: int) -> None:
        self.db = db
        self.order = {"x": (first, second), "y": (second, first)}
        self.gate = asyncio.Barrier(2)
        self.runs: list[str] = []

    async def write(self, name: str) -> str:
        attempt = self.runs.count(name) + 1
        self.runs.append(name)
        async with self.db.uow() as uow:
            for position, user_id in enumerate(self.order[name]):
                await uow.conn.execute(
                    update(users).where(users.c.id == user_id).values(bio=f"{name}{attempt}")
                )
                if position == 0 and attempt == 1:
                    await asyncio.wait_for(self.gate.wait(), timeout=20)
            uow.emit(UserUpdated(user_id=user_id, username=name, changed=["bio"]), actor_id=user_id)
            await uow.commit()
        return f"{name}{attempt}"


async def test_the_deadlock_victim_runs_again_and_both_transactions_commit(db: Database) -> None:
    writers = CrossedWriters(db, await make_user(db, "first"), await make_user(db, "second"))

    done = await asyncio.gather(
        retry_deadlocks(lambda: writers.write("x")), retry_deadlocks(lambda: writers.write("y"))
    )

    # One of them was undone once and ran a second time; both answers are from commits.
    assert sorted(writers.runs) == ["x", "x", "y"] or sorted(writers.runs) == ["x", "y", "y"]
    victim = max("xy", key=writers.runs.count)
    assert done == ["x1", "y2"] if victim == "y" else done == ["x2", "y1"]
    # The victim's second run committed last: both rows hold its value, none is half-written.
    bios = {row.bio for row in await fetch_all(db, select(users.c.bio))}
    assert bios == {f"{victim}2"}
    # The undone attempt's event went with it: one event per committed transaction.
    assert await count_rows(db, outbox) == 2


async def test_a_victim_out_of_attempts_gives_up_as_an_unavailable_database(
    db: Database,
) -> None:
    writers = CrossedWriters(db, await make_user(db, "first"), await make_user(db, "second"))

    outcomes = await asyncio.gather(
        retry_deadlocks(lambda: writers.write("x"), attempts=1),
        retry_deadlocks(lambda: writers.write("y"), attempts=1),
        return_exceptions=True,
    )

    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(errors) == 1
    assert len(writers.runs) == 2
    assert isinstance(errors[0], DBAPIError)
    assert is_deadlock(errors[0])
    assert is_database_unavailable(errors[0])  # answered 503, retry later
    assert await count_rows(db, outbox) == 1


async def test_an_error_that_is_no_deadlock_is_not_run_again(db: Database) -> None:
    await make_user(db, "taken")
    runs = 0

    async def register_taken_name() -> None:
        nonlocal runs
        runs += 1
        await make_user(db, "taken", "other@conduit.test")

    with pytest.raises(DBAPIError) as raised:
        await retry_deadlocks(register_taken_name)
    assert runs == 1
    assert not is_deadlock(raised.value)
