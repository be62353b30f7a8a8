"""Conduit's web app in a real Chromium, with JavaScript on and off: Conduit's own Playwright
specs (tests/browser/flows) run against ``conduit serve``.

The specs sign up, sign in, write an article in Markdown and see it rendered and sanitised,
comment, favorite, follow, read the feed, change the settings and sign out; post forms
without their CSRF token (refused, nothing changes); moderate from the console as an admin
(ban, unban, delete an article with a reason, the audit log); do a reader's visit with the
keyboard alone (the skip link, each form's fields in order, Enter and Space, the focus ring
seen at each step); run axe-core on every page they visit (no serious or critical
violation); and publish every payload of
``tests/web_payloads.py`` as an article and a comment (no dialog, no CSP report other than
a blocked image of another site). Each spec runs in two Playwright projects, ``js`` and
``nojs`` (the XSS spec in ``js`` only: with JavaScript off nothing could run).

The admin signs up through the API and gets the role from ``conduit users grant``, as the
README's first admin does. Chromium is Debian's; the npm project pins @playwright/test and
@axe-core/playwright by lock file (``npm ci`` once when missing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import chromium_path, conduit_serve, node_tool, npm_ci
from tests.web_payloads import XSS_PAYLOADS

# Playwright ran 4.6 minutes on a 2-core machine under a load average of 13.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

FLOWS = Path(__file__).parent / "flows"
PROJECTS = ("js", "nojs")
ADMIN = {"username": "flowsadmin", "email": "flowsadmin@flows.example", "password": "password123"}
RUN_TIMEOUT_SECONDS = 1100
CLI = [sys.executable, "-m", "conduit.entrypoints.cli"]


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``conduit serve`` (development settings, SQLite) with an admin made as the README says:
    signed up, then granted the role by the ``conduit`` command on the same database."""
    data = tmp_path_factory.mktemp("web-flows")
    with conduit_serve(data) as base:
        signed_up = httpx.post(f"{base}/api/users", json={"user": ADMIN}, timeout=10)
        assert signed_up.status_code == 201, signed_up.text
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONDUIT_")}
        env.update(CONDUIT_ENVIRONMENT="development", CONDUIT_DATA_DIR=str(data))
        granted = subprocess.run(
            [*CLI, "users", "grant", ADMIN["username"], "admin"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert granted.returncode == 0, granted.stderr
        yield base


def _outcomes(report: dict[str, Any]) -> dict[str, Counter[str]]:
    """Per project: how many tests ended how (expected, unexpected, flaky, skipped)."""
    counts: dict[str, Counter[str]] = {project: Counter() for project in PROJECTS}

    def walk(suite: dict[str, Any]) -> None:
        for spec in suite.get("specs", []):
            for run in spec["tests"]:
                counts.setdefault(run["projectName"], Counter())[run["status"]] += 1
        for child in suite.get("suites", []):
            walk(child)

    for suite in report["suites"]:
        walk(suite)
    return counts


def _failures(report: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(suite: dict[str, Any]) -> None:
        for spec in suite.get("specs", []):
            for run in spec["tests"]:
                if run["status"] != "expected":
                    errors = [e.get("message", "") for r in run["results"] for e in r["errors"]]
                    found.append(f"[{run['projectName']}] {spec['title']}: {errors}"[:3000])
        for child in suite.get("suites", []):
            walk(child)

    for suite in report["suites"]:
        walk(suite)
    return found


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_web_flows_pass_in_chromium_with_javascript_on_and_off(
    admin_server: str, tmp_path: Path
) -> None:
    chromium = chromium_path()
    node = node_tool("node")
    npm_ci(FLOWS, "@playwright/test")
    payloads = tmp_path / "payloads.json"
    payloads.write_text(json.dumps(XSS_PAYLOADS))
    report = tmp_path / "report.json"
    axe_log, xss_log = tmp_path / "axe.jsonl", tmp_path / "xss.jsonl"
    env = {
        **os.environ,
        "CONDUIT_BASE_URL": admin_server,
        "CONDUIT_CHROMIUM": chromium,
        "FLOWS_REPORT": str(report),
        "FLOWS_AXE_LOG": str(axe_log),
        "FLOWS_XSS_LOG": str(xss_log),
        "FLOWS_XSS_PAYLOADS": str(payloads),
        "FLOWS_ADMIN_EMAIL": ADMIN["email"],
        "FLOWS_ADMIN_PASSWORD": ADMIN["password"],
    }
    started = time.monotonic()
    done = subprocess.run(
        [node, str(FLOWS / "node_modules" / "@playwright" / "test" / "cli.js"), "test"],
        cwd=FLOWS,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(report.read_text())
    counts = _outcomes(results)
    for project in PROJECTS:
        print(f"{project}: {dict(counts[project])}")
    print(f"playwright ran {elapsed:.0f} s")

    pages = _lines(axe_log)
    violations = Counter((v["id"], v["impact"]) for line in pages for v in line["violations"])
    print(f"axe: {len(pages)} pages checked, violations by rule: {dict(violations) or 'none'}")
    for seen in _lines(xss_log):
        print(
            f"xss: {seen['payloads']} payloads, {len(seen['dialogs'])} dialogs, "
            f"blocked images {len(seen['blockedImages'])}, other CSP reports "
            f"{seen['otherCspReports']}"
        )

    assert _failures(results) == [], done.stdout[-3000:]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for project in PROJECTS:
        assert counts[project]["expected"] >= 10, (project, counts[project])
        assert set(counts[project]) == {"expected"}, (project, counts[project])
    assert counts["js"]["expected"] == counts["nojs"]["expected"] + 1  # the XSS spec
    assert {line["project"] for line in pages} == set(PROJECTS)
    assert not [
        (line["project"], line["page"], v["id"])
        for line in pages
        for v in line["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert [seen["payloads"] for seen in _lines(xss_log)] == [len(XSS_PAYLOADS)]
