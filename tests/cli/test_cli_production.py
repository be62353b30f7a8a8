"""The ``conduit`` command under production settings, its help and its version.

Each command checks the settings it uses (CORS only matters to ``serve``), and a
configuration error is a message with exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner, Result

from conduit import migrations
from conduit.entrypoints import serving
from conduit.entrypoints.cli.main import app
from tests.conftest import TEST_SECRET

CORS_MESSAGE = "CONDUIT_CORS_ORIGINS allows any origin"


@pytest.fixture(autouse=True)
def keep_logging_configuration() -> Iterator[None]:
    """Commands configure logging onto CliRunner's stderr, closed after each run: restore it."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A migrated SQLite file, production, a strong key, and no CONDUIT_CORS_ORIGINS."""
    for name in list(os.environ):
        if name.startswith("CONDUIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{(tmp_path / 'conduit.db').as_posix()}"
    migrations.upgrade(url)
    return {
        "CONDUIT_ENVIRONMENT": "production",
        "CONDUIT_DATABASE_URL": url,
        "CONDUIT_SECRET_KEY": TEST_SECRET,
    }


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    quiet = {"CONDUIT_LOG_JSON": "true", "CONDUIT_LOG_LEVEL": "WARNING", **(env or {})}
    return CliRunner().invoke(
        app, list(args), env=quiet, prog_name="conduit", catch_exceptions=False
    )


def test_commands_that_serve_no_http_run_in_production_without_cors_origins(
    production: dict[str, str],
) -> None:
    letters = run("events", "dead-letters", env=production)
    assert letters.exit_code == 0, letters.output
    assert "No dead letters." in letters.stdout

    # The command runs: its only complaint is the unknown user, not CORS.
    granted = run("users", "grant", "nobody", "admin", env=production)
    assert granted.exit_code == 1, granted.output
    assert "user 'nobody'" in granted.stderr
    assert CORS_MESSAGE not in granted.output

    pruned = run("uploads", "prune", env=production)
    assert pruned.exit_code == 0, pruned.output
    assert "Pruned 0 uploads." in pruned.stdout


def test_openapi_in_production_writes_the_same_document(production: dict[str, str]) -> None:
    in_production = run("openapi", env=production)
    assert in_production.exit_code == 0, in_production.output
    in_development = run("openapi")
    assert in_development.exit_code == 0, in_development.output
    assert json.loads(in_production.stdout) == json.loads(in_development.stdout)


def test_serve_still_refuses_production_without_cors_origins(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(serving, "run", lambda *_args, **kwargs: calls.append(kwargs))
    result = run("serve", env=production)
    assert result.exit_code == 2
    assert CORS_MESSAGE in result.stderr
    assert calls == []


@pytest.mark.parametrize(
    "args",
    [
        ["events", "dead-letters"],
        ["users", "grant", "alice", "admin"],
        ["uploads", "prune"],
        ["worker"],
        ["seed", "--users", "1"],
    ],
)
def test_a_configuration_error_is_a_message_and_exit_code_2(
    production: dict[str, str], args: list[str]
) -> None:
    env = {**production, "CONDUIT_BROKER_URL": "kafka://127.0.0.1:9092"}
    result = run(*args, env=env)
    assert result.exit_code == 2, result.output
    assert "CONDUIT_BROKER_URL must start with" in result.stderr
    assert "Traceback" not in result.output


def test_a_configuration_error_raised_inside_a_command_is_caught_by_the_group(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever command raises it (here: the OpenAPI document's app), no traceback."""
    from conduit.bootstrap import ConfigurationError
    from conduit.entrypoints import api

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise ConfigurationError("CONDUIT_SOMETHING is wrong")

    monkeypatch.setattr(api, "create_app", refuse)
    result = run("openapi", env=production)
    assert result.exit_code == 2
    assert "CONDUIT_SOMETHING is wrong" in result.stderr


def test_version_prints_the_package_version() -> None:
    result = run("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"conduit {importlib.metadata.version('conduit')}\n"


HELP_PAGES = [
    [],
    ["serve"],
    ["worker"],
    ["seed"],
    ["openapi"],
    ["db"],
    ["db", "upgrade"],
    ["events"],
    ["events", "dead-letters"],
    ["users"],
    ["users", "grant"],
    ["uploads"],
    ["uploads", "prune"],
    ["graphql", "schema"],
]


def _help(args: list[str], columns: int = 80) -> str:
    result = CliRunner().invoke(
        app, [*args, "--help"], prog_name="conduit", env={"COLUMNS": str(columns)}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("args", HELP_PAGES, ids=lambda args: " ".join(args) or "conduit")
def test_help_shows_no_type_tag_beside_a_flag(args: list[str]) -> None:
    text = _help(args)
    assert "<bool>" not in text
    assert f"Usage: conduit {' '.join(args)}".rstrip() in text


def test_every_seed_option_says_what_it_counts() -> None:
    text = _help(["seed"], columns=200)
    for option in ("users", "articles", "tags", "favorites", "follows", "comments"):
        [line] = [line for line in text.splitlines() if f"--{option} " in line]
        after_default = re.sub(r"\[[^\]]*\]|<[^>]*>|--\S+|│", "", line).strip()
        assert after_default, f"--{option} has no help text: {line!r}"


def test_a_command_list_shows_whole_sentences() -> None:
    """The short help of each command ends its sentence (no docstring line cut in two)."""
    for group in ([], ["db"], ["events"], ["users"], ["uploads"], ["graphql"]):
        text = _help(group, columns=200)
        commands = text.split("Commands")[1]
        for line in commands.splitlines()[1:-1]:
            described = line.strip("│ ").split(maxsplit=1)
            if len(described) == 2:
                assert described[1].rstrip().endswith((".", ")")), line
