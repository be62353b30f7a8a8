"""PostgreSQL losing its primary under write load, with Patroni: Conduit answers 2xx or 503,
never anything else; no acknowledged write is lost; every comment notifies exactly once.

A private etcd and a two-member Patroni cluster (synchronous replication), HAProxy run from
deploy/haproxy/haproxy.cfg (checking Patroni's ``/primary``), two ``conduit serve``
processes connected through it and a ``conduit worker`` on a RabbitMQ vhost of their own.
32 writers create articles and comment on each other's while the test (a) SIGKILLs the
primary's postmaster and lets Patroni fail over, (b) runs a planned ``patronictl
switchover``. The figures (seconds without a successful write, 503s) are printed
(``pytest -s``); the assertions are what users rely on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest

from conduit import migrations
from tests.conftest import TEST_SECRET
from tests.faults.support import ConduitServer
from tests.ha.haproxy import HAProxy, running_haproxy
from tests.ha.patroni_cluster import PatroniCluster, patroni_cluster
from tests.ha.write_load import Author, WriteLoad
from tests.integration.messaging import own_vhost
from tests.processes import stop

pytestmark = pytest.mark.cluster

WRITERS = 32
AUTHORS = 8
UNAVAILABLE = {"errors": {"database": ["is unavailable"]}}
BUSY = {"errors": {"server": ["is busy, try again"]}}


@dataclass
class Stack:
    cluster: PatroniCluster
    servers: list[ConduitServer]
    worker: subprocess.Popen[bytes]
    worker_log: Path
    haproxy: HAProxy
    authors: list[Author]
    log_read: dict[int, int] = field(default_factory=dict)  # server index -> chars read

    def unavailable_causes(self) -> Counter[str]:
        """Why requests answered 503 since the last call: the database errors the servers
        logged (``db_unavailable``), by type and the start of their message."""
        causes: Counter[str] = Counter()
        for index, server in enumerate(self.servers):
            logs = server.logs()
            new, self.log_read[index] = logs[self.log_read.get(index, 0) :], len(logs)
            for line in new.splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict) and entry.get("event") == "db_unavailable":
                        message = str(entry.get("error"))
                        if message.startswith("(sqlalchemy"):  # the wrapped driver error
                            message = message.partition(") ")[2]
                        causes[f"{entry.get('error_type')}: {message[:70]}"] += 1
        return causes

    @property
    def base_urls(self) -> list[str]:
        return [server.base_url for server in self.servers]

    def query(self, sql: str) -> list[tuple[object, ...]]:
        """``sql`` on Conduit's database, on whichever member is the primary now."""
        primary = self.cluster.primary()
        assert primary is not None, f"no primary:\n{self.cluster.logs()}"
        return primary.execute(sql, "conduit")


def _start_worker(url: str, broker_url: str, folder: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CONDUIT_DATABASE_URL": url,
        "CONDUIT_BROKER_URL": broker_url,
        "CONDUIT_SECRET_KEY": TEST_SECRET,
        "CONDUIT_ENVIRONMENT": "test",
        "CONDUIT_LOG_JSON": "true",
        "CONDUIT_LOG_LEVEL": "WARNING",
        "CONDUIT_RELAY_POLL_INTERVAL_SECONDS": "0.2",
    }
    with (folder / "worker.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "conduit.entrypoints.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _register(base_url: str, index: int) -> Author:
    name = f"author{index}"
    user = {"username": name, "email": f"{name}@conduit.test", "password": "password123"}
    reply = httpx.post(f"{base_url}/api/users", json={"user": user}, timeout=30)
    assert reply.status_code == 201, reply.text
    return Author(name, reply.json()["user"]["token"])


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # A folder of its own, not under pytest's basetemp: a pytest session started meanwhile
    # on the machine prunes older basetemps, data directories of running servers included.
    with (
        tempfile.TemporaryDirectory(prefix="conduit-patroni-") as name,
        patroni_cluster(Path(name) / "cluster") as cluster,
        own_vhost("conduit_ha") as broker_url,
        running_haproxy(cluster, Path(name)) as haproxy,
    ):
        folder = Path(name)
        primary = cluster.primary()
        assert primary is not None
        primary.execute("CREATE DATABASE conduit")
        url = haproxy.url("conduit")
        migrations.upgrade(url)
        settings = {
            "CONDUIT_BROKER_URL": broker_url,
            "CONDUIT_RATE_LIMITS_ENABLED": "false",
            "CONDUIT_LOG_LEVEL": "WARNING",
            "CONDUIT_RELAY_POLL_INTERVAL_SECONDS": "0.2",
        }
        servers = []
        for index in range(2):
            (folder / f"serve{index}").mkdir()
            servers.append(ConduitServer(url, folder / f"serve{index}", **settings))
        worker = _start_worker(url, broker_url, folder)
        try:
            with ThreadPoolExecutor(AUTHORS) as threads:
                list(threads.map(partial(ConduitServer.start, timeout=120), servers))
                authors = list(threads.map(partial(_register, servers[0].base_url), range(AUTHORS)))
            yield Stack(cluster, servers, worker, folder / "worker.log", haproxy, authors)
        finally:
            stop(worker)
            for server in servers:
                server.stop()


async def _under_load(stack: Stack, fault: str) -> tuple[WriteLoad, float]:
    """Run the writers, cause ``fault`` (``kill`` or ``switchover``) once they are going,
    and keep writing until the new primary has taken two writes per writer; returns the
    load and the (monotonic) time of the fault."""
    cluster = stack.cluster
    await asyncio.to_thread(
        cluster.wait, cluster.has_sync_standby, 60, "no synchronous standby before the fault"
    )
    primary = cluster.primary()
    assert primary is not None
    candidate = cluster.replica_of(primary)
    load = WriteLoad(stack.base_urls, stack.authors, writers=WRITERS)
    load.start()
    try:
        assert await load.succeeded(2 * WRITERS), load.describe(load.answers)
        fault_at = time.monotonic()
        if fault == "kill":
            primary.kill_postmaster()
        else:
            await asyncio.to_thread(cluster.switchover, primary, candidate)
        await asyncio.to_thread(
            cluster.wait, candidate.is_writable_primary, 60, f"{candidate.name} not promoted"
        )
        assert await load.succeeded(2 * WRITERS, after=time.monotonic()), cluster.logs()
    finally:
        await load.stop()
    return load, fault_at


def _assert_only_2xx_or_503(load: WriteLoad) -> None:
    unanswered = [a for a in load.answers if a.status is None]
    assert not unanswered, f"{len(unanswered)} writes got no answer:\n{load.describe(unanswered)}"
    unexpected = [a for a in load.answers if a.status not in (200, 201, 503)]
    assert not unexpected, f"answers other than 2xx/503:\n{load.describe(unexpected)}"
    for answer in load.answers:
        if answer.status == 503:
            assert answer.body in (UNAVAILABLE, BUSY), answer.body
            assert answer.retry_after is not None
            assert int(answer.retry_after) >= 1


def _assert_acknowledged_writes_kept(stack: Stack, load: WriteLoad) -> None:
    """Every article and comment answered 201 is in the database the new primary serves."""
    slugs = {str(row[0]) for row in stack.query("SELECT slug FROM articles")}
    comment_ids = {str(row[0]) for row in stack.query("SELECT id FROM comments")}
    lost_articles = load.acknowledged("article") - slugs
    lost_comments = load.acknowledged("comment") - comment_ids
    assert not lost_articles, f"acknowledged articles lost: {sorted(lost_articles)[:10]}"
    assert not lost_comments, f"acknowledged comments lost: {sorted(lost_comments)[:10]}"


def _notification_counts(stack: Stack) -> tuple[int, int, int]:
    """(comments without their notification, comments notified more than once, dead
    letters) over every comment in the database, acknowledged to its writer or not."""
    missing, duplicated, dead = stack.query(
        "SELECT"
        " (SELECT COUNT(*) FROM comments c WHERE NOT EXISTS (SELECT 1 FROM notifications n"
        "   WHERE n.comment_id = c.id AND n.type = 'comment')),"
        " (SELECT COUNT(*) FROM (SELECT comment_id FROM notifications WHERE type = 'comment'"
        "   GROUP BY comment_id HAVING COUNT(*) > 1) AS twice),"
        " (SELECT COUNT(*) FROM dead_letters)"
    )[0]
    return int(str(missing)), int(str(duplicated)), int(str(dead))


async def _assert_each_comment_notified_once(stack: Stack) -> tuple[int, int]:
    """Wait (up to a minute) for the worker to settle; (missing, duplicated) notifications."""
    deadline = time.monotonic() + 60
    while True:
        missing, duplicated, dead = await asyncio.to_thread(_notification_counts, stack)
        if (missing == 0 and dead == 0) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert stack.worker.poll() is None, stack.worker_log.read_text()[-5000:]
    assert (missing, duplicated, dead) == (0, 0, 0), stack.worker_log.read_text()[-5000:]
    return missing, duplicated


def _assert_no_500_in_logs(stack: Stack) -> None:
    for server in stack.servers:
        logs = server.logs()
        for marker in ("unhandled_error", "Exception in ASGI application"):
            assert marker not in logs, logs[-5000:]


def _report(name: str, stack: Stack, load: WriteLoad, fault_at: float) -> None:
    statuses = load.statuses()
    comments = len(stack.query("SELECT id FROM comments"))
    print(  # the figures, shown with pytest -s
        f"\n{name}: {len(load.answers)} writes {dict(statuses)}; "
        f"{load.outage(fault_at):.2f} s without a successful write; "
        f"{statuses[503]} answers 503; "
        f"{len(load.acknowledged('article'))} articles and "
        f"{len(load.acknowledged('comment'))} comments acknowledged, all found; "
        f"{comments} comments in the database, each notified once; 503 causes: "
        f"{dict(stack.unavailable_causes().most_common(6))}"
    )


async def test_killing_the_primary_under_write_load_loses_no_acknowledged_write(
    stack: Stack,
) -> None:
    load, fault_at = await _under_load(stack, "kill")
    _assert_only_2xx_or_503(load)
    assert load.statuses()[503] > 0, "the failover was not seen: no 503 at all"
    _assert_acknowledged_writes_kept(stack, load)
    await _assert_each_comment_notified_once(stack)
    _assert_no_500_in_logs(stack)
    _report("failover (SIGKILL of the primary's postmaster)", stack, load, fault_at)


async def test_a_planned_switchover_under_write_load_fails_nothing_but_503s(
    stack: Stack,
) -> None:
    load, fault_at = await _under_load(stack, "switchover")
    _assert_only_2xx_or_503(load)
    _assert_acknowledged_writes_kept(stack, load)
    await _assert_each_comment_notified_once(stack)
    _assert_no_500_in_logs(stack)
    _report("switchover (patronictl)", stack, load, fault_at)
