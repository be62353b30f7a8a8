"""A private Redis Sentinel deployment for one test: a primary, one replica and three
Sentinels (quorum 2), on free ports, in a tmp folder, stopped by the test.

The machine's Redis (6379) is never touched. Sentinels notice a dead primary after
``DOWN_AFTER_MS`` and promote the replica; ``FAILOVER_TIMEOUT_MS`` is kept small so that a
failed election is retried within seconds.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from tests.ports import free_port
from tests.processes import program

__all__ = ["SERVICE", "SentinelRedis", "sentinel_redis"]

SERVICE = "conduit-redis"
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


class SentinelRedis:
    """``start()``, then ``url`` (for ``CONDUIT_REDIS_URL``), ``kill_primary()``,
    ``wait_for_failover()`` and ``stop()`` (always, in a ``finally``)."""

    def __init__(self, folder: Path, *, sentinels: int = 3) -> None:
        self.server_binary = program("redis-server", how_to_get="apt-get install redis-server")
        self.sentinel_binary = program(
            "redis-sentinel", how_to_get="apt-get install redis-sentinel"
        )
        self.folder = folder
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return self.url_of(*self.sentinel_ports)

    def start(self) -> SentinelRedis:
        try:
            self._server(self.primary_port)
            self._server(self.replica_port, "--replicaof", "127.0.0.1", str(self.primary_port))
            self._until(self._replica_in_sync, "the replica did not sync with the primary")
            for port in self.sentinel_ports:
                self._sentinel(port)
            self._until(self._sentinels_ready, "the Sentinels did not find each other")
        except BaseException:
            self.stop()
            raise
        return self

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)

    def sentinel_client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)

    def current_primary(self) -> int:
        """The port the Sentinels name as the primary (the first Sentinel that answers)."""
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError):
                address: Any = self.sentinel_client(port).sentinel_get_master_addr_by_name(SERVICE)
                if address:
                    return int(address[1])
        raise RuntimeError("no Sentinel answers")

    def kill_primary(self) -> int:
        """SIGKILL the current primary (no goodbye to its clients); its port."""
        port = self.current_primary()
        process = self.processes.pop(port)
        process.kill()
        process.wait(10)
        return port

    def wait_for_failover(self, old_primary: int, timeout: float = 30.0) -> int:
        """Wait until every Sentinel names another primary and it answers as one; its port."""

        def promoted() -> bool:
            ports = set()
            for port in self.sentinel_ports:
                address: Any = self.sentinel_client(port).sentinel_get_master_addr_by_name(SERVICE)
                ports.add(int(address[1]))
            if len(ports) != 1 or old_primary in ports:
                return False
            role = self.client(ports.pop()).role()
            return bool(role and role[0] == b"master")

        self._until(promoted, "the Sentinels did not promote the replica", timeout)
        return self.current_primary()

    def url_of(self, *sentinels: int) -> str:
        """The URL that names only these Sentinels (ports)."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def pause(self, port: int) -> None:
        """Freeze the process on ``port`` (SIGSTOP): it holds its connections, answers nothing."""
        self.processes[port].send_signal(signal.SIGSTOP)

    def resume(self, port: int) -> None:
        self.processes[port].send_signal(signal.SIGCONT)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        self.processes.clear()

    # -- starting ---------------------------------------------------------------------------

    def _server(self, port: int, *options: str) -> None:
        folder = self.folder / f"redis-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            self.server_binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(folder),
            *options,
        ]
        self._spawn(port, command, folder / "redis.log")
        self._until(lambda: bool(self.client(port).ping()), f"redis-server on {port} did not start")

    def _sentinel(self, port: int) -> None:
        folder = self.folder / f"sentinel-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "sentinel.conf"  # rewritten by the Sentinel as it learns
        config.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            "daemonize no\n"
            f"dir {folder}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} {QUORUM}\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        self._spawn(port, [self.sentinel_binary, str(config)], folder / "sentinel.log")
        self._until(lambda: bool(self.sentinel_client(port).ping()), f"no Sentinel on {port}")

    def _spawn(self, port: int, command: list[str], log: Path) -> None:
        with log.open("ab") as output:
            self.processes[port] = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT
            )

    def _replica_in_sync(self) -> bool:
        info = self.client(self.replica_port).info("replication")
        return info.get("master_link_status") == "up"

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            state: Any = self.sentinel_client(port).sentinel_master(SERVICE)
            if int(state["num-other-sentinels"]) != len(self.sentinel_ports) - 1:
                return False
            if int(state["num-slaves"]) != 1:
                return False
        return True

    def _until(self, condition: Callable[[], bool], message: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(redis.RedisError):
                if condition():
                    return
            for port, process in self.processes.items():  # (a killed primary is not here)
                if process.poll() is not None:
                    raise RuntimeError(f"{message}: the process on port {port} exited")
            if time.monotonic() > deadline:
                raise RuntimeError(message)
            time.sleep(0.05)


@contextlib.contextmanager
def sentinel_redis(folder: Path) -> Iterator[SentinelRedis]:
    """A started deployment, stopped on the way out whatever happens."""
    deployment = SentinelRedis(folder).start()
    try:
        yield deployment
    finally:
        deployment.stop()
