"""README's "Production" section, run as written against PostgreSQL (or MariaDB), Redis and
RabbitMQ.

Every ``sh`` block of the section is run by bash in a fresh folder holding `.env.example`,
but the one that installs the machine (done here already); on MariaDB its block replaces
PostgreSQL's and the MariaDB URL of `.env.example` is used, as the README says. The only
changes made to the text: the name ``conduit`` of the database, role, vhost and RabbitMQ user
becomes a fresh one (created and deleted by this test, even when it fails), port 8000 a free
one, Redis a private server (tests/redis_server.py), and ``sudo [-u postgres]`` runs the
command as this process, PGHOST/PGUSER pointing at the local PostgreSQL (postgres, trust). The
``conduit serve`` and ``conduit worker`` lines are started as the long-running processes they
are; then a user signs up, writes an article, and production mode is checked from outside.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from tests.conftest import BACKENDS, _unreachable
from tests.redis_server import PrivateRedis, free_port

ROOT = Path(__file__).parents[2]
ADMIN_URL = os.environ.get(
    "CONDUIT_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get(
    "CONDUIT_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test"
)
INSTALL = "# once per machine"
MARIADB = "# MariaDB instead"
PRELUDE = 'sudo() { if [ "$1" = -u ]; then shift 2; fi; "$@"; }\n'

DATABASES = [
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


def production_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Production\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, "README.md has no '## Production' section"
    return match.group(1)


def recipe_blocks(database: str) -> list[str]:
    """The section's sh blocks but the installation; on MariaDB, its block in place of
    PostgreSQL's."""
    blocks = re.findall(r"^```sh\n(.*?)^```$", production_section(), re.M | re.S)
    blocks = [block for block in blocks if not block.startswith(INSTALL)]
    if database == "mariadb":
        mariadb = [block for block in blocks if block.startswith(MARIADB)]
        assert mariadb, "no MariaDB block"
        return [
            mariadb[0] if "createdb" in block else block for block in blocks if block not in mariadb
        ]
    return [block for block in blocks if not block.startswith(MARIADB)]


def _rename(line: str, name: str) -> str:
    return re.sub(r"\bconduit\b", name, line)


def adapt(block: str, *, name: str, port: int) -> str:
    lines = []
    for line in block.splitlines():
        if line.startswith("sudo "):
            line = _rename(line, name)
        line = line.replace("--port 8000", f"--port {port}")
        line = line.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        lines.append(line)
    return "\n".join(lines) + "\n"


def adapt_env_example(text: str, *, database: str, name: str, redis_url: str) -> str:
    """.env.example with the test's names; on MariaDB, its URL uncommented in place of
    PostgreSQL's, as the README says to do."""
    lines = []
    for line in text.splitlines():
        if database == "mariadb":
            if line.startswith("CONDUIT_DATABASE_URL="):
                continue
            if line.startswith("# CONDUIT_DATABASE_URL=mysql"):
                line = line.removeprefix("# ")
        if line.startswith(("CONDUIT_DATABASE_URL=", "CONDUIT_BROKER_URL=")):
            line = _rename(line, name)
        line = line.replace("redis://127.0.0.1:6379/0", redis_url)
        lines.append(line)
    return "\n".join(lines) + "\n"


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONDUIT_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PGHOST"] = "127.0.0.1"
    env["PGUSER"] = "postgres"
    return env


def _run(block: str, *, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", PRELUDE + block],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{block}\nexit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


def _admin_url(database: str) -> str:
    return ADMIN_URL if database == "postgresql" else MARIADB_ADMIN_URL


def _cleanup(database: str, name: str) -> None:
    engine = sqlalchemy.create_engine(_admin_url(database), isolation_level="AUTOCOMMIT")
    if database == "postgresql":
        statements = [
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'DROP ROLE IF EXISTS "{name}"',
        ]
    else:
        statements = [
            f"DROP DATABASE IF EXISTS `{name}`",
            f"DROP USER IF EXISTS '{name}'@'127.0.0.1'",
        ]
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(sqlalchemy.text(statement))
    finally:
        engine.dispose()
    for args in (["delete_vhost", name], ["delete_user", name]):
        subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, timeout=60, check=False)


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    database: str = request.param
    if database not in BACKENDS:
        pytest.skip(f"{database} is not a test backend (CONDUIT_TEST_BACKENDS)")
    try:
        engine = sqlalchemy.create_engine(_admin_url(database))
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        _unreachable(database, exc)
    return database


@pytest.fixture
def name(database: str) -> Iterator[str]:
    name = f"conduit_recipe_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        _cleanup(database, name)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _wait_until_live(base: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        for process in processes:
            assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        try:
            if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("conduit serve did not answer /health/live within 40 s")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _database_count(database: str, name: str, query: str) -> int:
    url = sqlalchemy.engine.make_url(_admin_url(database)).set(database=name)
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sqlalchemy.text(query)).scalar_one())
    finally:
        engine.dispose()


def test_the_readme_production_recipe_runs_as_written(
    tmp_path: Path, database: str, name: str, redis_url: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    origin = "https://app.example.com"
    env = _environment()
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    (tmp_path / ".env.example").write_text(
        adapt_env_example(example, database=database, name=name, redis_url=redis_url),
        encoding="utf-8",
    )
    blocks = [adapt(block, name=name, port=port) for block in recipe_blocks(database)]
    created = "createdb" if database == "postgresql" else "COLLATE utf8mb4_bin"
    assert any(created in block for block in blocks)
    assert any("add_vhost" in block for block in blocks)
    assert any("conduit db upgrade" in block for block in blocks)
    processes: list[subprocess.Popen[bytes]] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        for block in blocks:
            if "conduit serve" in block:
                for index, line in enumerate(block.splitlines()):
                    if not line.strip() or line.startswith("#"):
                        continue
                    out = (logs / f"process{index}.log").open("wb")
                    processes.append(
                        subprocess.Popen(
                            ["bash", "-c", PRELUDE + "exec " + line],
                            cwd=tmp_path,
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
                assert any("conduit worker" in str(p.args) for p in processes)
                _wait_until_live(base, processes)
                continue
            if "users grant" in block:
                _sign_up_and_write(base, origin)
            output = _run(block, cwd=tmp_path, env=env)
            if "/health/ready" in block:
                assert '"status":"ok"' in output.replace(" ", "")
        # The worker consumed the article's events from the dedicated vhost.
        deadline = time.monotonic() + 20
        while _database_count(database, name, "SELECT count(*) FROM processed_events") == 0:
            assert time.monotonic() < deadline, "the worker applied no event"
            time.sleep(0.3)
        assert (
            _database_count(
                database, name, "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
            == 0
        )
        assert all(process.poll() is None for process in processes)
        _check_production_mode(base, origin)
    except BaseException:
        for log in sorted(logs.iterdir()):
            print(log.name, log.read_text(errors="replace")[-3000:])
        raise
    finally:
        _stop(processes)


def _sign_up_and_write(base: str, origin: str) -> None:
    user = {"username": "alice", "email": "alice@example.com", "password": "correct horse 42"}
    answer = httpx.post(f"{base}/api/users", json={"user": user}, headers={"Origin": origin})
    assert answer.status_code == 201, answer.text
    assert answer.headers["RateLimit-Limit"] == "5"  # production register budget
    token = answer.json()["user"]["token"]
    article = {"title": "Recipe", "description": "ran", "body": "as written", "tagList": ["ops"]}
    answer = httpx.post(
        f"{base}/api/articles",
        json={"article": article},
        headers={"Authorization": f"Token {token}"},
    )
    assert answer.status_code == 201, answer.text


def _check_production_mode(base: str, origin: str) -> None:
    answer = httpx.get(f"{base}/api/articles", headers={"Origin": origin})
    assert answer.status_code == 200
    assert answer.json()["articlesCount"] == 1
    assert answer.headers["access-control-allow-origin"] == origin
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert answer.headers["RateLimit-Limit"] == "600"  # production read budget
    stranger = httpx.get(f"{base}/api/articles", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers
    # GraphiQL is off in production.
    page = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"})
    assert "graphiql" not in page.text.lower()
