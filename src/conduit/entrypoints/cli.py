"""The ``conduit`` command: serve, worker, db upgrade|downgrade|current, events, users,
uploads, seed, openapi, graphql schema."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from conduit import migrations
from conduit.bootstrap import ConfigurationError, Container, build
from conduit.core.events import Event
from conduit.entrypoints.events_cli import events_app
from conduit.entrypoints.uploads_cli import uploads_app
from conduit.entrypoints.users_cli import users_app
from conduit.settings import Settings

if TYPE_CHECKING:
    from conduit.core.dead_letters import DeadLetter

app = typer.Typer(help="Conduit: a RealWorld backend.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(events_app, name="events")
app.add_typer(users_app, name="users")
app.add_typer(uploads_app, name="uploads")
graphql_app = typer.Typer(help="The GraphQL API at /graphql.", no_args_is_help=True)
app.add_typer(graphql_app, name="graphql")


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the variable
        typer.secho(f"Invalid configuration: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _database_error(url: str, exc: Exception) -> typer.Exit:
    shown = url.split("@")[-1] if "@" in url else url
    return _fail(f"Cannot reach the database ({shown}): {getattr(exc, 'orig', exc)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API (uvicorn with httptools, on the CONDUIT_EVENT_LOOP event loop)."""
    import uvicorn

    settings = _settings()
    if reload and workers > 1:
        raise _fail("--reload and --workers > 1 cannot be combined.", 2)
    try:
        from conduit.bootstrap import check_settings

        check_settings(settings)
    except ConfigurationError as exc:
        raise _fail(str(exc), 2) from None
    url = settings.effective_database_url
    if settings.should_auto_migrate:
        # Migrate once here, before any worker starts, so workers never race on it.
        try:
            migrations.upgrade(url)
        except (OperationalError, DBAPIError, OSError) as exc:
            raise _database_error(url, exc) from None
    typer.echo(f"Conduit on http://{host}:{port}/api  (docs: http://{host}:{port}/docs)", err=True)
    uvicorn.run(
        "conduit.entrypoints.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        loop=settings.loop_for(workers),
        http="httptools",
        access_log=False,
        # The client address is Conduit's to settle (CONDUIT_TRUSTED_PROXIES, see
        # entrypoints/client_address.py): uvicorn must not rewrite it from X-Forwarded-For.
        proxy_headers=False,
        server_header=False,  # no "server: uvicorn" on every answer
        ws_max_size=65_536,  # a bigger WebSocket frame is closed with 1009
        log_level=settings.log_level.lower(),
    )


def _moment(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") + "Z"


def _container(settings: Settings) -> Container:
    """Migrate (when configured to) and build; configuration and database errors exit."""
    url = settings.effective_database_url
    try:
        if settings.should_auto_migrate:
            migrations.upgrade(url)
        return build(settings)
    except ConfigurationError as exc:
        raise _fail(str(exc), 2) from None
    except (OperationalError, DBAPIError, OSError) as exc:
        raise _database_error(url, exc) from None


@app.command()
def worker() -> None:
    """Relay the outbox to the broker and run every consumer, until SIGTERM or Ctrl-C."""
    from conduit.entrypoints.worker import serve_worker_until_signalled

    settings = _settings()
    container = _container(settings)
    bus = settings.broker_url or "embedded (in this process)"
    shown = bus.split("@")[-1] if "@" in bus else bus
    typer.echo(f"Conduit worker: events via {shown}", err=True)
    asyncio.run(serve_worker_until_signalled(container))


@events_app.command("dead-letters")
def events_dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first.")] = 100,
) -> None:
    """List the events consumers gave up on (newest first)."""
    from conduit.core.dead_letters import list_dead_letters

    settings = _settings()
    container = _container(settings)

    async def run() -> list[DeadLetter]:
        try:
            return await list_dead_letters(container.db, limit=limit)
        finally:
            await container.db.dispose()

    try:
        letters = asyncio.run(run())
    except (OperationalError, DBAPIError) as exc:
        raise _database_error(settings.effective_database_url, exc) from None
    if not letters:
        typer.echo("No dead letters.")
        return
    typer.echo("id\tconsumer\tevent_id\ttype\tattempts\tfailed_at\treplayed_at\terror")
    for letter in letters:
        replayed = _moment(letter.replayed_at) if letter.replayed_at else "-"
        error = " ".join(letter.error.split())[:200]
        typer.echo(
            f"{letter.id}\t{letter.consumer}\t{letter.event_id}\t{letter.type}\t"
            f"{letter.attempts}\t{_moment(letter.failed_at)}\t{replayed}\t{error}"
        )


@events_app.command("replay")
def events_replay(
    dead_letter_id: Annotated[int, typer.Argument(metavar="ID", help="A dead letter's id.")],
) -> None:
    """Queue a dead-lettered event again for the consumer that gave up on it."""
    from conduit.core.dead_letters import replay
    from conduit.core.errors import ConduitError

    settings = _settings()
    container = _container(settings)
    names = [consumer.name for consumer in container.consumers]

    async def run() -> Event:
        try:
            return await replay(container.db, dead_letter_id, consumers=names)
        finally:
            await container.db.dispose()

    try:
        event = asyncio.run(run())
    except ConduitError as exc:
        raise _fail(str(exc)) from None
    except (OperationalError, DBAPIError) as exc:
        raise _database_error(settings.effective_database_url, exc) from None
    typer.echo(f"Replaying dead letter {dead_letter_id}: {event.type} {event.id}")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    url = _settings().effective_database_url
    try:
        migrations.upgrade(url, revision)
    except (OperationalError, DBAPIError, OSError) as exc:
        raise _database_error(url, exc) from None
    typer.echo(f"Database at {revision}.")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "-1") -> None:
    """Migrate the database down to REVISION (default: one step)."""
    url = _settings().effective_database_url
    try:
        migrations.downgrade(url, revision)
    except (OperationalError, DBAPIError, OSError) as exc:
        raise _database_error(url, exc) from None
    typer.echo(f"Database at {revision}.")


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    url = _settings().effective_database_url
    try:
        typer.echo(migrations.current(url) or "(empty database)")
    except (OperationalError, DBAPIError, OSError) as exc:
        raise _database_error(url, exc) from None


@app.command()
def seed(
    users: Annotated[int, typer.Option(min=1, max=1_000_000)] = 50,
    articles: Annotated[int, typer.Option(min=0, max=10_000_000)] = 200,
    tags: Annotated[int, typer.Option(min=0, max=100_000)] = 20,
    favorites: Annotated[int, typer.Option(min=0, max=100_000_000)] = 500,
    follows: Annotated[int, typer.Option(min=0, max=100_000_000)] = 200,
    comments: Annotated[int, typer.Option(min=0, max=100_000_000)] = 400,
    password: Annotated[str, typer.Option(help="Password of every demo user.")] = "password123",  # noqa: S107
    random_seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 42,
) -> None:
    """Fill the database with realistic demo data (users user1..userN)."""
    from conduit.bootstrap import build
    from conduit.entrypoints.seed import SeedPlan, seed_database
    from conduit.entrypoints.seed_progress import seed_progress

    settings = _settings()
    url = settings.effective_database_url
    plan = SeedPlan(
        users=users,
        articles=articles,
        tags=tags,
        favorites=favorites,
        follows=follows,
        comments=comments,
        password=password,
        random_seed=random_seed,
    )
    try:
        if settings.should_auto_migrate:
            migrations.upgrade(url)
        container = build(settings)
    except ConfigurationError as exc:
        raise _fail(str(exc), 2) from None
    except (OperationalError, DBAPIError, OSError) as exc:
        raise _database_error(url, exc) from None

    async def run() -> dict[str, int]:
        try:
            with seed_progress() as progress:
                return await seed_database(container.db, plan, progress)
        finally:
            await container.db.dispose()

    try:
        counts = asyncio.run(run())
    except (OperationalError, DBAPIError) as exc:
        raise _database_error(url, exc) from None
    typer.echo(json.dumps(counts))


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; stdout if unset.")
    ] = None,
) -> None:
    """Write the OpenAPI document generated from the code."""
    from conduit.entrypoints.api import create_app

    # The document needs no database and no real key: an in-memory SQLite URL and a
    # throw-away key that passes the strength check (nothing is ever signed with it).
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:", secret_key=secrets.token_urlsafe(48)
    )
    spec = create_app(settings).openapi()
    text = json.dumps(spec, indent=2, sort_keys=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {output}", err=True)


@graphql_app.command("schema")
def graphql_schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; stdout if unset.")
    ] = None,
) -> None:
    """Write the GraphQL schema (SDL) generated from the code (committed as schema.graphql)."""
    from conduit.graphql.schema import schema_sdl

    text = schema_sdl()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {output}", err=True)


if __name__ == "__main__":  # pragma: no cover
    app()
