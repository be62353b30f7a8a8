"""``conduit events``: the event catalogue (and, from the worker's side, dead letters)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

events_app = typer.Typer(help="Domain events: catalogue, dead letters.", no_args_is_help=True)


@events_app.command("catalogue")
def catalogue(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; stdout if unset.")
    ] = None,
    broker_url: Annotated[
        str | None,
        typer.Option(help="Broker to list under `servers` (amqp:// or nats://; no secrets)."),
    ] = None,
) -> None:
    """Write the AsyncAPI document of every event type (what `make asyncapi` commits)."""
    from conduit.entrypoints.asyncapi import asyncapi_document, render

    text = render(asyncapi_document(broker_url=broker_url))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {output}", err=True)
