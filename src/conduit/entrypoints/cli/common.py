"""What every ``conduit`` sub-command shares: reading the settings, building the container,
and exiting with a clear message (never a traceback) on a configuration or database error."""

from __future__ import annotations

import datetime as dt

import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from conduit import migrations
from conduit.bootstrap import ConfigurationError, Container, build
from conduit.settings import Settings


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


def shown_time(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") + "Z"


def build_container(settings: Settings) -> Container:
    """Migrate (when configured to) and build; configuration and database errors exit."""
    url = settings.effective_database_url
    try:
        if settings.should_auto_migrate:
            migrations.upgrade(url)
        return build(settings)
    except ConfigurationError as exc:
        raise fail(str(exc), 2) from None
    except (OperationalError, DBAPIError, OSError) as exc:
        raise database_error(url, exc) from None
