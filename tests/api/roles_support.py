"""Helpers of the roles, moderation and admin tests."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from conduit.admin import service as admin
from conduit.core.audit import audit_log
from conduit.core.db import Database
from tests.helpers import auth, register


async def make_admin(client: httpx.AsyncClient, db: Database, name: str = "root") -> str:
    """Register ``name`` and make them an admin as the command line does; their token."""
    token = await register(client, name)
    await admin.grant(db, username=name, role="admin", actor=None)
    return token


async def set_account(
    client: httpx.AsyncClient, token: str | None, username: str, **changes: Any
) -> httpx.Response:
    headers = auth(token) if token else {}
    return await client.put(f"/admin/users/{username}", json={"user": changes}, headers=headers)


async def audit_rows(db: Database, kind: str | None = None) -> list[Any]:
    query = select(audit_log).order_by(audit_log.c.id)
    if kind is not None:
        query = query.where(audit_log.c.type == kind)
    async with db.reader() as uow:
        return list(await uow.conn.execute(query))
