"""``conduit events``: the event catalogue, the relay on its own (one pass for a schedule),
and, from the worker's side, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from conduit.core.events import Event
from conduit.entrypoints.cli.common import (
    ConduitTyper,
    build_container,
    database_error,
    fail,
    load_settings,
    shown_time,
)

if TYPE_CHECKING:
    from conduit.bootstrap import Container
    from conduit.bootstrap.relay_pass import RelayPass
    from conduit.core.dead_letters import DeadLetter

events_app = ConduitTyper(help="Domain events: catalogue, relay, dead letters.")


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


@events_app.command("relay")
def events_relay(
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="One pass, then exit (for a schedule: cron, a serverless function)."
        ),
    ] = False,
) -> None:
    """Publish the events waiting in the outbox; with the embedded bus (no
    CONDUIT_BROKER_URL) every consumer applies them here.

    `--once`: publish every waiting event, delete what is past the retention, print what it
    did as JSON and exit (0; 1 if the database or the broker failed, the events then wait
    for the next pass). Without it: relay until SIGTERM or Ctrl-C, for when neither
    `conduit serve` nor `conduit worker` runs the relay.
    """
    from conduit.bootstrap.relay_pass import relay_once

    settings = load_settings()
    container = build_container(settings)

    async def one_pass() -> RelayPass:
        try:
            return await relay_once(container)
        finally:
            await container.db.dispose()

    try:
        if not once:
            asyncio.run(_relay_until_signalled(container))
            return
        done = asyncio.run(one_pass())
    except (OperationalError, DBAPIError) as exc:
        raise database_error(settings.effective_database_url, exc) from None
    except Exception as exc:  # the broker's client: its own error types, no traceback here
        raise fail(f"The relay failed ({type(exc).__name__}): {exc}") from None
    typer.echo(json.dumps(dataclasses.asdict(done)))


async def _relay_until_signalled(container: Container) -> None:
    import signal

    from conduit.bootstrap.lifecycle import run_worker

    consumers = None if container.embedded_bus else ()
    loop = asyncio.get_running_loop()
    relaying = asyncio.create_task(run_worker(container, consumers), name="relay")
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, relaying.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await relaying
    finally:
        await container.db.dispose()


@events_app.command("dead-letters")
def events_dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first.")] = 100,
) -> None:
    """List the events consumers gave up on (newest first)."""
    from conduit.core.dead_letters import list_dead_letters

    settings = load_settings()
    container = build_container(settings)

    async def run() -> list[DeadLetter]:
        try:
            return await list_dead_letters(container.db, limit=limit)
        finally:
            await container.db.dispose()

    try:
        letters = asyncio.run(run())
    except (OperationalError, DBAPIError) as exc:
        raise database_error(settings.effective_database_url, exc) from None
    if not letters:
        typer.echo("No dead letters.")
        return
    typer.echo("id\tconsumer\tevent_id\ttype\tattempts\tfailed_at\treplayed_at\terror")
    for letter in letters:
        replayed = shown_time(letter.replayed_at) if letter.replayed_at else "-"
        error = " ".join(letter.error.split())[:200]
        typer.echo(
            f"{letter.id}\t{letter.consumer}\t{letter.event_id}\t{letter.type}\t"
            f"{letter.attempts}\t{shown_time(letter.failed_at)}\t{replayed}\t{error}"
        )


@events_app.command("replay")
def events_replay(
    dead_letter_id: Annotated[int, typer.Argument(metavar="ID", help="A dead letter's id.")],
) -> None:
    """Queue a dead-lettered event again for the consumer that gave up on it (audited)."""
    from conduit.admin.operations import replay_dead_letter
    from conduit.core.errors import ConduitError

    settings = load_settings()
    container = build_container(settings)
    names = [consumer.name for consumer in container.consumers]

    async def run() -> Event:
        try:
            return await replay_dead_letter(
                container.db, actor=None, dead_letter_id=dead_letter_id, consumer_names=names
            )
        finally:
            await container.db.dispose()

    try:
        event = asyncio.run(run())
    except ConduitError as exc:
        raise fail(str(exc)) from None
    except (OperationalError, DBAPIError) as exc:
        raise database_error(settings.effective_database_url, exc) from None
    typer.echo(f"Replaying dead letter {dead_letter_id}: {event.type} {event.id}")
