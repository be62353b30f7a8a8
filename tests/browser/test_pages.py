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
import subprocess
from pathlib import Path

import pytest

from tests.browser.conftest import chromium_path, node_tool, npm_ci

DRIVER = Path(__file__).parent / "driver"
GRAPHIQL = Path(__file__).resolve().parents[2] / "web" / "graphiql"


@pytest.fixture(scope="module")
def browser_tools() -> tuple[str, str]:
    """(chromium, node), with the driver's and GraphiQL's packages installed."""
    chromium = chromium_path()
    node = node_tool("node")
    npm_ci(DRIVER, "playwright-core")
    npm_ci(GRAPHIQL, "graphiql")
    return chromium, node


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
