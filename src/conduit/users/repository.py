"""Queries on users."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.core.pagination import Page
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


# The LIKE escape character (not a backslash: MySQL string literals treat it specially).
_ESCAPE = "!"


def _prefix_pattern(prefix: str) -> str:
    """A LIKE pattern for text starting with ``prefix`` (its wildcards taken literally)."""
    escaped = prefix.replace(_ESCAPE, _ESCAPE * 2).replace("%", "!%").replace("_", "!_")
    return f"{escaped}%"


async def search_page(conn: AsyncConnection, prefix: str, page: Page) -> tuple[list[Account], int]:
    """Accounts whose username or email starts with ``prefix`` (any case; all for ""), by
    username, with their roles and the number of matches (three statements)."""
    query = select(*_ACCOUNT_COLUMNS)
    count = select(func.count()).select_from(users)
    if prefix:
        pattern = _prefix_pattern(prefix)
        matches = or_(
            users.c.username.ilike(pattern, escape=_ESCAPE),
            users.c.email.ilike(pattern, escape=_ESCAPE),
        )
        query, count = query.where(matches), count.where(matches)
    rows = list(
        await conn.execute(query.order_by(users.c.username).limit(page.limit).offset(page.offset))
    )
    granted: defaultdict[int, set[str]] = defaultdict(set)
    if rows:
        found = await conn.execute(
            select(user_roles.c.user_id, user_roles.c.role).where(
                user_roles.c.user_id.in_([row.id for row in rows])
            )
        )
        for user_id, role in found:
            granted[user_id].add(role)
    total = (await conn.execute(count)).scalar_one()
    return [_account(row, frozenset(granted[row.id])) for row in rows], int(total)


async def usernames(conn: AsyncConnection, user_ids: Collection[int]) -> dict[int, str]:
    """The usernames of these users (ids of deleted users left out)."""
    if not user_ids:
        return {}
    found = await conn.execute(
        select(users.c.id, users.c.username).where(users.c.id.in_(list(user_ids)))
    )
    return {user_id: username for user_id, username in found}


async def counts(conn: AsyncConnection) -> tuple[int, int]:
    """How many accounts there are, and how many of them are banned (one statement)."""
    row = (
        await conn.execute(select(func.count(), func.count(users.c.banned_at)).select_from(users))
    ).one()
    return int(row[0]), int(row[1])
