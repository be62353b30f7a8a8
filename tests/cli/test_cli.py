"""The ``conduit`` command, run through Typer's CliRunner on throw-away SQLite files."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from alembic.script import ScriptDirectory
from typer.testing import CliRunner, Result

from conduit import migrations
from conduit.entrypoints import serving
from conduit.entrypoints.cli.main import app
from tests.conftest import TEST_SECRET
from tests.ports import free_port

APP_TABLES = {"users", "follows", "articles", "favorites", "tags", "article_tags", "comments"}


@pytest.fixture(autouse=True)
def keep_logging_configuration() -> Iterator[None]:
    """Commands configure logging onto CliRunner's stderr, closed after each run: restore it."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean folder (no .env) and no CONDUIT_* variable from the caller's environment."""
    for name in list(os.environ):
        if name.startswith("CONDUIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    quiet = {"CONDUIT_LOG_JSON": "true", "CONDUIT_LOG_LEVEL": "WARNING", **(env or {})}
    return CliRunner().invoke(app, list(args), env=quiet, catch_exceptions=False)


def sqlite_env(path: Path) -> dict[str, str]:
    return {"CONDUIT_DATABASE_URL": f"sqlite+aiosqlite:///{path.as_posix()}"}


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def version(path: Path) -> str | None:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _head_and_previous() -> tuple[str, str]:
    scripts = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    head = scripts.get_revision("head")
    assert head is not None
    previous = head.down_revision
    assert isinstance(previous, str)
    return head.revision, previous


def test_db_upgrade_current_and_downgrade_walk_the_migration_history(workdir: Path) -> None:
    database = workdir / "conduit.db"
    env = sqlite_env(database)
    head, previous = _head_and_previous()

    empty = run("db", "current", env=env)
    assert empty.exit_code == 0, empty.output
    assert "(empty database)" in empty.stdout

    upgraded = run("db", "upgrade", env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert "Database at head." in upgraded.stdout
    assert tables(database) >= APP_TABLES
    assert version(database) == head

    current = run("db", "current", env=env)
    assert current.exit_code == 0, current.output
    assert f"{head} (head)" in current.stdout

    one_step = run("db", "downgrade", env=env)
    assert one_step.exit_code == 0, one_step.output
    assert version(database) == previous
    assert tables(database) >= APP_TABLES

    to_base = run("db", "downgrade", "base", env=env)
    assert to_base.exit_code == 0, to_base.output
    assert "Database at base." in to_base.stdout
    assert not APP_TABLES & tables(database)
    assert version(database) is None

    to_first = run("db", "upgrade", "0001", env=env)
    assert to_first.exit_code == 0, to_first.output
    assert version(database) == "0001"


def test_db_upgrade_says_which_database_it_cannot_reach(workdir: Path) -> None:
    port = free_port()  # nothing listens there
    env = {
        "CONDUIT_DATABASE_URL": f"postgresql+asyncpg://postgres:hunter2@127.0.0.1:{port}/conduit",
        "CONDUIT_SECRET_KEY": TEST_SECRET,
    }
    result = run("db", "upgrade", env=env)
    assert result.exit_code == 1
    assert f"Cannot reach the database (127.0.0.1:{port}/conduit)" in result.stderr
    assert "hunter2" not in result.output


def test_invalid_configuration_is_refused_with_exit_code_2(workdir: Path) -> None:
    result = run("db", "current", env={"CONDUIT_DB_POOL_SIZE": "0"})
    assert result.exit_code == 2
    assert "Invalid configuration" in result.stderr
    assert "db_pool_size" in result.stderr


def test_seed_fills_the_embedded_database_with_the_requested_counts(workdir: Path) -> None:
    database = workdir / "seeded.db"
    counts = {"users": 4, "articles": 6, "tags": 3, "favorites": 5, "follows": 3, "comments": 7}
    options = [item for name, n in counts.items() for item in (f"--{name}", str(n))]
    result = run("seed", *options, env=sqlite_env(database))  # SQLite: migrates first

    assert result.exit_code == 0, result.output
    reported = json.loads(result.stdout)
    assert {name: reported[name] for name in counts} == counts
    assert {name: count(database, name) for name in counts} == counts
    with sqlite3.connect(database) as conn:
        names = sorted(row[0] for row in conn.execute("SELECT username FROM users"))
    assert names == ["user1", "user2", "user3", "user4"]
    # The progress bar goes to stderr, a line per table with its rows written.
    progress = {line.split()[0]: line.split() for line in result.stderr.splitlines() if line}
    for name, n in counts.items():
        assert f"{n}/{n}" in progress[name], result.stderr


def test_seed_run_twice_adds_nothing_and_keeps_users_signed_up_by_hand(workdir: Path) -> None:
    database = workdir / "twice.db"
    env = sqlite_env(database)
    assert run("db", "upgrade", env=env).exit_code == 0
    with sqlite3.connect(database) as conn:
        conn.executemany(
            "INSERT INTO users (username, email, password_hash, created_at, updated_at)"
            " VALUES (?, ?, 'x', '2026-01-01', '2026-01-01')",
            [("alice", "alice@example.com"), ("bob", "bob@example.com")],
        )
    options = ["--users", "3", "--articles", "4", "--comments", "2", "--favorites", "2"]
    first = run("seed", *options, env=env)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["users"] == 3
    second = run("seed", *options, env=env)
    assert second.exit_code == 0, second.output
    assert set(json.loads(second.stdout).values()) == {0}
    with sqlite3.connect(database) as conn:
        rows = sorted(conn.execute("SELECT username, email FROM users").fetchall())
    assert rows == [
        ("alice", "alice@example.com"),
        ("bob", "bob@example.com"),
        *((f"user{n}", f"user{n}@conduit.example") for n in (1, 2, 3)),
    ]
    assert count(database, "articles") == 4


def test_seed_refuses_counts_out_of_range(workdir: Path) -> None:
    database = workdir / "never.db"
    result = run("seed", "--users", "0", env=sqlite_env(database))
    assert result.exit_code == 2
    assert "--users" in result.output
    assert not database.exists()


def test_openapi_writes_the_document_to_a_file(workdir: Path) -> None:
    target = workdir / "openapi.json"
    result = run("openapi", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert f"Wrote {target}" in result.stderr
    spec = json.loads(target.read_text(encoding="utf-8"))
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "RealWorld Conduit API"
    assert {"/api/articles", "/api/users/login", "/api/profiles/{username}"} <= set(spec["paths"])


def test_openapi_without_a_file_prints_the_document(workdir: Path) -> None:
    result = run("openapi")
    assert result.exit_code == 0, result.output
    assert "/api/articles/{slug}/comments" in json.loads(result.stdout)["paths"]


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Records the call of uvicorn (``serving.run``, uvicorn.run's twin) instead of serving."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def fake_run(target: str, **kwargs: Any) -> None:
        calls.append((target, kwargs))

    monkeypatch.setattr(serving, "run", fake_run)
    # conduit serve hands its workers CONDUIT_PUBLIC_URL in the environment: undone after.
    monkeypatch.setenv("CONDUIT_PUBLIC_URL", "http://placeholder.test")
    monkeypatch.delenv("CONDUIT_PUBLIC_URL")
    return calls


def test_serve_migrates_the_embedded_database_then_starts_uvicorn(
    workdir: Path, uvicorn_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    database = workdir / "served.db"
    env = {**sqlite_env(database), "CONDUIT_SECRET_KEY": TEST_SECRET, "CONDUIT_LOG_LEVEL": "INFO"}
    result = run("serve", "--host", "0.0.0.0", "--port", "8123", "--workers", "3", env=env)

    assert result.exit_code == 0, result.output
    # With JSON logs the start line is a JSON log line too (see test_serve_logs.py).
    [started] = [json.loads(line) for line in result.stderr.splitlines() if "serving" in line]
    assert started["event"] == "conduit_serving"
    assert started["api"] == "http://0.0.0.0:8123/api"
    assert tables(database) >= APP_TABLES
    [(target, options)] = uvicorn_calls
    assert target == "conduit.entrypoints.api:create_app"
    assert options["factory"] is True
    assert (options["host"], options["port"], options["workers"]) == ("0.0.0.0", 8123, 3)
    assert options["reload"] is False
    assert options["loop"] == "uvloop"  # several workers: see Settings.event_loop
    # SIGTERM: requests in flight get CONDUIT_SHUTDOWN_TIMEOUT_SECONDS, WebSockets a 1001.
    assert options["timeout_graceful_shutdown"] == 20
    assert options["ws"] is serving.GoingAwayWebSocket
    # uvicorn's loggers go through structlog's formatting (each worker applies the config).
    config = options["log_config"]
    assert set(config["loggers"]) == {"uvicorn", "uvicorn.error", "uvicorn.access"}
    assert config["formatters"]["structlog"]["json"] is True


def test_serve_without_json_logs_says_where_it_listens_in_plain_text(
    workdir: Path, uvicorn_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    env = {**sqlite_env(workdir / "plain.db"), "CONDUIT_LOG_JSON": "false"}
    result = run("serve", "--port", "8124", env=env)
    assert result.exit_code == 0, result.output
    assert "Conduit on http://127.0.0.1:8124/api" in result.stderr
    [(_, options)] = uvicorn_calls
    assert options["log_config"]["formatters"]["structlog"]["json"] is False


def test_serve_runs_one_worker_on_asyncio_and_several_on_uvloop_unless_told(
    workdir: Path, uvicorn_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    env = sqlite_env(workdir / "loop.db")
    assert run("serve", env=env).exit_code == 0
    assert run("serve", "--workers", "2", env=env).exit_code == 0
    assert run("serve", env={**env, "CONDUIT_EVENT_LOOP": "uvloop"}).exit_code == 0
    chosen = {**env, "CONDUIT_EVENT_LOOP": "asyncio"}
    assert run("serve", "--workers", "2", env=chosen).exit_code == 0
    loops = [options["loop"] for _, options in uvicorn_calls]
    assert loops == ["asyncio", "uvloop", "uvloop", "asyncio"]

    result = run("serve", env={**env, "CONDUIT_EVENT_LOOP": "trio"})
    assert result.exit_code == 2
    assert "event_loop" in result.stderr or "EVENT_LOOP" in result.stderr
    assert len(uvicorn_calls) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "--port"),
        (["--port", "65536"], "--port"),
        (["--workers", "0"], "--workers"),
        (["--port", "eighty"], "--port"),
        (["--colour"], "--colour"),
        (["--reload", "--workers", "2"], "--reload and --workers > 1 cannot be combined"),
    ],
)
def test_serve_refuses_bad_options_without_serving(
    workdir: Path,
    uvicorn_calls: list[tuple[str, dict[str, Any]]],
    args: list[str],
    message: str,
) -> None:
    result = run("serve", *args, env=sqlite_env(workdir / "x.db"))
    assert result.exit_code == 2
    assert message in result.output
    assert uvicorn_calls == []


def test_serve_refuses_a_server_database_without_a_secret_key(
    workdir: Path, uvicorn_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    env = {"CONDUIT_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/conduit"}
    result = run("serve", env=env)
    assert result.exit_code == 2
    assert "CONDUIT_SECRET_KEY is not set" in result.stderr
    assert uvicorn_calls == []
