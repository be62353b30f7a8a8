"""A private memcached for one test, on a free port (nothing on disk, as Memcached is).

Tests stop, pause, flush and restart their own server; no shared one is involved.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time

from tests.ports import free_port
from tests.processes import program

__all__ = ["PrivateMemcached"]


class PrivateMemcached:
    def __init__(self, *, memory_mb: int = 64) -> None:
        self.binary = program("memcached", how_to_get="apt-get install memcached")
        self.port = free_port()
        self.memory_mb = memory_mb
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"memcached://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            self.binary,
            "--listen=127.0.0.1",
            f"--port={self.port}",
            "--udp-port=0",
            f"--memory-limit={self.memory_mb}",
            "--user=nobody",  # memcached refuses to run as root without a user to become
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.command(b"version")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"memcached did not start on port {self.port}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """Kill the server (SIGKILL: no goodbye to its clients; everything it held is gone)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def pause(self) -> None:
        """Freeze the server: connections stay open, nothing answers (a network split)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def command(self, line: bytes) -> bytes:
        """Send one text-protocol command and return its reply's first line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
            connection.sendall(line + b"\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = connection.recv(4096)
                if not chunk:
                    break
                reply += chunk
        return reply.split(b"\r\n")[0]

    def flush_all(self) -> None:
        """Drop every item, as eviction of everything would (counters and entries alike)."""
        assert self.command(b"flush_all") == b"OK"

    def delete(self, key: bytes) -> bool:
        return self.command(b"delete " + key) == b"DELETED"

    def items(self) -> int:
        """How many items the server holds now."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
            connection.sendall(b"stats\r\n")
            reply = b""
            while not reply.endswith(b"END\r\n"):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                reply += chunk
        for line in reply.decode().splitlines():
            if line.startswith("STAT curr_items "):
                return int(line.split()[2])
        raise RuntimeError("memcached's stats have no curr_items")
