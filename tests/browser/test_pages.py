"""/docs (Swagger UI) and GraphiQL in a real headless Chromium, with no network beyond
127.0.0.1: each page renders from this server's assets alone (Swagger UI lists the
operations, GraphiQL shows its editor) and the console shows no CSP violation.

``conduit serve`` runs as a real server on a free port (SQLite in a temporary folder); the
browser is the system's Chromium (Debian package ``chromium``), driven by the npm package
playwright-core (pinned by ``driver/package-lock.json``, ``npm ci`` once when missing).
Without Chromium, Node.js or npm the test is skipped with the reason on a developer's
machine and fails in CI (CI=true), as for the database servers (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import _unreachable
from tests.oidc.provider_process import free_port

DRIVER = Path(__file__).parent / "driver"
GRAPHIQL = Path(__file__).resolve().parents[2] / "web" / "graphiql"
START_TIMEOUT_SECONDS = 30


def npm_ci(folder: Path, marker: str) -> None:
    """``npm ci`` in ``folder`` unless ``node_modules/<marker>`` is there already."""
    if (folder / "node_modules" / marker).is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        _unreachable("npm", FileNotFoundError("npm is needed for the browser test"))
    done = subprocess.run(
        [str(npm), "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        _unreachable(f"npm ci ({folder.name})", RuntimeError(done.stderr[-2000:]))


@pytest.fixture(scope="module")
def browser_tools() -> tuple[str, str]:
    """(chromium, node), with the driver's and GraphiQL's packages installed."""
    chromium = shutil.which(os.environ.get("CONDUIT_CHROMIUM") or "chromium")
    if chromium is None:
        _unreachable("Chromium", FileNotFoundError("install it: apt-get install -y chromium"))
    node = shutil.which("node")
    if node is None:
        _unreachable("Node.js", FileNotFoundError("node is needed for the browser test"))
    assert chromium is not None
    assert node is not None
    npm_ci(DRIVER, "playwright-core")
    npm_ci(GRAPHIQL, "graphiql")
    return chromium, node


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``conduit serve`` on a free port (development settings, SQLite); its base URL."""
    port = free_port()
    data = tmp_path_factory.mktemp("browser")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDUIT_")}
    env.update(
        CONDUIT_ENVIRONMENT="development",
        CONDUIT_DATA_DIR=str(data),
        CONDUIT_LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "conduit.entrypoints.cli", "serve", "--port", str(port)]
    log = (data / "serve.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"conduit serve exited: {(data / 'serve.log').read_text()[-2000:]}")
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


def test_docs_and_graphiql_render_offline_without_csp_violations(
    browser_tools: tuple[str, str], server: str
) -> None:
    chromium, node = browser_tools
    done = subprocess.run(
        [node, str(DRIVER / "check_pages.mjs"), chromium, server],
        cwd=DRIVER,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for name, result in results.items():
        assert result["status"] == 200, (name, result)
        assert "error" not in result, (name, result["error"])
        assert result["blocked"] == [], (name, "requests beyond this server", result["blocked"])
        assert result["violations"] == [], (name, result["violations"])
        assert result["console"] == [], (name, result["console"])
        assert result["failed"] == [], (name, result["failed"])
    assert results["docs"]["count"] >= 20  # Swagger UI shows the API's operations
    assert results["graphiql"]["count"] == 1  # GraphiQL's editor, with its run button
