"""HAProxy in front of a test's Patroni cluster, run from the configuration Conduit ships
(deploy/haproxy/haproxy.cfg), its addresses given in the environment as in production."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.ha.patroni_cluster import PatroniCluster
from tests.ports import free_port
from tests.processes import program, stop

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy" / "haproxy.cfg"


class HAProxy:
    """``haproxy`` in the foreground on a free port, routing to the cluster's primary."""

    def __init__(self, cluster: PatroniCluster, folder: Path) -> None:
        self.cluster = cluster
        self.port = free_port()
        self.log_path = folder / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def environment(self) -> dict[str, str]:
        first, second = self.cluster.members
        return {
            "CONDUIT_PG_PRIMARY_BIND": f"127.0.0.1:{self.port}",
            "PATRONI_PG1": first.host,
            "PATRONI_PG1_REST_PORT": str(first.rest_port),
            "PATRONI_PG2": second.host,
            "PATRONI_PG2_REST_PORT": str(second.rest_port),
        }

    def start(self, timeout: float = 30.0) -> HAProxy:
        haproxy = program("haproxy", how_to_get="apt-get install haproxy")
        env = {**os.environ, **self.environment()}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [haproxy, "-db", "-f", str(CONFIG)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.log_path.read_text()}")
            if self._replicas_marked_down() and self._listening():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"haproxy did not come up: {self.log_path.read_text()}")

    def _replicas_marked_down(self) -> bool:
        """True once every member but the primary failed its checks. HAProxy starts with
        every server up, so for its first second it also hands out replicas (where a write
        fails with SQLSTATE 25006, which Conduit answers 503); the tests begin after that."""
        primary = self.cluster.primary()
        logs = self.logs()
        return primary is not None and all(
            f"postgres_primary/{member.name} is DOWN" in logs
            for member in self.cluster.members
            if member is not primary
        )

    def _listening(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=1),
        ):
            return True
        return False

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_haproxy(cluster: PatroniCluster, folder: Path) -> Iterator[HAProxy]:
    """HAProxy routing to ``cluster``'s primary, stopped when the block ends."""
    haproxy = HAProxy(cluster, folder)
    try:
        yield haproxy.start()
    finally:
        haproxy.stop()
