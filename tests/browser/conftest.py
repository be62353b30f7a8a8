"""What the browser tests share: ``conduit serve`` on a free port (SQLite in a temporary
folder), the system's Chromium and Node.js, and ``npm ci`` of a test's own npm project.

Chromium is Debian's package (``chromium``, or the path in ``CONDUIT_CHROMIUM``); the npm
projects pin their packages by lock file and download no browser. Without Chromium, Node.js
or npm a test is skipped with the reason on a developer's machine and fails in CI (CI=true),
as for the database servers (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import _unreachable
from tests.oidc.provider_process import free_port

START_TIMEOUT_SECONDS = 30


def chromium_path() -> str:
    """The system's Chromium (``CONDUIT_CHROMIUM`` names another one)."""
    chromium = shutil.which(os.environ.get("CONDUIT_CHROMIUM") or "chromium")
    if chromium is None:
        _unreachable("Chromium", FileNotFoundError("install it: apt-get install -y chromium"))
    assert chromium is not None
    return chromium


def node_tool(name: str) -> str:
    """``node``, ``npm`` or ``npx`` from PATH."""
    found = shutil.which(name)
    if found is None:
        _unreachable("Node.js", FileNotFoundError(f"{name} is needed for the browser tests"))
    assert found is not None
    return found


def npm_ci(folder: Path, marker: str) -> None:
    """``npm ci`` in ``folder`` unless ``node_modules/<marker>`` is there already."""
    if (folder / "node_modules" / marker).is_dir():
        return
    done = subprocess.run(
        [node_tool("npm"), "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        _unreachable(f"npm ci ({folder.name})", RuntimeError(done.stderr[-2000:]))


@contextmanager
def conduit_serve(data: Path, **settings: str) -> Iterator[str]:
    """``conduit serve`` on a free port with development settings and SQLite in ``data``
    (``settings``: more ``CONDUIT_*`` variables); yields its base URL, stops it after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDUIT_")}
    env.update(
        CONDUIT_ENVIRONMENT="development",
        CONDUIT_DATA_DIR=str(data),
        CONDUIT_LOG_LEVEL="WARNING",
    )
    env.update(settings)
    command = [sys.executable, "-m", "conduit.entrypoints.cli", "serve", "--port", str(port)]
    log_path = data / "serve.log"
    log = log_path.open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"conduit serve exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"conduit serve did not start within {START_TIMEOUT_SECONDS} s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``conduit serve`` on a free port (development settings, SQLite); its base URL."""
    with conduit_serve(tmp_path_factory.mktemp("browser")) as base:
        yield base
