"""What every ``conduit`` sub-command shares: reading the settings, building the container,
and exiting with a clear message (never a traceback) on a configuration or database error."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
import typer
from sqlalchemy.exc import DBAPIError, OperationalError
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandFunctionType

from conduit import migrations
from conduit.bootstrap import ConfigurationError, Container, build
from conduit.core.logging import configure_logging, wants_json
from conduit.settings import Settings

if TYPE_CHECKING:
    from conduit.observability.tracing.provider import Tracing


def load_settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the variable
        typer.secho(f"Invalid configuration: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def database_error(url: str, exc: Exception) -> typer.Exit:
    shown = url.split("@")[-1] if "@" in url else url
    return fail(f"Cannot reach the database ({shown}): {getattr(exc, 'orig', exc)}")


def announce(settings: Settings, text: str, event: str, **fields: Any) -> None:
    """A process's start line: plain text on a terminal, one JSON log line with JSON logs
    (where every line on the stream is one JSON object)."""
    if not wants_json(settings.log_json):
        typer.echo(text, err=True)
        return
    configure_logging(level=settings.log_level, json=True)
    structlog.get_logger("conduit").info(event, **fields)


def shown_time(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") + "Z"


def _untyped_flags(params: list[Any]) -> list[Any]:
    """Flags take no value: no ``<bool>`` beside them in the help (an empty metavar)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class ConduitCommand(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:  # typer's own click types
        return _untyped_flags(super().get_params(ctx))


class ConduitGroup(TyperGroup):
    """A ``conduit`` group: a configuration error in any sub-command is a message on stderr
    and exit code 2, never a traceback."""

    def get_params(self, ctx: Any) -> list[Any]:  # typer's own click types
        return _untyped_flags(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            raise fail(str(exc), 2) from None


class ConduitTyper(typer.Typer):
    """``typer.Typer`` whose groups and commands are Conduit's (see ConduitGroup)."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("cls", ConduitGroup)
        options.setdefault("no_args_is_help", True)
        options.setdefault("rich_markup_mode", "markdown")  # a docstring's lines joined
        super().__init__(**options)

    def command(
        self, name: str | None = None, **options: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        options.setdefault("cls", ConduitCommand)
        return super().command(name, **options)


def build_container(settings: Settings, *, tracing: Tracing | None = None) -> Container:
    """Migrate (when configured to) and build; configuration and database errors exit.

    A command serves no HTTP: what only ``conduit serve`` needs (CORS) is not checked.
    """
    url = settings.effective_database_url
    try:
        if settings.should_auto_migrate:
            migrations.upgrade(url)
        return build(settings, serving=False, tracing=tracing)
    except ConfigurationError as exc:
        raise fail(str(exc), 2) from None
    except (OperationalError, DBAPIError, OSError) as exc:
        raise database_error(url, exc) from None


def check_connection_budget(
    settings: Settings, *, serve_processes: int, worker: bool, starting: int
) -> None:
    """The start-up connection budget check (``bootstrap/connection_budget.py``): one log
    line with the numbers; exit 2 when they do not fit (CONDUIT_DB_BUDGET_CHECK=refuse).

    A database that cannot be reached is not this check's to refuse: it is logged and the
    start goes on (the health checks say the rest).
    """
    from conduit.bootstrap.connection_budget import (
        is_postgresql,
        judge,
        plan_for,
        skipped_because,
    )
    from conduit.bootstrap.connection_limits import read_limits

    configure_logging(level=settings.log_level, json=settings.log_json)
    log = structlog.get_logger("conduit")
    reason = skipped_because(settings)
    if reason is not None:
        quiet = settings.is_sqlite  # nothing to say about a file
        (log.debug if quiet else log.info)("db_connection_budget", verdict="skipped", reason=reason)
        return
    plan = plan_for(settings, serve_processes=serve_processes, worker=worker, starting=starting)
    url = settings.effective_database_url
    try:
        limits = asyncio.run(read_limits(url))
    except Exception as exc:  # limits it cannot read are no reason to stop
        log.warning(
            "db_connection_budget",
            verdict="unchecked",
            need=plan.need,
            reason=f"cannot reach the database: {getattr(exc, 'orig', exc) or type(exc).__name__}",
        )
        return
    postgresql = is_postgresql(settings)
    verdict = judge(plan, limits, settings.db_budget_check, postgresql=postgresql)
    emit = {"ok": log.info, "warn": log.warning, "refuse": log.error}[verdict.level]
    emit("db_connection_budget", message=verdict.message, **verdict.fields())
    if verdict.level == "refuse":
        raise typer.Exit(2)
