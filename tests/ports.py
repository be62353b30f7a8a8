"""Ports for the servers the tests start (Redis, NATS, SeaweedFS, the OIDC provider, uvicorn,
``conduit serve``) and for the addresses where nothing may listen.

Asking the kernel for a free port (binding to port 0) and closing the probe leaves a window
before the server binds it: another test process (an xdist worker, another person's run on
the same machine) may be handed the same port in the meantime, and any outgoing connection
may take it as its source port (bind(0) hands out ports of the ephemeral range). So a port
is drawn at random *below* the ephemeral range, reserved with an exclusive ``flock`` on a
file named after it in a folder every test process shares, and checked to be bindable. The
reservation lasts as long as the process: a test that stops a server and starts it again on
the same port keeps it, and no other process is handed it meanwhile. The kernel drops the
locks when a process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
from pathlib import Path

# Below Linux's default ephemeral range (32768-60999): the kernel never hands these out as
# source ports of outgoing connections.
LOW, HIGH = 20_000, 32_000
LOCK_DIR = Path(tempfile.gettempdir()) / "conduit-test-ports"

_reserved: dict[int, int] = {}  # port -> descriptor of its locked file
_draw = random.Random()  # not seeded from the test run: two workers never share a sequence


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _lock(port: int) -> int | None:
    fd = os.open(LOCK_DIR / f"{port}.lock", os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def free_port() -> int:
    """A port nothing listens on, reserved for this process until it ends."""
    LOCK_DIR.mkdir(mode=0o777, exist_ok=True)
    for _ in range(2_000):
        port = _draw.randrange(LOW, HIGH)
        if port in _reserved:
            continue
        fd = _lock(port)
        if fd is None:  # another test process holds it
            continue
        if not _bindable(port):  # something else on the machine listens there
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            continue
        _reserved[port] = fd
        return port
    raise RuntimeError(f"no free port between {LOW} and {HIGH}")


def free_ports(count: int) -> list[int]:
    return [free_port() for _ in range(count)]
