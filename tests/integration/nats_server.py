"""A private NATS JetStream server for one test: ``nats-server -js`` on a free port.

Stopped (and its store dir kept) by :meth:`NatsServer.stop`, started again on the same port
and store by :meth:`NatsServer.start`, so a test can take the broker away and bring it back
with its streams and durable consumers. The machine's own NATS (port 4222) is never touched.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import _unreachable
from tests.ports import free_port


class NatsServer:
    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.store_dir = store_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            _unreachable("nats-server", FileNotFoundError("nats-server is not installed"))
            return
        self.process = subprocess.Popen(
            [binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"nats-server exited with {self.process.returncode}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail("nats-server did not start within 15 s", pytrace=False)

    def stop(self) -> None:
        """Stop gracefully (JetStream flushes its store), killing after 10 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
