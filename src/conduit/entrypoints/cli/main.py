"""The ``conduit`` command: serve, worker, db upgrade|downgrade|current, events, users,
uploads, seed, openapi, graphql schema."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy.exc import DBAPIError, OperationalError

from conduit import __version__, migrations
from conduit.bootstrap import ConfigurationError
from conduit.core.logging import uvicorn_log_config
from conduit.entrypoints.cli.common import (
    ConduitTyper,
    announce,
    build_container,
    check_connection_budget,
    database_error,
    fail,
    load_settings,
)
from conduit.entrypoints.cli.events import events_app
from conduit.entrypoints.cli.uploads import uploads_app
from conduit.entrypoints.cli.users import users_app
from conduit.observability.metrics.server import shared_values, start_metrics_port
from conduit.settings import Settings

app = ConduitTyper(help="Conduit: a RealWorld backend.")
db_app = ConduitTyper(help="Database schema migrations.")
app.add_typer(db_app, name="db")
app.add_typer(events_app, name="events")
app.add_typer(users_app, name="users")
app.add_typer(uploads_app, name="uploads")
graphql_app = ConduitTyper(help="The GraphQL API at /graphql.")
app.add_typer(graphql_app, name="graphql")
MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve the Prometheus metrics on this port (default: CONDUIT_METRICS_PORT).",
        show_default=False,
    ),
]


def _print_version(shown: bool) -> None:
    if shown:
        typer.echo(f"conduit {__version__}")
        raise typer.Exit


@app.callback()
def main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print Conduit's version and exit.",
        ),
    ] = False,
) -> None:
    """Conduit: a RealWorld backend."""


def local_url(host: str, port: int) -> str:
    """The base URL a browser on this machine reaches ``conduit serve --host --port`` at."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (every interface: this machine's too)
        host = "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a name
    return f"http://{host}:{port}"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    reload: Annotated[
        bool, typer.Option("--reload", help="Restart on code changes (development).")
    ] = False,
    metrics_port_option: MetricsPort = None,
) -> None:
    """Serve the API (uvicorn with httptools, on the CONDUIT_EVENT_LOOP event loop) until
    SIGTERM or Ctrl-C, then stop gracefully within CONDUIT_SHUTDOWN_TIMEOUT_SECONDS."""
    if metrics_port_option is not None:  # the workers read their settings from the environment
        os.environ["CONDUIT_METRICS_PORT"] = str(metrics_port_option)
    settings = load_settings()
    if reload and workers > 1:
        raise fail("--reload and --workers > 1 cannot be combined.", 2)
    try:
        from conduit.bootstrap import check_settings

        check_settings(settings)
    except ConfigurationError as exc:
        raise fail(str(exc), 2) from None
    if settings.public_url is None and settings.environment != "production":
        # The workers' settings come from the environment: the URL this server answers at
        # (OpenID Connect redirect URIs), unless CONDUIT_PUBLIC_URL says otherwise.
        os.environ["CONDUIT_PUBLIC_URL"] = local_url(host, port)
    url = settings.effective_database_url
    if settings.should_auto_migrate:
        # Migrate once here, before any worker starts, so workers never race on it.
        try:
            migrations.upgrade(url)
        except (OperationalError, DBAPIError, OSError) as exc:
            raise database_error(url, exc) from None
    # Before any worker starts: does every process's pool fit in the server's connections?
    check_connection_budget(
        settings,
        serve_processes=1 if reload else workers,
        worker=settings.broker_url is not None,
        starting=1 if reload else workers,
    )
    api, docs = f"http://{host}:{port}/api", f"http://{host}:{port}/docs"
    announce(settings, f"Conduit on {api}  (docs: {docs})", "conduit_serving", api=api, docs=docs)
    with contextlib.ExitStack() as running:
        if settings.metrics_enabled:  # each worker's values, added up at scrape time
            running.enter_context(shared_values(workers))
        running.enter_context(serve_metrics(settings, settings.metrics_port))
        _run_server(settings, host, port, workers, reload)


def _run_server(settings: Settings, host: str, port: int, workers: int, reload: bool) -> None:
    from conduit.entrypoints import serving

    serving.run(
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
        # http/client_address.py): uvicorn must not rewrite it from X-Forwarded-For.
        proxy_headers=False,
        server_header=False,  # no "server: uvicorn" on every answer
        ws_max_size=65_536,  # a bigger WebSocket frame is closed with 1009
        log_level=settings.log_level.lower(),
        # uvicorn's own lines formatted as Conduit's: one JSON object each with JSON logs.
        log_config=uvicorn_log_config(level=settings.log_level, json=settings.log_json),
        # On SIGTERM: requests in flight finish, WebSockets close with 1001 (serving.py).
        **serving.options(settings.shutdown_timeout_seconds),
    )


@contextlib.contextmanager
def serve_metrics(settings: Settings, port: int | None) -> Iterator[None]:
    """The metrics port (CONDUIT_METRICS_PORT) while the block runs; exit 2 if it is taken."""
    try:
        server = start_metrics_port(settings, port)
    except OSError as exc:
        raise fail(f"Cannot serve the metrics on port {port}: {exc}", 2) from None
    try:
        yield
    finally:
        if server is not None:
            server.close()


@app.command()
def worker(metrics_port_option: MetricsPort = None) -> None:
    """Relay the outbox to the broker and run every consumer, until SIGTERM or Ctrl-C."""
    from conduit.entrypoints.worker import serve_worker_until_signalled
    from conduit.observability.tracing.environment import start_tracing

    settings = load_settings()
    if metrics_port_option is not None:
        settings = settings.model_copy(update={"metrics_port": metrics_port_option})
    # Traced when the OTEL_* variables say so (service "conduit-worker").
    container = build_container(settings, tracing=start_tracing("conduit-worker"))
    # The worker cannot know serve's --workers: it counts the smallest fleet (one serve
    # process and itself per instance), and warns when its pool does not fit in what is free.
    check_connection_budget(settings, serve_processes=1, worker=True, starting=1)
    bus = settings.broker_url or "embedded (in this process)"
    shown = bus.split("@")[-1] if "@" in bus else bus
    announce(settings, f"Conduit worker: events via {shown}", "conduit_worker", events=shown)
    with serve_metrics(settings, settings.metrics_port):
        asyncio.run(serve_worker_until_signalled(container))


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(metavar="REVISION", help="Target revision.")] = "head",
) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    url = load_settings().effective_database_url
    try:
        migrations.upgrade(url, revision)
    except (OperationalError, DBAPIError, OSError) as exc:
        raise database_error(url, exc) from None
    typer.echo(f"Database at {revision}.")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(metavar="REVISION", help="Target revision.")] = "-1",
) -> None:
    """Migrate the database down to REVISION (default: one step)."""
    url = load_settings().effective_database_url
    try:
        migrations.downgrade(url, revision)
    except (OperationalError, DBAPIError, OSError) as exc:
        raise database_error(url, exc) from None
    typer.echo(f"Database at {revision}.")


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    url = load_settings().effective_database_url
    try:
        typer.echo(migrations.current(url) or "(empty database)")
    except (OperationalError, DBAPIError, OSError) as exc:
        raise database_error(url, exc) from None


@app.command()
def seed(
    users: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Demo users: user1..userN.")
    ] = 50,
    articles: Annotated[
        int, typer.Option(min=0, max=10_000_000, help="Articles to add, by random demo users.")
    ] = 200,
    tags: Annotated[int, typer.Option(min=0, max=100_000, help="Tags to use.")] = 20,
    favorites: Annotated[
        int, typer.Option(min=0, max=100_000_000, help="Favorites to add (user, article).")
    ] = 500,
    follows: Annotated[
        int, typer.Option(min=0, max=100_000_000, help="Follows between demo users to add.")
    ] = 200,
    comments: Annotated[int, typer.Option(min=0, max=100_000_000, help="Comments to add.")] = 400,
    password: Annotated[str, typer.Option(help="Password of every demo user.")] = "password123",  # noqa: S107
    random_seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 42,
) -> None:
    """Fill the database with demo data: users user1..userN, articles, tags, comments.

    The users are user1..userN (emails userN@conduit.example, one password), whatever other
    users exist; one that exists already is kept as it is. Running it again with the same
    options adds nothing; another --random-seed adds other articles by the same users.
    """
    from conduit.entrypoints.cli.seed import SeedPlan, seed_database
    from conduit.entrypoints.cli.seed_progress import seed_progress

    settings = load_settings()
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
    container = build_container(settings)

    async def run() -> dict[str, int]:
        try:
            with seed_progress() as progress:
                return await seed_database(container.db, plan, progress)
        finally:
            await container.db.dispose()

    try:
        counts = asyncio.run(run())
    except (OperationalError, DBAPIError) as exc:
        raise database_error(url, exc) from None
    typer.echo(json.dumps(counts))


class CodeOnlySettings(Settings):
    """Settings from the arguments given and the defaults only (no environment, no .env)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def openapi_text() -> str:
    """The OpenAPI document as ``conduit openapi`` writes it (and openapi.json holds it)."""
    from conduit.entrypoints.api import create_app

    # The document is the code's, whatever the environment says (production included): it
    # needs no database and no real key: an in-memory SQLite URL and a throw-away key that
    # passes the strength check (nothing is ever signed with it).
    settings = CodeOnlySettings(
        database_url="sqlite+aiosqlite:///:memory:", secret_key=secrets.token_urlsafe(48)
    )
    spec = create_app(settings).openapi()
    return json.dumps(spec, indent=2, sort_keys=False) + "\n"


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; stdout if unset.")
    ] = None,
) -> None:
    """Write the OpenAPI document generated from the code (committed as openapi.json)."""
    text = openapi_text()
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
