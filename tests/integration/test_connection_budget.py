"""The start-up connection budget against real servers: ``conduit serve`` and ``conduit
worker`` on a private PostgreSQL whose max_connections is 20 (17 for Conduit, 3 reserved)
refuse pools that do not fit, with the numbers and a size that does; start with that size;
start anyway, warned, with CONDUIT_DB_BUDGET_CHECK=warn. And the limits read on the shared
PostgreSQL and MariaDB (read only: their globals are everyone's)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from conduit import migrations
from conduit.bootstrap.connection_limits import read_limits
from tests.live_support import _wait_for_port
from tests.observability.test_metrics_processes import conduit_command, conduit_env, started
from tests.pg_cluster import PrivatePostgres
from tests.ports import free_port

MAX_CONNECTIONS = 20
BUDGET = MAX_CONNECTIONS - 3  # superuser_reserved_connections' default


@pytest.fixture(scope="module")
def small_postgres() -> Iterator[PrivatePostgres]:
    """A migrated PostgreSQL of the test's own with max_connections = 20.

    In a folder of its own under /tmp, not pytest's (see tests/replicas/cluster.py).
    """
    folder = Path(tempfile.mkdtemp(prefix="conduit-budget-"))
    server = PrivatePostgres(folder / "server")
    try:
        server.init(max_connections=str(MAX_CONNECTIONS)).start()
        migrations.upgrade(server.url())
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def budget_lines(output: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [record for record in records if record.get("event") == "db_connection_budget"]


def env_for(server: PrivatePostgres, folder: Path, **settings: str) -> dict[str, str]:
    return conduit_env(folder, CONDUIT_DATABASE_URL=server.url(), **settings)


def test_serve_refuses_pools_that_do_not_fit_with_the_numbers(
    small_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """2 workers x (10 pool + 1 wake-up listener) = 22 > 17: exit 2, no traceback."""
    env = env_for(small_postgres, tmp_path, CONDUIT_DB_POOL_SIZE="10")
    command = conduit_command("serve", "--workers", "2", "--port", str(free_port()))
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    [line] = budget_lines(result.stderr)
    assert line["verdict"] == "refuse"
    assert (line["need"], line["budget"]) == (22, BUDGET)
    assert (line["max_connections"], line["reserved"]) == (MAX_CONNECTIONS, 3)
    assert line["fitting_pool_size"] == 7  # 17 // 2 = 8 per process, one is the listener
    assert "22 > 17" in line["message"]
    assert "CONDUIT_DB_POOL_SIZE=7" in line["message"]
    assert "docs/operating/pgbouncer.md" in line["message"]


def test_serve_starts_with_the_size_it_suggested(
    small_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """7: 16 of 17 fits (warned: above 80 %), and the two workers serve."""
    env = env_for(small_postgres, tmp_path, CONDUIT_DB_POOL_SIZE="7")
    port = free_port()
    command = conduit_command("serve", "--workers", "2", "--port", str(port))
    with started(tmp_path, "serve", command, env) as process:
        _wait_for_port(port, process, wait=90)
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text
    [line] = budget_lines((tmp_path / "serve.log").read_text(encoding="utf-8"))
    assert (line["verdict"], line["need"], line["budget"]) == ("warn", 16, BUDGET)


def test_warn_mode_starts_pools_that_do_not_fit(
    small_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    env = env_for(
        small_postgres, tmp_path, CONDUIT_DB_POOL_SIZE="10", CONDUIT_DB_BUDGET_CHECK="warn"
    )
    port = free_port()
    command = conduit_command("serve", "--port", str(port), "--workers", "2")
    with started(tmp_path, "serve", command, env) as process:
        _wait_for_port(port, process, wait=90)
        assert httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=10).status_code == 200
    [line] = budget_lines((tmp_path / "serve.log").read_text(encoding="utf-8"))
    assert (line["verdict"], line["level"], line["need"]) == ("warn", "warning", 22)
    assert "starting anyway" in line["message"]


def test_worker_refuses_when_even_one_serve_process_and_itself_do_not_fit(
    small_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    env = env_for(small_postgres, tmp_path, CONDUIT_DB_POOL_SIZE="9")
    result = subprocess.run(
        conduit_command("worker"), env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    [line] = budget_lines(result.stderr)
    assert (line["need"], line["serve_processes"], line["worker_processes"]) == (20, 1, 1)


@pytest.mark.server_databases
async def test_the_limits_read_are_the_servers(database_url: str) -> None:
    limits = await read_limits(database_url)

    url = make_url(database_url)
    sync_driver = "psycopg2" if url.get_backend_name() == "postgresql" else "pymysql"
    engine = create_sync_engine(url.set(drivername=f"{url.get_backend_name()}+{sync_driver}"))
    try:
        with engine.connect() as conn:
            if url.get_backend_name() == "postgresql":
                expected = int(conn.execute(text("SHOW max_connections")).scalar_one())
                reserved = int(
                    conn.execute(text("SHOW superuser_reserved_connections")).scalar_one()
                )
            else:
                expected = int(conn.execute(text("SELECT @@max_connections")).scalar_one())
                reserved = 0
    finally:
        engine.dispose()
    assert (limits.max_connections, limits.reserved) == (expected, reserved)
    assert 0 <= limits.open_now < limits.max_connections
