"""Private PostgreSQL servers for one test: a primary and streaming replicas on free ports,
data directories of their own, started and stopped by the test.

The machine's PostgreSQL (5432) is never touched. PostgreSQL refuses to run as root, so
the servers run as the ``postgres`` user (``runuser``) in folders it owns. ``trust``
authentication on 127.0.0.1, as on the machine's server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2

from tests.ports import free_port
from tests.processes import program

__all__ = ["PrivatePostgres", "pg_bin", "private_primary"]


def pg_bin(name: str) -> str:
    """The path of a PostgreSQL server program (initdb, pg_ctl ...) of the newest version."""
    root = Path("/usr/lib/postgresql")
    versions = sorted(root.iterdir(), key=lambda p: int(p.name)) if root.is_dir() else []
    for version in reversed(versions):
        candidate = version / "bin" / name
        if candidate.exists():
            return str(candidate)
    return program(name, how_to_get="apt-get install postgresql")


def as_postgres(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as the ``postgres`` user when we are root (else as ourselves)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


def give_to_postgres(path: Path) -> None:
    """Make ``path`` (a folder) and its parents up to /tmp reachable and ``path`` owned by
    the ``postgres`` user."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    shutil.chown(path, "postgres", "postgres")
    for parent in path.parents:
        if str(parent) in ("/", "/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o711)


class PrivatePostgres:
    """One PostgreSQL server: ``init`` (or ``replica_of``), ``start``, ``stop``, ``kill``."""

    def __init__(self, folder: Path, *, port: int | None = None) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = port or free_port()
        self.process_id: int | None = None

    # --- URLs -------------------------------------------------------------------------
    def url(self, database: str = "postgres", *, driver: str = "asyncpg") -> str:
        """A SQLAlchemy URL (``driver``: asyncpg or psycopg2)."""
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    # --- life -------------------------------------------------------------------------
    def init(self, **settings: str) -> PrivatePostgres:
        """A new cluster, ready for streaming replicas, with ``settings`` in its
        postgresql.conf (``shared_preload_libraries="pg_stat_statements"`` ...)."""
        give_to_postgres(self.folder)
        as_postgres(
            [pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        )
        self.configure(
            listen_addresses="'127.0.0.1'",
            port=str(self.port),
            unix_socket_directories=f"'{self.folder}'",
            wal_level="replica",
            max_wal_senders="10",
            hot_standby="on",
            fsync="off",
            **settings,
        )
        hba = self.data / "pg_hba.conf"
        with hba.open("a", encoding="utf-8") as out:
            out.write("host replication all 127.0.0.1/32 trust\n")
        return self

    def replica_of(self, primary: PrivatePostgres, **settings: str) -> PrivatePostgres:
        """A streaming replica of ``primary`` (running), from ``pg_basebackup -R``."""
        give_to_postgres(self.folder)
        as_postgres(
            [
                pg_bin("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(self.data),
                "-R",
                "-X",
                "stream",
            ]
        )
        self.configure(port=str(self.port), unix_socket_directories=f"'{self.folder}'", **settings)
        return self

    def configure(self, **settings: str) -> None:
        """Append ``name = value`` lines to postgresql.auto.conf (the last one wins)."""
        path = self.data / "postgresql.auto.conf"
        with path.open("a", encoding="utf-8") as out:
            for name, value in settings.items():
                out.write(f"{name} = {value}\n")

    def start(self, timeout: float = 30.0) -> PrivatePostgres:
        as_postgres(
            [
                pg_bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ]
        )
        self.process_id = int((self.data / "postmaster.pid").read_text().split()[0])
        self.wait_until_accepting(timeout)
        return self

    def stop(self, mode: str = "fast") -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        with contextlib.suppress(subprocess.CalledProcessError):
            as_postgres([pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def kill(self) -> None:
        """SIGKILL the postmaster (its backends then exit on their own)."""
        if self.process_id is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process_id, signal.SIGKILL)

    def reload(self) -> None:
        as_postgres([pg_bin("pg_ctl"), "-D", str(self.data), "reload"])

    def accepts_connections(self) -> bool:
        try:
            self.execute("SELECT 1", timeout=1)
            return True
        except psycopg2.Error:
            return False

    def wait_until_accepting(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.accepts_connections():
                return
            time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL on {self.port} does not accept connections: {self.log}")

    def execute(
        self, sql: str, database: str = "postgres", *, timeout: int = 10
    ) -> list[tuple[object, ...]]:
        """Run ``sql`` (autocommit) and return its rows (none for a statement without)."""
        conn = psycopg2.connect(self.dsn(database), connect_timeout=timeout)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            conn.close()


@contextlib.contextmanager
def private_primary(folder: Path, **settings: str) -> Iterator[PrivatePostgres]:
    """A running private primary, stopped (immediately) when the block ends."""
    server = PrivatePostgres(folder).init(**settings).start()
    try:
        yield server
    finally:
        server.stop("immediate")
