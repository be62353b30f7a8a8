"""A database restart under load: every request gets an answer, 200 or 503, never a 500.

A real ``conduit serve`` process, 16 concurrent clients reading ``/api/articles``, and the
machine's PostgreSQL / MariaDB server restarted in the middle. While the database is away
the API answers 503 with ``Retry-After`` and the RealWorld error body; no connection is
dropped; once the database accepts connections again, the service recovers by itself
(the pool hands out no dead connection) and a 200 arrives within 2 s.

The database is always brought back (``finally``) and the outage lasts a few seconds: other
tests share the server.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.entrypoints.cli.seed import SeedPlan, seed_database
from tests.conftest import BACKENDS, IN_CI, MARIADB_ADMIN, PG_ADMIN, Backend, _unreachable
from tests.faults.support import Answer, ConduitServer, Crowd, DatabaseServer

pytestmark = pytest.mark.faults

ADMIN_URLS = {"postgresql": PG_ADMIN, "mariadb": MARIADB_ADMIN}
UNAVAILABLE = {"errors": {"database": ["is unavailable"]}}
BUSY = {"errors": {"server": ["is busy, try again"]}}
RECOVERY_SECONDS = 2.0
PLAN = SeedPlan(users=6, articles=40, tags=5, favorites=30, follows=6, comments=10)


def _describe(answers: list[Answer]) -> str:
    return "\n".join(
        f"{a.started:.3f}-{a.finished:.3f} {a.status} {a.retry_after} {a.body or a.error}"
        for a in answers[:20]
    )


async def _seed(url: str) -> None:
    db = Database(create_engine(url, pool_size=2, max_overflow=0))
    try:
        await seed_database(db, PLAN)
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
async def test_a_database_restart_under_load_answers_200_or_503_and_recovers(
    backend: str, tmp_path: Path
) -> None:
    if backend not in BACKENDS:
        pytest.skip(f"{backend} is not in CONDUIT_TEST_BACKENDS")
    database_server = DatabaseServer(backend, ADMIN_URLS[backend])
    missing = database_server.missing_tools()
    if missing:
        message = f"cannot restart {backend}: {', '.join(missing)} not found"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    database = Backend(backend, tmp_path)
    try:
        url = await asyncio.to_thread(database.create)
    except Exception as exc:
        _unreachable(backend, exc)
    server = ConduitServer(url, tmp_path)
    crowd = Crowd(server.base_url, "/api/articles?limit=10")
    tasks: list[asyncio.Task[None]] = []
    try:
        await _seed(url)
        await asyncio.to_thread(server.start)
        tasks = crowd.start()
        # Every client served (a few times) before the outage.
        assert await crowd.served(3 * crowd.clients), _describe(crowd.answers)

        restart_began = time.monotonic()
        await asyncio.to_thread(database_server.restart)
        accepting_at = await asyncio.to_thread(database_server.wait_until_accepting)
        # Keep reading: the recovery, then a few seconds of normal service.
        await asyncio.sleep(accepting_at + RECOVERY_SECONDS + 3.0 - time.monotonic())
        await crowd.stop(tasks)
        tasks = []
    finally:
        await crowd.stop(tasks)
        await asyncio.to_thread(database_server.ensure_running)
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(database.drop)

    answers = crowd.answers
    statuses = crowd.statuses()
    print(  # the measurements, shown with pytest -s
        f"\n{backend}: {dict(statuses)} answers; restart took "
        f"{accepting_at - restart_began:.2f} s until the database accepted connections"
    )
    dropped = [a for a in answers if a.status is None]
    assert not dropped, f"{len(dropped)} requests got no answer:\n{_describe(dropped)}"
    unexpected = [a for a in answers if a.status not in (200, 503)]
    assert not unexpected, f"unexpected answers:\n{_describe(unexpected)}"
    assert statuses[503] > 0, "the restart was not seen: no 503 at all"
    for answer in answers:
        if answer.status == 503:
            assert answer.retry_after is not None
            assert int(answer.retry_after) >= 1
            assert answer.body in (UNAVAILABLE, BUSY), answer.body

    after = [a for a in answers if a.started >= accepting_at and a.status == 200]
    assert after, "no 200 after the database came back"
    recovery = min(a.finished for a in after) - accepting_at
    print(f"{backend}: first 200 {recovery:.2f} s after the database accepted connections")
    assert recovery <= RECOVERY_SECONDS
    settled = [a for a in answers if a.started >= accepting_at + RECOVERY_SECONDS]
    assert settled
    assert all(a.status == 200 for a in settled), _describe([a for a in settled if a.status != 200])

    logs = server.logs()
    # No 500 (unhandled_error) and nothing escaped to uvicorn (which drops the connection).
    # SQLAlchemy's pool may log "Exception during reset" for a connection whose reset
    # found the server gone: it discards that connection, as it should.
    for marker in ("unhandled_error", "Exception in ASGI application"):
        assert marker not in logs, logs[-5000:]
