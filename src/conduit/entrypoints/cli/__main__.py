"""`python -m conduit.entrypoints.cli`: the `conduit` command."""

from conduit.entrypoints.cli.main import app

app()
