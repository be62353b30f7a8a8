"""Queries on articles and favorites.

A page of articles is one statement: the author, the tags, the favorites count, the
reader's ``favorited`` / ``following`` flags and the number of matches in all are computed
by the database, whatever the page size (only a page past the last one counts on its own);
an article is one.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    Select,
    and_,
    bindparam,
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
from conduit.articles.search_index import finds_nothing, search_params, search_sql
from conduit.articles.search_query import SearchQuery
from conduit.core.db_errors import insert_ignore
from conduit.core.pagination import Page
from conduit.core.tables import utcnow
from conduit.profiles.models import Profile, follows
from conduit.profiles.repository import VIEWER, following_flag
from conduit.tags.models import article_tags, tags
from conduit.tags.repository import names_of
from conduit.users.models import users

_FAVORITES_COUNT = (
    select(func.count())
    .where(favorites.c.article_id == articles.c.id)
    .scalar_subquery()
    .label("favorites_count")
)
_FROM = articles.join(users, users.c.id == articles.c.author_id)


# Statements are built once per shape (which filters, signed in or not) with bound
# parameters (the reader's id is VIEWER), so a request only binds values: no query
# building, no cache-key work.


def _favorited_flag(signed_in: bool) -> ColumnElement[bool]:
    if not signed_in:
        return false().label("favorited")
    return (
        exists()
        .where(and_(favorites.c.article_id == articles.c.id, favorites.c.user_id == VIEWER))
        .label("favorited")
    )


def _columns(dialect: str, signed_in: bool, *, with_body: bool) -> list[Any]:
    """What a listed or read article is made of, in the order _article unpacks them (a page
    adds the total after them)."""
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
        _favorited_flag(signed_in),
        following_flag(VIEWER if signed_in else None, articles.c.author_id),
        names_of(articles.c.id, dialect),
    ]
    if with_body:
        columns.append(articles.c.body)
    return columns


def _article(row: Any, *, with_body: bool) -> Article:
    # Unpacked by position, in the order of _columns (a row's attributes by name cost a
    # lookup each: 13 per article, 20 articles a page).
    (
        article_id,
        slug,
        title,
        description,
        created_at,
        updated_at,
        username,
        bio,
        image,
        favorites_count,
        favorited,
        following,
        tag_list,
        *rest,  # the body (an article), or the total (a page)
    ) = row
    return Article(
        id=article_id,
        slug=slug,
        title=title,
        description=description,
        body=rest[0] if with_body else None,
        tag_list=tag_list,
        created_at=created_at,
        updated_at=updated_at,
        favorited=bool(favorited),
        favorites_count=favorites_count,
        author=Profile(username, bio, image, bool(following)),
    )


def _user_id_of(name: str) -> Any:
    return select(users.c.id).where(users.c.username == bindparam(name)).scalar_subquery()


@functools.cache
def _conditions(
    tag: bool, author: bool, favorited_by: bool, feed_of: bool
) -> tuple[ColumnElement[bool], ...]:
    conditions: list[ColumnElement[bool]] = []
    if tag:
        tagged = (
            select(article_tags.c.article_id)
            .join(tags, tags.c.id == article_tags.c.tag_id)
            .where(tags.c.name == bindparam("tag"))
        )
        conditions.append(articles.c.id.in_(tagged))
    if author:
        conditions.append(articles.c.author_id == _user_id_of("author"))
    if favorited_by:
        favorited = select(favorites.c.article_id).where(
            favorites.c.user_id == _user_id_of("favorited_by")
        )
        conditions.append(articles.c.id.in_(favorited))
    if feed_of:
        followed = select(follows.c.followee_id).where(
            follows.c.follower_id == bindparam("feed_of", type_=Integer)
        )
        conditions.append(articles.c.author_id.in_(followed))
    return tuple(conditions)


def _with_total(columns: list[Any], count: Select[Any]) -> list[Any]:
    """A page's columns and, last, the number of matches in all: an uncorrelated subquery,
    which the database runs once per statement, not once per row."""
    return [*columns, count.scalar_subquery().label("total")]


@functools.cache
def _page_statement(dialect: str, signed_in: bool, *shape: bool) -> Select[Any]:
    columns = _columns(dialect, signed_in, with_body=False)
    return (
        select(*_with_total(columns, _count_statement(*shape)))
        .select_from(_FROM)
        .where(*_conditions(*shape))
        .order_by(articles.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )


@functools.cache
def _count_statement(*shape: bool) -> Select[Any]:
    return select(func.count()).select_from(articles).where(*_conditions(*shape))


@functools.cache
def _get_statement(dialect: str, signed_in: bool) -> Select[Any]:
    return (
        select(*_columns(dialect, signed_in, with_body=True))
        .select_from(_FROM)
        .where(articles.c.slug == bindparam("slug"))
    )


async def list_page(
    conn: AsyncConnection, where: ArticleFilter, page: Page, viewer_id: int | None
) -> tuple[list[Article], int]:
    """One page, newest first, and the number of articles that match in all."""
    shape = (
        where.tag is not None,
        where.author is not None,
        where.favorited_by is not None,
        where.feed_of is not None,
    )
    params: dict[str, Any] = {
        "viewer_id": viewer_id,
        "tag": where.tag,
        "author": where.author,
        "favorited_by": where.favorited_by,
        "feed_of": where.feed_of,
    }
    statements = (
        _page_statement(conn.dialect.name, viewer_id is not None, *shape),
        _count_statement(*shape),
    )
    return await _page(conn, statements, params, page)


async def _page(
    conn: AsyncConnection,
    statements: tuple[Select[Any], Select[Any]],
    params: dict[str, Any],
    page: Page,
) -> tuple[list[Article], int]:
    """Rows of one page with the total in each (one statement); past the last page, where
    no row carries it, the count on its own (a second one)."""
    page_statement, count_statement = statements
    page_params = {**params, "limit": page.limit, "offset": page.offset}
    rows = (await conn.execute(page_statement, page_params)).all()
    if rows:
        total = int(rows[0][-1])
    elif page.offset == 0:
        total = 0
    else:
        total = int((await conn.execute(count_statement, params)).scalar_one())
    return [_article(row, with_body=False) for row in rows], total


@functools.cache
def _search_statements(
    dialect: str, signed_in: bool, excluding: bool
) -> tuple[Select[Any], Select[Any]]:
    """The list's page and count statements, narrowed to matches, most relevant first."""
    search = search_sql(dialect, excluding=excluding)
    source: FromClause = _FROM
    counted: FromClause = articles
    if search.join is not None:
        source, counted = _FROM.join(*search.join), articles.join(*search.join)
    count = select(func.count()).select_from(counted).where(*search.conditions)
    page = (
        select(*_with_total(_columns(dialect, signed_in, with_body=False), count))
        .select_from(source)
        .where(*search.conditions)
        .order_by(search.most_relevant_first, articles.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    return page, count


async def search_page(
    conn: AsyncConnection, query: SearchQuery, page: Page, viewer_id: int | None
) -> tuple[list[Article], int]:
    """One page of the articles matching ``query``, most relevant first (ties: newest)."""
    dialect = conn.dialect.name
    if finds_nothing(dialect, query):
        return [], 0
    statements = _search_statements(dialect, viewer_id is not None, bool(query.excluded))
    params = {"viewer_id": viewer_id, **search_params(dialect, query)}
    return await _page(conn, statements, params, page)


async def get(conn: AsyncConnection, slug: str, viewer_id: int | None) -> Article | None:
    """The article with its author, tags and the reader's flags, in one statement."""
    statement = _get_statement(conn.dialect.name, viewer_id is not None)
    row = (await conn.execute(statement, {"slug": slug, "viewer_id": viewer_id})).first()
    return None if row is None else _article(row, with_body=True)


async def bodies(conn: AsyncConnection, article_ids: list[int]) -> dict[int, str]:
    """The bodies of many articles in one statement (lists leave them out)."""
    if not article_ids:
        return {}
    query = select(articles.c.id, articles.c.body).where(articles.c.id.in_(article_ids))
    return {row.id: row.body for row in await conn.execute(query)}


async def ownership(conn: AsyncConnection, slug: str) -> tuple[int, int] | None:
    """(article id, author id) of ``slug``, or None."""
    query = select(articles.c.id, articles.c.author_id).where(articles.c.slug == slug)
    row = (await conn.execute(query)).first()
    return None if row is None else (row.id, row.author_id)


async def ownership_and_tags(conn: AsyncConnection, slug: str) -> tuple[int, int, list[str]] | None:
    """(article id, author id, tag names) of ``slug``, or None: what an update or a delete
    checks, with the tags it had for its event (the tags consumer recounts them)."""
    names = names_of(articles.c.id, conn.dialect.name)
    query = select(articles.c.id, articles.c.author_id, names).where(articles.c.slug == slug)
    row = (await conn.execute(query)).first()
    return None if row is None else (row.id, row.author_id, list(row.tag_list))


async def slug_exists(conn: AsyncConnection, slug: str) -> bool:
    query = select(exists().where(articles.c.slug == slug))
    return bool((await conn.execute(query)).scalar())


async def add(
    conn: AsyncConnection,
    *,
    slug: str,
    title: str,
    description: str,
    body: str,
    author_id: int,
    search_tags: str = "",
) -> int:
    now = utcnow()
    result = await conn.execute(
        insert(articles).values(
            slug=slug,
            title=title,
            description=description,
            body=body,
            author_id=author_id,
            search_tags=search_tags,
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


async def favorite(conn: AsyncConnection, *, user_id: int, article_id: int) -> bool:
    """Add the favorite; True when it was not there yet."""
    return await insert_ignore(
        conn, favorites, {"user_id": user_id, "article_id": article_id, "created_at": utcnow()}
    )


async def unfavorite(conn: AsyncConnection, *, user_id: int, article_id: int) -> bool:
    """Remove the favorite; True when there was one."""
    result = await conn.execute(
        delete(favorites).where(
            favorites.c.user_id == user_id, favorites.c.article_id == article_id
        )
    )
    return bool(result.rowcount)


async def count(conn: AsyncConnection) -> int:
    """How many articles there are."""
    return int((await conn.execute(select(func.count()).select_from(articles))).scalar_one())
