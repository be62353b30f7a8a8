"""Queries on profiles and follows."""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    false,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.core.db_errors import insert_ignore
from conduit.core.tables import utcnow
from conduit.profiles.models import Profile, follows
from conduit.users.models import users

# The reader's id in statements built once per shape (signed in): every read binds it so.
VIEWER = bindparam("viewer_id", type_=Integer)


def following_flag(
    viewer_id: int | BindParameter[int] | None, author_id: Any
) -> ColumnElement[bool]:
    """SQL for "does the viewer follow this author" (a constant false when anonymous)."""
    if viewer_id is None:
        return false().label("following")
    return (
        exists()
        .where(and_(follows.c.follower_id == viewer_id, follows.c.followee_id == author_id))
        .label("following")
    )


def profile_from_row(row: Any) -> Profile:
    """The author's profile from a row with ``username``, ``bio``, ``image``, ``following``."""
    return Profile(row.username, row.bio, row.image, bool(row.following))


@functools.cache
def _get_statement(signed_in: bool) -> Select[Any]:
    """Built once per shape, with bound parameters: a request only binds values."""
    return select(
        users.c.id,
        users.c.username,
        users.c.bio,
        users.c.image,
        following_flag(VIEWER if signed_in else None, users.c.id),
    ).where(users.c.username == bindparam("username"))


async def get(
    conn: AsyncConnection, username: str, viewer_id: int | None
) -> tuple[int, Profile] | None:
    """The user id and profile of ``username`` in one statement, or None."""
    params = {"username": username, "viewer_id": viewer_id}
    row = (await conn.execute(_get_statement(viewer_id is not None), params)).first()
    if row is None:
        return None
    return row.id, profile_from_row(row)


async def follow(conn: AsyncConnection, *, follower_id: int, followee_id: int) -> bool:
    """Add the follow; True when it was not there yet."""
    return await insert_ignore(
        conn,
        follows,
        {"follower_id": follower_id, "followee_id": followee_id, "created_at": utcnow()},
    )


async def unfollow(conn: AsyncConnection, *, follower_id: int, followee_id: int) -> bool:
    """Remove the follow; True when there was one."""
    result = await conn.execute(
        delete(follows).where(
            follows.c.follower_id == follower_id, follows.c.followee_id == followee_id
        )
    )
    return bool(result.rowcount)


async def followers_among(
    conn: AsyncConnection, followee_id: int, candidates: Collection[int]
) -> set[int]:
    """Which of ``candidates`` follow ``followee_id``, in one statement."""
    if not candidates:
        return set()
    query = select(follows.c.follower_id).where(
        follows.c.followee_id == followee_id, follows.c.follower_id.in_(list(candidates))
    )
    return {int(row) for row in (await conn.execute(query)).scalars()}
