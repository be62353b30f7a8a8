"""Queries on articles and favorites.

A page of articles is one statement: the author, the favorites count and the reader's
``favorited`` / ``following`` flags are computed by the database. With the total and the
tags of the page that makes at most three statements, whatever the page size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    exists,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.articles.models import Article, ArticleFilter, articles, favorites
from conduit.core.db import insert_ignore, utcnow
from conduit.core.pagination import Page
from conduit.profiles.models import Profile, follows
from conduit.profiles.repository import following_flag
from conduit.tags.models import article_tags, tags
from conduit.users.models import users

_FAVORITES_COUNT = (
    select(func.count())
    .where(favorites.c.article_id == articles.c.id)
    .scalar_subquery()
    .label("favorites_count")
)
_FROM = articles.join(users, users.c.id == articles.c.author_id)


def _favorited_flag(viewer_id: int | None) -> ColumnElement[bool]:
    if viewer_id is None:
        return false().label("favorited")
    return (
        exists()
        .where(and_(favorites.c.article_id == articles.c.id, favorites.c.user_id == viewer_id))
        .label("favorited")
    )


def _columns(viewer_id: int | None, *, with_body: bool) -> list[Any]:
    columns: list[Any] = [
        articles.c.id,
        articles.c.slug,
        articles.c.title,
        articles.c.description,
        articles.c.created_at,
        articles.c.updated_at,
        users.c.username,
        users.c.bio,
        users.c.image,
        _FAVORITES_COUNT,
        _favorited_flag(viewer_id),
        following_flag(viewer_id, articles.c.author_id),
    ]
    if with_body:
        columns.append(articles.c.body)
    return columns


def _article(row: Any, tag_list: list[str], *, with_body: bool) -> Article:
    return Article(
        id=row.id,
        slug=row.slug,
        title=row.title,
        description=row.description,
        body=row.body if with_body else None,
        tag_list=tag_list,
        created_at=row.created_at,
        updated_at=row.updated_at,
        favorited=bool(row.favorited),
        favorites_count=row.favorites_count,
        author=Profile(row.username, row.bio, row.image, bool(row.following)),
    )


def _user_id_of(username: str) -> Any:
    return select(users.c.id).where(users.c.username == username).scalar_subquery()


def _conditions(where: ArticleFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.tag is not None:
        tagged = (
            select(article_tags.c.article_id)
            .join(tags, tags.c.id == article_tags.c.tag_id)
            .where(tags.c.name == where.tag)
        )
        conditions.append(articles.c.id.in_(tagged))
    if where.author is not None:
        conditions.append(articles.c.author_id == _user_id_of(where.author))
    if where.favorited_by is not None:
        favorited = select(favorites.c.article_id).where(
            favorites.c.user_id == _user_id_of(where.favorited_by)
        )
        conditions.append(articles.c.id.in_(favorited))
    if where.feed_of is not None:
        followed = select(follows.c.followee_id).where(follows.c.follower_id == where.feed_of)
        conditions.append(articles.c.author_id.in_(followed))
    return conditions


async def tag_names(conn: AsyncConnection, article_ids: list[int]) -> dict[int, list[str]]:
    """Tag names of many articles in one statement, each list in alphabetical order."""
    if not article_ids:
        return {}
    query = (
        select(article_tags.c.article_id, tags.c.name)
        .join(tags, tags.c.id == article_tags.c.tag_id)
        .where(article_tags.c.article_id.in_(article_ids))
        .order_by(article_tags.c.article_id, tags.c.name)
    )
    names: dict[int, list[str]] = {article_id: [] for article_id in article_ids}
    for row in await conn.execute(query):
        names[row.article_id].append(row.name)
    return names


async def list_page(
    conn: AsyncConnection, where: ArticleFilter, page: Page, viewer_id: int | None
) -> tuple[list[Article], int]:
    """One page, newest first, and the number of articles that match in all."""
    conditions = _conditions(where)
    query = (
        select(*_columns(viewer_id, with_body=False))
        .select_from(_FROM)
        .where(*conditions)
        .order_by(articles.c.id.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    rows = (await conn.execute(query)).all()
    if (rows and len(rows) < page.limit) or (not rows and page.offset == 0):
        total = page.offset + len(rows)  # the last page: the total is known without counting
    else:
        count = select(func.count()).select_from(articles).where(*conditions)
        total = int((await conn.execute(count)).scalar_one())
    names = await tag_names(conn, [row.id for row in rows])
    return [_article(row, names[row.id], with_body=False) for row in rows], total


async def get(conn: AsyncConnection, slug: str, viewer_id: int | None) -> Article | None:
    query = (
        select(*_columns(viewer_id, with_body=True))
        .select_from(_FROM)
        .where(articles.c.slug == slug)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    names = await tag_names(conn, [row.id])
    return _article(row, names[row.id], with_body=True)


async def ownership(conn: AsyncConnection, slug: str) -> tuple[int, int] | None:
    """(article id, author id) of ``slug``, or None."""
    query = select(articles.c.id, articles.c.author_id).where(articles.c.slug == slug)
    row = (await conn.execute(query)).first()
    return None if row is None else (row.id, row.author_id)


async def slug_exists(conn: AsyncConnection, slug: str) -> bool:
    query = select(exists().where(articles.c.slug == slug))
    return bool((await conn.execute(query)).scalar())


async def add(
    conn: AsyncConnection, *, slug: str, title: str, description: str, body: str, author_id: int
) -> int:
    now = utcnow()
    result = await conn.execute(
        insert(articles).values(
            slug=slug,
            title=title,
            description=description,
            body=body,
            author_id=author_id,
            created_at=now,
            updated_at=now,
        )
    )
    primary_key = result.inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


async def change(conn: AsyncConnection, article_id: int, values: dict[str, Any]) -> None:
    await conn.execute(
        update(articles).where(articles.c.id == article_id).values(**values, updated_at=utcnow())
    )


async def remove(conn: AsyncConnection, article_id: int) -> None:
    await conn.execute(delete(articles).where(articles.c.id == article_id))


async def favorite(conn: AsyncConnection, *, user_id: int, article_id: int) -> None:
    await insert_ignore(
        conn, favorites, {"user_id": user_id, "article_id": article_id, "created_at": utcnow()}
    )


async def unfavorite(conn: AsyncConnection, *, user_id: int, article_id: int) -> None:
    await conn.execute(
        delete(favorites).where(
            favorites.c.user_id == user_id, favorites.c.article_id == article_id
        )
    )
