"""A private pgbouncer for one test (or one conformance or bench run): its own port, ini
file, user list, log and pid file in a folder of its own, in front of a PostgreSQL server.

The settings are those docs/operating/pgbouncer.md recommends: ``pool_mode = transaction``
(a server connection is lent to a client for one transaction, then to the next client), a
small pool per database and user, ``trust`` authentication (the machine's PostgreSQL trusts
127.0.0.1 as well). pgbouncer refuses to run as root, so as root it runs as the
``postgres`` user in a folder that user owns.

Standard library only, so that ``scripts/conformance.py`` and ``bench/pgbouncer.py`` start
the same pgbouncer as the tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Pgbouncer", "pgbouncer_binary", "running_pgbouncer"]

INI = """\
[databases]
* = host={server_host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/userlist.txt
admin_users = postgres
pool_mode = {pool_mode}
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = {max_client_conn}
max_db_connections = {pool_size}
server_lifetime = 3600
server_idle_timeout = 600
ignore_startup_parameters = extra_float_digits
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
log_connections = 0
log_disconnections = 0
"""


def pgbouncer_binary() -> str | None:
    """The pgbouncer program (Debian: /usr/sbin/pgbouncer), or None."""
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(p).exists()), None
    )


def _give_to_postgres(folder: Path) -> None:
    """As root: ``folder`` owned by ``postgres`` and its parents up to /tmp traversable."""
    if os.geteuid() != 0:
        return
    shutil.chown(folder, "postgres", "postgres")
    for path in folder.iterdir():
        shutil.chown(path, "postgres", "postgres")
    for parent in folder.parents:
        if str(parent) in ("/", "/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o711)


class Pgbouncer:
    """One pgbouncer: ``start`` (waits until it accepts connections), ``stop``."""

    def __init__(
        self,
        folder: Path,
        *,
        port: int,
        binary: str,
        server_port: int = 5432,
        server_host: str = "127.0.0.1",
        pool_size: int = 10,
        pool_mode: str = "transaction",
        max_client_conn: int = 500,
    ) -> None:
        self.folder = folder
        self.port = port
        self.binary = binary
        self.settings = {
            "server_host": server_host,
            "server_port": server_port,
            "pool_mode": pool_mode,
            "pool_size": pool_size,
            "max_client_conn": max_client_conn,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / "pgbouncer.log"

    def url(self, database: str, *, driver: str = "asyncpg") -> str:
        """The SQLAlchemy URL of ``database`` through this pgbouncer."""
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 15.0) -> Pgbouncer:
        self.folder.mkdir(parents=True, exist_ok=True)
        ini = self.folder / "pgbouncer.ini"
        ini.write_text(INI.format(folder=self.folder, port=self.port, **self.settings))
        (self.folder / "userlist.txt").write_text('"postgres" ""\n')
        self.log.touch()
        _give_to_postgres(self.folder)
        as_postgres = {"user": "postgres", "group": "postgres", "extra_groups": []}
        with (self.folder / "stderr.log").open("wb") as output:
            self.process = subprocess.Popen(  # our own child: stopped and reaped by stop()
                [self.binary, str(ini)],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                **(as_postgres if os.geteuid() == 0 else {}),  # type: ignore[arg-type]
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"pgbouncer exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen on {self.port}:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM: pgbouncer closes every connection at once and exits."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        texts = [p.read_text(errors="replace") for p in (self.log, self.folder / "stderr.log")]
        return "\n".join("\n".join(t.splitlines()[-lines:]) for t in texts if t)


@contextmanager
def running_pgbouncer(
    folder: Path, *, port: int, binary: str, **settings: object
) -> Iterator[Pgbouncer]:
    """A started pgbouncer, stopped on the way out whatever happens."""
    bouncer = Pgbouncer(folder, port=port, binary=binary, **settings)  # type: ignore[arg-type]
    try:
        yield bouncer.start()
    finally:
        bouncer.stop()
