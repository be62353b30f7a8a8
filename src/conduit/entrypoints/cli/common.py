"""What every ``conduit`` sub-command shares: reading the settings, building the container,
and exiting with a clear message (never a traceback) on a configuration or database error."""

from __future__ import annotations

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
