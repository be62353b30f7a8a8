"""The committed schema.graphql is the schema the code serves (``make graphql-schema``)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from conduit.entrypoints.cli.main import app
from conduit.graphql.schema import schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == schema_sdl(), (
        "schema.graphql is out of date: run `make graphql-schema` and commit it"
    )


def test_the_cli_writes_the_schema(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    result = CliRunner().invoke(app, ["graphql", "schema", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == schema_sdl()
    printed = CliRunner().invoke(app, ["graphql", "schema"])
    assert printed.stdout == schema_sdl()
