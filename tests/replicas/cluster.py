"""A private PostgreSQL primary with a lagging streaming replica, migrated, for the replica
tests (the machine's PostgreSQL is never touched)."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conduit import migrations
from tests.pg_cluster import PrivatePostgres

# How far behind the primary the replica applies commits: longer than a read waits for it
# (CONDUIT_DATABASE_REPLICA_WAIT_SECONDS, 0.05), so a read right after a write finds the
# replica behind.
APPLY_DELAY = "'300ms'"


@dataclass(frozen=True)
class Cluster:
    primary: PrivatePostgres
    replica: PrivatePostgres

    def wait_until_replayed(self, timeout: float = 20.0) -> None:
        """Until the replica has applied everything the primary has written so far."""
        target = self.primary.execute("SELECT pg_current_wal_insert_lsn()::text")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            caught_up = self.replica.execute(
                f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
            )[0][0]
            if caught_up:
                return
            time.sleep(0.05)
        raise RuntimeError("the replica does not catch up")


@contextlib.contextmanager
def lagging_cluster() -> Iterator[Cluster]:
    """A migrated primary and a replica applying its commits ``APPLY_DELAY`` late.

    In a folder of their own under /tmp, not pytest's: a pytest session started meanwhile
    (another run on the machine) makes /tmp/pytest-of-<user> private again and deletes old
    sessions' folders, which the ``postgres`` user's servers would then lose.
    """
    folder = Path(tempfile.mkdtemp(prefix="conduit-replicas-"))
    primary = PrivatePostgres(folder / "primary")
    replica = PrivatePostgres(folder / "replica")
    try:
        # A quick checkpoint: pg_basebackup waits for one (spread over seconds by default).
        primary.init(max_connections="200", checkpoint_completion_target="0").start()
        migrations.upgrade(primary.url())
        replica.replica_of(
            primary, recovery_min_apply_delay=APPLY_DELAY, max_connections="200"
        ).start()
        cluster = Cluster(primary=primary, replica=replica)
        cluster.wait_until_replayed()
        yield cluster
    finally:
        replica.stop("immediate")
        primary.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def replica_reads(log: Path) -> dict[str, int]:
    """The ``replica_reads`` line a ``conduit serve`` process logs (JSON) when it stops."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"replica_reads"' in line:
            record = json.loads(line)
            return {key: value for key, value in record.items() if isinstance(value, int)}
    raise AssertionError(f"no replica_reads line in {log}")
