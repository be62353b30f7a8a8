"""``conduit uploads prune``: delete the uploads nothing refers to (the worker does it too)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import typer

from conduit.entrypoints.cli.common import ConduitTyper

uploads_app = ConduitTyper(help="Uploaded images: prune the unreferenced.")


@uploads_app.command("prune")
def prune(
    older_than_hours: Annotated[
        float,
        typer.Option(min=0, help="Only uploads older than this many hours."),
    ] = 24.0,
) -> None:
    """Delete the uploads nothing refers to.

    An upload older than --older-than-hours that no user has as avatar and no article body
    links to is deleted with its stored object (the worker does the same every hour).
    """
    from sqlalchemy.exc import DBAPIError, OperationalError

    from conduit.entrypoints.cli.common import (
        build_container,
        database_error,
        load_settings,
    )
    from conduit.uploads import service

    settings = load_settings()
    container = build_container(settings)

    async def run() -> int:
        try:
            return await service.prune(
                container.db,
                container.storage,
                older_than=dt.timedelta(hours=older_than_hours),
            )
        finally:
            await container.storage.close()
            await container.db.dispose()

    try:
        pruned = asyncio.run(run())
    except (OperationalError, DBAPIError) as exc:
        raise database_error(settings.effective_database_url, exc) from None
    typer.echo(f"Pruned {pruned} upload{'' if pruned == 1 else 's'}.")
