"""Queries on users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.core.principal import USER
from conduit.core.tables import utcnow
from conduit.users.models import Account, user_roles, users

_ACCOUNT_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.email,
    users.c.bio,
    users.c.image,
    users.c.password_hash,
    users.c.banned_at,
)


def _account(row: Any, granted: frozenset[str] = frozenset()) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        email=row.email,
        bio=row.bio,
        image=row.image,
        password_hash=row.password_hash,
        banned=row.banned_at is not None,
        roles=frozenset({USER}) | granted,
    )


async def granted_roles(conn: AsyncConnection, user_id: int) -> frozenset[str]:
    """The roles granted to the user beyond ``user`` (moderator, admin)."""
    result = await conn.execute(select(user_roles.c.role).where(user_roles.c.user_id == user_id))
    return frozenset(result.scalars())


async def _with_roles(conn: AsyncConnection, row: Any) -> Account | None:
    return None if row is None else _account(row, await granted_roles(conn, row.id))


async def get_by_id(conn: AsyncConnection, user_id: int) -> Account | None:
    row = (await conn.execute(select(*_ACCOUNT_COLUMNS).where(users.c.id == user_id))).first()
    return await _with_roles(conn, row)


async def get_by_email(conn: AsyncConnection, email: str) -> Account | None:
    row = (await conn.execute(select(*_ACCOUNT_COLUMNS).where(users.c.email == email))).first()
    return await _with_roles(conn, row)


async def get_by_username(conn: AsyncConnection, username: str) -> Account | None:
    query = select(*_ACCOUNT_COLUMNS).where(users.c.username == username)
    return await _with_roles(conn, (await conn.execute(query)).first())


async def id_by_username(conn: AsyncConnection, username: str) -> int | None:
    result = await conn.execute(select(users.c.id).where(users.c.username == username))
    return result.scalar_one_or_none()


async def taken_fields(
    conn: AsyncConnection, *, username: str | None, email: str | None, except_id: int | None = None
) -> list[str]:
    """Which of username and email already belong to another user (one statement)."""
    conditions = []
    if username is not None:
        conditions.append(users.c.username == username)
    if email is not None:
        conditions.append(users.c.email == email)
    if not conditions:
        return []
    query = select(users.c.username, users.c.email).where(or_(*conditions))
    if except_id is not None:
        query = query.where(users.c.id != except_id)
    taken: list[str] = []
    for row in await conn.execute(query):
        if username is not None and row.username == username and "username" not in taken:
            taken.append("username")
        if email is not None and row.email == email and "email" not in taken:
            taken.append("email")
    return taken


async def add(conn: AsyncConnection, *, username: str, email: str, password_hash: str) -> int:
    now = utcnow()
    result = await conn.execute(
        insert(users).values(
            username=username,
            email=email,
            password_hash=password_hash,
            created_at=now,
            updated_at=now,
        )
    )
    primary_key = result.inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


async def change(conn: AsyncConnection, user_id: int, values: dict[str, Any]) -> None:
    await conn.execute(
        update(users).where(users.c.id == user_id).values(**values, updated_at=utcnow())
    )
