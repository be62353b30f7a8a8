"""The load test CI runs: the realistic mix (loadtest/locustfile.py) for 60 s against a real
``conduit serve`` on PostgreSQL in production mode, then loadtest/thresholds.toml.

The server gets a database of its own (migrated), the frontend's origin for CORS, and the
load generator as its trusted proxy, so the production rate limits apply per virtual user
(each sends its own X-Forwarded-For). Locust seeds its data set through the API, runs
headless and exits non-zero on any failed request or error; the check fails the test on a
failure, a p95 over its bound, the server's CPU time per request over its bound, or a
request name no scenario sent.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest import check
from loadtest.server import Server, locust_command, production_environment, run_locust
from tests.conftest import BACKENDS, Backend, _unreachable
from tests.ports import free_port

USERS = 50
SPAWN_RATE = 5
DURATION = "60s"
SCENARIOS = {"anonymous", "signed-in", "writer", "live"}

# Its p95 and CPU bounds assume the machine to itself: run in the serial phase. In the
# parallel phase, with both cores busy with other tests, sign-ups took 7 s (argon2).
pytestmark = pytest.mark.serial


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own."""
    if "postgresql" not in BACKENDS:
        pytest.skip("postgresql is not a test backend (CONDUIT_TEST_BACKENDS)")
    backend = Backend("postgresql", tmp_path)
    try:
        url = backend.create()
    except Exception as exc:
        _unreachable("postgresql", exc)
    try:
        yield url
    finally:
        backend.drop()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    env = production_environment(database_url, CONDUIT_DATA_DIR=str(tmp_path))
    server = Server(env, port=free_port(), log=tmp_path / "serve.log", cwd=tmp_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_the_mix_holds_its_thresholds_against_conduit_on_postgresql(
    server: Server, tmp_path: Path
) -> None:
    prefix = tmp_path / "ci"
    command = locust_command(
        server.url, prefix, users=USERS, spawn_rate=SPAWN_RATE, duration=DURATION
    )
    done = run_locust(command, prefix=prefix, users=USERS, server=server, timeout=240)
    output = done.output[-12000:]
    assert done.returncode == 0, f"locust exited with {done.returncode}\n{output}\n{server.tail()}"
    assert done.cpu_ms_per_request is not None, output  # every user ran, for a while

    rows = check.read_stats(prefix)
    thresholds = check.load_thresholds()
    print(check.table(rows, thresholds))
    print(check.scenario_table(prefix))
    print(f"server CPU: {done.cpu_ms_per_request:.2f} ms per request")
    found = check.problems(rows, thresholds, cpu_ms_per_request=done.cpu_ms_per_request)
    assert found == [], f"{output}\n{server.tail()}"
    with Path(f"{prefix}_scenarios.csv").open(newline="") as source:
        sent = {row["scenario"]: int(row["requests"]) for row in csv.DictReader(source)}
    assert set(sent) == SCENARIOS
    assert all(count > 0 for count in sent.values()), sent
