"""Queries on notifications.

Notifications are written by INSERT ... SELECT from the rows they point at: an article, a
comment or a user that is already gone when its event arrives (events can come late, or
out of order) yields no row instead of a foreign-key error, and an article's followers are
notified in one statement however many there are. The notifications of a deleted article
or comment go with it (ON DELETE CASCADE). A page is one statement (actor profile, article
and comment joined), and both counts are a second one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.articles.models import articles
from conduit.comments.models import comments
from conduit.core.pagination import Page
from conduit.core.tables import Timestamp
from conduit.notifications.models import (
    ArticleRef,
    CommentRef,
    Kind,
    Notification,
    NotificationPage,
    notifications,
)
from conduit.profiles.models import follows
from conduit.profiles.repository import profile_from_row
from conduit.users.models import users

_NEWEST_FIRST = (notifications.c.created_at.desc(), notifications.c.id.desc())


def _user_exists(user_id: int) -> Any:
    return exists().where(users.c.id == user_id)


async def _insert_from(conn: AsyncConnection, columns: Sequence[str], rows: Select[Any]) -> int:
    """INSERT ... SELECT, skipping a (event, recipient) pair that is already there."""
    statement: Any
    dialect = conn.dialect.name
    if dialect == "postgresql":
        statement = pg_insert(notifications).from_select(columns, rows).on_conflict_do_nothing()
    elif dialect == "sqlite":
        # (the SELECT always has a WHERE clause, which SQLite's upsert grammar needs here)
        statement = sqlite_insert(notifications).from_select(columns, rows).on_conflict_do_nothing()
    else:
        statement = insert(notifications).from_select(columns, rows).prefix_with("IGNORE")
    result = await conn.execute(statement)
    return max(int(result.rowcount), 0)


def _common(kind: Kind, event_id: str, at: dt.datetime) -> list[Any]:
    return [literal(kind), literal(event_id), literal(at, Timestamp)]


_COMMON = ["type", "event_id", "created_at"]


async def add_follow(
    conn: AsyncConnection, *, event_id: str, at: dt.datetime, follower_id: int, followee_id: int
) -> int:
    """Tell ``followee_id`` that ``follower_id`` follows them (if both still exist)."""
    rows = select(users.c.id, literal(follower_id), *_common("follow", event_id, at)).where(
        users.c.id == followee_id, users.c.id != follower_id, _user_exists(follower_id)
    )
    return await _insert_from(conn, ["recipient_id", "actor_id", *_COMMON], rows)


async def add_favorite(
    conn: AsyncConnection, *, event_id: str, at: dt.datetime, article_id: int, user_id: int
) -> int:
    """Tell the author of ``article_id`` that ``user_id`` favorited it (if it still exists)."""
    rows = select(
        articles.c.author_id, literal(user_id), articles.c.id, *_common("favorite", event_id, at)
    ).where(articles.c.id == article_id, articles.c.author_id != user_id, _user_exists(user_id))
    return await _insert_from(conn, ["recipient_id", "actor_id", "article_id", *_COMMON], rows)


async def add_comment(
    conn: AsyncConnection, *, event_id: str, at: dt.datetime, comment_id: int
) -> int:
    """Tell the article's author of the comment ``comment_id`` (if it still exists)."""
    rows = (
        select(
            articles.c.author_id,
            comments.c.author_id,
            articles.c.id,
            comments.c.id,
            *_common("comment", event_id, at),
        )
        .select_from(comments.join(articles, articles.c.id == comments.c.article_id))
        .where(comments.c.id == comment_id, articles.c.author_id != comments.c.author_id)
    )
    columns = ["recipient_id", "actor_id", "article_id", "comment_id", *_COMMON]
    return await _insert_from(conn, columns, rows)


async def add_article(
    conn: AsyncConnection, *, event_id: str, at: dt.datetime, article_id: int
) -> int:
    """Tell every follower of the author of ``article_id`` about it, in one statement."""
    rows = (
        select(
            follows.c.follower_id,
            articles.c.author_id,
            articles.c.id,
            *_common("article", event_id, at),
        )
        .select_from(follows.join(articles, articles.c.author_id == follows.c.followee_id))
        .where(articles.c.id == article_id, follows.c.follower_id != articles.c.author_id)
    )
    return await _insert_from(conn, ["recipient_id", "actor_id", "article_id", *_COMMON], rows)


def _notification(row: Any) -> Notification:
    return Notification(
        id=row.id,
        type=row.type,
        created_at=row.created_at,
        read=row.read_at is not None,
        actor=profile_from_row(row),
        article=None if row.slug is None else ArticleRef(row.slug, row.title),
        comment=None if row.comment_id is None else CommentRef(row.comment_id, row.comment_body),
    )


# Whether the recipient follows the actor: each notification is read by its recipient.
_FOLLOWING = (
    exists()
    .where(
        follows.c.follower_id == notifications.c.recipient_id,
        follows.c.followee_id == notifications.c.actor_id,
    )
    .label("following")
)
_SELECT = select(
    notifications.c.id,
    notifications.c.recipient_id,
    notifications.c.type,
    notifications.c.created_at,
    notifications.c.read_at,
    users.c.username,
    users.c.bio,
    users.c.image,
    _FOLLOWING,
    articles.c.slug,
    articles.c.title,
    comments.c.id.label("comment_id"),
    comments.c.body.label("comment_body"),
).select_from(
    notifications.join(users, users.c.id == notifications.c.actor_id)
    .outerjoin(articles, articles.c.id == notifications.c.article_id)
    .outerjoin(comments, comments.c.id == notifications.c.comment_id)
)


def _page_statement(recipient_id: int, unread_only: bool) -> Select[Any]:
    statement = _SELECT.where(notifications.c.recipient_id == recipient_id)
    if unread_only:
        statement = statement.where(notifications.c.read_at.is_(None))
    return statement.order_by(*_NEWEST_FIRST)


async def counts(conn: AsyncConnection, recipient_id: int) -> tuple[int, int]:
    """How many notifications the recipient has, and how many of them are unread."""
    query = select(func.count(), func.count(case((notifications.c.read_at.is_(None), 1)))).where(
        notifications.c.recipient_id == recipient_id
    )
    total, unread = (await conn.execute(query)).one()
    return int(total), int(unread)


async def unread_count(conn: AsyncConnection, recipient_id: int) -> int:
    query = select(func.count()).where(
        notifications.c.recipient_id == recipient_id, notifications.c.read_at.is_(None)
    )
    return int((await conn.execute(query)).scalar_one())


async def list_page(
    conn: AsyncConnection, recipient_id: int, page: Page, *, unread_only: bool
) -> NotificationPage:
    """One page, newest first, with the counts: two statements whatever the page size."""
    query = _page_statement(recipient_id, unread_only).limit(page.limit).offset(page.offset)
    items = [_notification(row) for row in await conn.execute(query)]
    total, unread = await counts(conn, recipient_id)
    return NotificationPage(items=items, total=unread if unread_only else total, unread=unread)


async def of_event(
    conn: AsyncConnection, event_id: str, recipient_ids: Sequence[int] | None = None
) -> dict[int, Notification]:
    """The notifications an event made, by recipient (only ``recipient_ids`` if given)."""
    query = _SELECT.where(notifications.c.event_id == event_id)
    if recipient_ids is not None:
        if not recipient_ids:
            return {}
        query = query.where(notifications.c.recipient_id.in_(recipient_ids))
    return {row.recipient_id: _notification(row) for row in await conn.execute(query)}


async def mark_read(
    conn: AsyncConnection, recipient_id: int, ids: Sequence[int] | None, at: dt.datetime
) -> int:
    """Mark the recipient's unread notifications read (only ``ids`` if given); how many."""
    condition = and_(
        notifications.c.recipient_id == recipient_id, notifications.c.read_at.is_(None)
    )
    if ids is not None:
        if not ids:
            return 0
        condition = and_(condition, notifications.c.id.in_(ids))
    result = await conn.execute(update(notifications).where(condition).values(read_at=at))
    return int(result.rowcount)
