"""A private Patroni cluster for one test: a single-member etcd and two PostgreSQL members
(a primary and its synchronous streaming replica), each on free ports, in folders of its own.

Patroni (Debian's ``patroni``) speaks etcd's v3 API with its own HTTP client (the ``etcd3:``
section), which Debian's etcd 3.4 serves by default: no ``--enable-v2``. PostgreSQL refuses
to run as root, so the Patroni daemons (which start PostgreSQL) run as the ``postgres`` user
(``runuser``), as in :mod:`tests.pg_cluster`. The machine's PostgreSQL is never touched.

Each member runs the configuration Conduit ships (deploy/patroni/patroni.yml:
``synchronous_mode``, so every acknowledged commit is on the replica; ``primary_start_timeout``
0, so a crashed primary is failed over at once instead of being restarted in place) with the
test's addresses and shorter timings (``ttl`` 10 s, ``loop_wait`` 1 s, ``retry_timeout`` 4 s).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import yaml

from tests.pg_cluster import give_to_postgres
from tests.ports import free_port
from tests.processes import program, stop

__all__ = ["Etcd", "PatroniCluster", "PatroniMember", "patroni_cluster"]

PG_BIN_DIR = "/usr/lib/postgresql/15/bin"
SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "patroni" / "patroni.yml"


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Etcd:
    """A single-member etcd: free client and peer ports, a data directory of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.client_port = free_port()
        self.peer_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def start(self, timeout: float = 30.0) -> Etcd:
        etcd = program("etcd", how_to_get="apt-get install etcd-server")
        self.folder.mkdir(parents=True, exist_ok=True)
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        command = [
            etcd,
            "--name=conduit-test",
            f"--data-dir={self.folder / 'data'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=conduit-test={peer}",
            "--initial-cluster-state=new",
            "--logger=zap",
            "--log-level=warn",
        ]
        with (self.folder / "etcd.log").open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"etcd exited: {(self.folder / 'etcd.log').read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{client}/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"etcd did not come up: {(self.folder / 'etcd.log').read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


def _member_config(member: PatroniMember, etcd: Etcd) -> dict[str, Any]:
    """The Patroni configuration of one member: the one Conduit ships
    (deploy/patroni/patroni.yml) with this test's addresses, folders and ``trust``
    authentication, and shorter timings."""
    config: dict[str, Any] = yaml.safe_load(SHIPPED_CONFIG.read_text())
    rest = f"127.0.0.1:{member.rest_port}"
    postgres = f"127.0.0.1:{member.pg_port}"
    config["name"] = member.name
    config["restapi"] = {"listen": rest, "connect_address": rest}
    config["etcd3"] = {"hosts": [etcd.endpoint]}
    dcs = config["bootstrap"]["dcs"]
    dcs.update(ttl=10, loop_wait=1, retry_timeout=4)
    dcs["postgresql"]["parameters"]["fsync"] = "off"  # throwaway data; the OS survives
    config["bootstrap"]["initdb"].append({"auth": "trust"})
    config["postgresql"].update(
        listen=postgres,
        connect_address=postgres,
        data_dir=str(member.data),
        bin_dir=PG_BIN_DIR,
        pgpass=str(member.folder / "pgpass"),
        authentication={
            role: {"username": "postgres"} for role in ("superuser", "replication", "rewind")
        },
        parameters={"unix_socket_directories": str(member.folder)},
        pg_hba=[
            "local all all trust",
            "host all all 127.0.0.1/32 trust",
            "host replication all 127.0.0.1/32 trust",
        ],
    )
    return config


class PatroniMember:
    """One Patroni daemon and the PostgreSQL server it runs."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self.data = folder / "data"
        self.config_path = folder / "patroni.yml"
        self.log_path = folder / "patroni.log"
        self.pg_port = free_port()
        self.rest_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.pg_port}"

    def write_config(self, etcd: Etcd) -> None:
        give_to_postgres(self.folder)
        self.config_path.write_text(yaml.safe_dump(_member_config(self, etcd), sort_keys=False))
        os.chmod(self.config_path, 0o644)

    def start(self) -> None:
        patroni = program("patroni", how_to_get="apt-get install patroni")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                _as_postgres([patroni, str(self.config_path)]),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                start_new_session=True,  # runuser and Patroni: one process group to kill
            )

    def kill(self) -> None:
        """SIGKILL Patroni and its PostgreSQL server: the data are the test's, thrown away.

        Patroni starts the postmaster in a session of its own (it outlives Patroni), so it is
        killed by its pid; its backends exit on their own when it is gone.
        """
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        with contextlib.suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.kill(self.postmaster_pid(), signal.SIGKILL)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill_postmaster(self) -> int:
        """SIGKILL this member's postmaster (its backends exit on their own); its pid."""
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def is_writable_primary(self) -> bool:
        """True when Patroni's ``/primary`` health check answers 200 (the leader, running)."""
        try:
            return httpx.get(f"{self.rest_url}/primary", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(
            host="127.0.0.1", port=self.pg_port, user="postgres", dbname=database, connect_timeout=5
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            conn.close()


class PatroniCluster:
    """etcd and two Patroni members."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.etcd = Etcd(folder / "etcd")
        self.members = [PatroniMember(folder / name, name) for name in ("pg1", "pg2")]

    def start(self, timeout: float = 90.0) -> PatroniCluster:
        """etcd, then pg1 (which bootstraps as the primary), then pg2 (cloned from it) until
        pg2 streams as the synchronous standby."""
        self.etcd.start()
        first, second = self.members
        for member in self.members:
            member.write_config(self.etcd)
        first.start()
        self.wait(first.is_writable_primary, timeout, "pg1 did not become primary")
        second.start()
        self.wait(self.has_sync_standby, timeout, "pg2 did not become the synchronous standby")
        return self

    def stop(self) -> None:
        for member in self.members:
            member.kill()
        self.etcd.stop()

    def cluster(self) -> dict[str, Any]:
        """Patroni's view of the cluster (REST ``/cluster`` of any member that answers)."""
        for member in self.members:
            with contextlib.suppress(httpx.TransportError, ValueError):
                return dict(httpx.get(f"{member.rest_url}/cluster", timeout=2).json())
        return {}

    def primary(self) -> PatroniMember | None:
        for member in self.members:
            if member.is_writable_primary():
                return member
        return None

    def replica_of(self, primary: PatroniMember) -> PatroniMember:
        return next(member for member in self.members if member is not primary)

    def has_sync_standby(self) -> bool:
        """True when one member runs as the leader and the other streams as its sync standby."""
        roles = {member.get("role"): member for member in self.cluster().get("members", [])}
        standby = roles.get("sync_standby") or {}
        return "leader" in roles and standby.get("state") in ("running", "streaming")

    def switchover(self, leader: PatroniMember, candidate: PatroniMember) -> None:
        """A planned switchover with ``patronictl``, as an operator runs it."""
        patronictl = program("patronictl", how_to_get="apt-get install patroni")
        done = subprocess.run(
            [
                *(patronictl, "-c", str(leader.config_path), "switchover"),
                *("--leader", leader.name, "--candidate", candidate.name, "--force"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"patronictl switchover failed:\n{done.stdout}{done.stderr}")

    @staticmethod
    def wait(condition: Callable[[], bool], timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise RuntimeError(message)

    def logs(self) -> str:
        parts = []
        for member in self.members:
            with contextlib.suppress(FileNotFoundError):
                parts.append(f"--- {member.name}\n{member.log_path.read_text()[-4000:]}")
        return "\n".join(parts)


@contextlib.contextmanager
def patroni_cluster(folder: Path) -> Iterator[PatroniCluster]:
    """A running Patroni cluster (primary + synchronous replica), stopped when the block ends."""
    cluster = PatroniCluster(folder)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
