"""``conduit users grant|revoke``: roles from the command line (how the first admin is made)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from conduit.entrypoints.cli.common import ConduitTyper

users_app = ConduitTyper(help="User accounts: grant and revoke roles.")

_USERNAME = typer.Argument(metavar="USERNAME", help="The user's username.")
_ROLE = typer.Argument(metavar="ROLE", help="moderator or admin.")


def _change_role(username: str, role: str, *, grant: bool) -> None:
    from sqlalchemy.exc import DBAPIError, OperationalError

    from conduit.admin import service as admin
    from conduit.core.errors import ConduitError
    from conduit.entrypoints.cli.common import (
        build_container,
        database_error,
        fail,
        load_settings,
    )

    settings = load_settings()
    container = build_container(settings)
    change = admin.grant if grant else admin.revoke

    async def run() -> admin.AccountStatus:
        try:
            return await change(container.db, username=username, role=role, actor=None)
        finally:
            await container.db.dispose()

    try:
        status = asyncio.run(run())
    except ConduitError as exc:
        field, messages = next(iter(exc.errors.items()))
        shown = f"user {username!r}" if field == "user" else f"role {role!r}"
        raise fail(
            f"Cannot {'grant' if grant else 'revoke'} {role!r}: {shown} {messages[0]}."
        ) from None
    except (OperationalError, DBAPIError) as exc:
        raise database_error(settings.effective_database_url, exc) from None
    typer.echo(f"{status.username} now has roles: {', '.join(status.roles)}")


@users_app.command("grant")
def grant(username: Annotated[str, _USERNAME], role: Annotated[str, _ROLE]) -> None:
    """Grant ROLE to USERNAME (granting it again changes nothing)."""
    _change_role(username, role, grant=True)


@users_app.command("revoke")
def revoke(username: Annotated[str, _USERNAME], role: Annotated[str, _ROLE]) -> None:
    """Take ROLE from USERNAME (revoking a role they lack changes nothing)."""
    _change_role(username, role, grant=False)
