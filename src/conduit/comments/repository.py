"""Queries on comments."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.articles.models import articles
from conduit.comments.models import Comment, comments
from conduit.core.tables import utcnow
from conduit.profiles.models import Profile
from conduit.profiles.repository import VIEWER, following_flag
from conduit.users.models import users


def _comment(row: Any) -> Comment:
    # By position, in the order of _columns (cheaper than a lookup per name, per comment).
    comment_id, body, created_at, updated_at, username, bio, image, following, *_ = row
    return Comment(
        id=comment_id,
        body=body,
        created_at=created_at,
        updated_at=updated_at,
        author=Profile(username, bio, image, bool(following)),
    )


def _columns(viewer_id: int | BindParameter[int] | None) -> list[Any]:
    """A comment with its author, in the order _comment unpacks them."""
    return [
        comments.c.id,
        comments.c.body,
        comments.c.created_at,
        comments.c.updated_at,
        users.c.username,
        users.c.bio,
        users.c.image,
        following_flag(viewer_id, comments.c.author_id),
    ]


def _select(viewer_id: int | None) -> Any:
    return select(*_columns(viewer_id)).select_from(
        comments.join(users, users.c.id == comments.c.author_id)
    )


@functools.cache
def _of_article(signed_in: bool) -> Select[Any]:
    """The article ``slug`` left-joined to its comments (built once per shape, with bound
    parameters): no row, no article; a row with no comment id, an article without any."""
    source = articles.outerjoin(comments, comments.c.article_id == articles.c.id).outerjoin(
        users, users.c.id == comments.c.author_id
    )
    return (
        select(*_columns(VIEWER if signed_in else None))
        .select_from(source)
        .where(articles.c.slug == bindparam("slug"))
        .order_by(comments.c.id)
    )


async def for_article(
    conn: AsyncConnection, slug: str, viewer_id: int | None
) -> list[Comment] | None:
    """Every comment of the article ``slug`` with its author, oldest first, in one
    statement; None when there is no such article."""
    statement = _of_article(viewer_id is not None)
    rows = (await conn.execute(statement, {"slug": slug, "viewer_id": viewer_id})).all()
    if not rows:
        return None
    return [_comment(row) for row in rows if row[0] is not None]  # no comment id: none


async def latest_for_articles(
    conn: AsyncConnection, article_ids: list[int], limit: int | None, viewer_id: int | None
) -> dict[int, list[Comment]]:
    """The newest ``limit`` comments of each article (all when None), oldest first, with
    their authors, in one statement (a window function numbers each article's comments)."""
    found: dict[int, list[Comment]] = {article_id: [] for article_id in article_ids}
    if not article_ids:
        return found
    numbered = (
        select(
            comments.c.id,
            func.row_number()
            .over(partition_by=comments.c.article_id, order_by=comments.c.id.desc())
            .label("position"),
        )
        .where(comments.c.article_id.in_(article_ids))
        .subquery("numbered")
    )
    query = (
        _select(viewer_id)
        .add_columns(comments.c.article_id)
        .join(numbered, numbered.c.id == comments.c.id)
        .order_by(comments.c.article_id, comments.c.id)
    )
    if limit is not None:
        query = query.where(numbered.c.position <= limit)
    for row in await conn.execute(query):
        found[row.article_id].append(_comment(row))
    return found


async def get(conn: AsyncConnection, comment_id: int, viewer_id: int | None) -> Comment | None:
    row = (await conn.execute(_select(viewer_id).where(comments.c.id == comment_id))).first()
    return None if row is None else _comment(row)


async def get_many(
    conn: AsyncConnection, comment_ids: list[int], viewer_id: int | None
) -> dict[int, Comment]:
    """The comments of ``comment_ids`` that still exist, by id, in one statement."""
    if not comment_ids:
        return {}
    query = _select(viewer_id).where(comments.c.id.in_(comment_ids))
    return {row.id: _comment(row) for row in await conn.execute(query)}


async def add(conn: AsyncConnection, *, article_id: int, author_id: int, body: str) -> int:
    now = utcnow()
    result = await conn.execute(
        insert(comments).values(
            article_id=article_id, author_id=author_id, body=body, created_at=now, updated_at=now
        )
    )
    primary_key = result.inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


async def author_of(conn: AsyncConnection, *, comment_id: int, article_id: int) -> int | None:
    """The author of a comment on that article, or None if the article has no such comment."""
    query = select(comments.c.author_id).where(
        comments.c.id == comment_id, comments.c.article_id == article_id
    )
    return (await conn.execute(query)).scalar_one_or_none()


async def remove(conn: AsyncConnection, comment_id: int) -> None:
    await conn.execute(delete(comments).where(comments.c.id == comment_id))


async def count(conn: AsyncConnection) -> int:
    """How many comments there are."""
    return int((await conn.execute(select(func.count()).select_from(comments))).scalar_one())
