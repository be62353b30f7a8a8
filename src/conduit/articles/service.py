"""Use cases of the articles feature: list, feed, search, read, write, delete, favorite."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from slugify import slugify
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.articles import repository
from conduit.articles.audit import ARTICLE_MODERATED
from conduit.articles.events import (
    ArticleCreated,
    ArticleDeleted,
    ArticleFavorited,
    ArticleUnfavorited,
    ArticleUpdated,
)
from conduit.articles.exceptions import ArticleNotFound, NotArticleAuthor
from conduit.articles.models import Article, ArticleFilter
from conduit.articles.search_index import search_tags
from conduit.articles.search_query import parse
from conduit.core import audit, policy
from conduit.core.audit import UNKNOWN_CLIENT, Client
from conduit.core.db import Database
from conduit.core.db_errors import is_unique_violation
from conduit.core.errors import Invalid
from conduit.core.pagination import Page
from conduit.core.principal import Principal
from conduit.tags import repository as tags_repository
from conduit.users.service import require_account

_SLUG_ATTEMPTS = 3
# Field names in events are the API's: tagList, not tag_list.
_WIRE_NAMES = {"tag_list": "tagList"}
# Paths under /articles/ that are not articles: an article titled "Search" gets a suffix.
RESERVED_SLUGS = frozenset({"feed", "search"})


def slug_for(title: str, *, suffix: str = "") -> str:
    """A URL-safe slug: transliterated title, at most 200 characters, never empty."""
    base = slugify(title, max_length=200, word_boundary=True) or "article"
    return f"{base}-{suffix}" if suffix else base


async def list_articles(
    db: Database, *, where: ArticleFilter, page: Page, viewer_id: int | None
) -> tuple[list[Article], int]:
    async with db.reader() as uow:
        return await repository.list_page(uow.conn, where, page, viewer_id)


async def feed(db: Database, *, page: Page, user_id: int) -> tuple[list[Article], int]:
    async with db.reader() as uow:
        return await repository.list_page(uow.conn, ArticleFilter(feed_of=user_id), page, user_id)


async def search(
    db: Database, *, query: str, page: Page, viewer_id: int | None
) -> tuple[list[Article], int]:
    """Articles matching search-box text (words, "phrases", -exclusions), most relevant
    first, ties newest first; any text is accepted, blank text is refused."""
    if not query.strip():
        raise Invalid("q", "can't be blank")
    parsed = parse(query)
    async with db.reader() as uow:
        return await repository.search_page(uow.conn, parsed, page, viewer_id)


async def count(db: Database) -> int:
    """How many articles there are (the moderation console's overview)."""
    async with db.reader() as uow:
        return await repository.count(uow.conn)


async def get(db: Database, *, slug: str, viewer_id: int | None) -> Article:
    async with db.reader() as uow:
        article = await repository.get(uow.conn, slug, viewer_id)
    if article is None:
        raise ArticleNotFound()
    return article


async def bodies(db: Database, *, article_ids: list[int]) -> dict[int, str]:
    """The bodies of listed articles (a list leaves them out), in one statement."""
    async with db.reader() as uow:
        return await repository.bodies(uow.conn, article_ids)


async def _read_back(conn: AsyncConnection, slug: str, viewer_id: int) -> Article:
    article = await repository.get(conn, slug, viewer_id)
    if article is None:  # pragma: no cover - the row was written in this transaction
        raise ArticleNotFound()
    return article


async def create(
    db: Database,
    *,
    actor: Principal,
    title: str,
    description: str,
    body: str,
    tag_list: Sequence[str],
) -> Article:
    """Publish an article. Equal titles are fine: later ones get a suffixed slug."""
    policy.require_active(actor)
    author_id = actor.id
    for attempt in range(_SLUG_ATTEMPTS):
        try:
            async with db.uow() as uow:
                await require_account(uow.conn, author_id)
                slug = slug_for(title)
                if (
                    attempt
                    or slug in RESERVED_SLUGS
                    or await repository.slug_exists(uow.conn, slug)
                ):
                    slug = slug_for(title, suffix=secrets.token_hex(4))
                article_id = await repository.add(
                    uow.conn,
                    slug=slug,
                    title=title,
                    description=description,
                    body=body,
                    author_id=author_id,
                    search_tags=search_tags(tag_list),
                )
                await tags_repository.set_for_article(uow.conn, article_id, tag_list)
                article = await _read_back(uow.conn, slug, author_id)
                uow.emit(
                    ArticleCreated(
                        article_id=article_id,
                        slug=slug,
                        title=title,
                        author_id=author_id,
                        tag_list=article.tag_list,
                    ),
                    actor_id=author_id,
                )
                await uow.commit()
                return article
        except IntegrityError as exc:
            if not is_unique_violation(exc) or attempt == _SLUG_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _article_author_and_tags(conn: AsyncConnection, slug: str) -> tuple[int, int, list[str]]:
    found = await repository.ownership_and_tags(conn, slug)
    if found is None:
        raise ArticleNotFound()
    return found


async def update(db: Database, *, slug: str, actor: Principal, changes: dict[str, Any]) -> Article:
    """Change an article's fields; ``tagList`` left out keeps the tags, ``[]`` removes them.

    The slug stays as it was, so links to the article keep working after a retitle. Only
    the author edits (moderators delete, they do not rewrite).
    """
    policy.require_active(actor)
    user_id = actor.id
    values = dict(changes)
    tag_list = values.pop("tag_list", None)
    async with db.uow() as uow:
        article_id, author_id, previous_tags = await _article_author_and_tags(uow.conn, slug)
        if not policy.may_edit(actor, owner_id=author_id):
            raise NotArticleAuthor()
        changed = sorted(values) + (["tag_list"] if tag_list is not None else [])
        if tag_list is not None:
            values["search_tags"] = search_tags(tag_list)
        await repository.change(uow.conn, article_id, values)
        if tag_list is not None:
            await tags_repository.set_for_article(uow.conn, article_id, tag_list)
        article = await _read_back(uow.conn, slug, user_id)
        uow.emit(
            ArticleUpdated(
                article_id=article_id,
                slug=slug,
                title=article.title,
                author_id=user_id,
                changed=[_WIRE_NAMES.get(name, name) for name in changed],
                tag_list=article.tag_list,
                previous_tag_list=previous_tags,
            ),
            actor_id=user_id,
        )
        await uow.commit()
    return article


async def delete(
    db: Database,
    *,
    slug: str,
    actor: Principal,
    client: Client = UNKNOWN_CLIENT,
    reason: str | None = None,
) -> None:
    """Delete an article with its comments, favorites and tag links.

    Its author may, and so may a moderator or an admin; a moderator's deletion of someone
    else's article is written to the audit log, with the ``reason`` they gave.
    """
    policy.require_active(actor)
    async with db.uow() as uow:
        article_id, author_id, tag_list = await _article_author_and_tags(uow.conn, slug)
        if not policy.may_delete(actor, owner_id=author_id):
            raise NotArticleAuthor()
        await repository.remove(uow.conn, article_id)
        uow.emit(
            ArticleDeleted(
                article_id=article_id, slug=slug, author_id=author_id, tag_list=tag_list
            ),
            actor_id=actor.id,
        )
        await audit.record_moderation(
            uow.conn,
            ARTICLE_MODERATED,
            actor=actor,
            owner_id=author_id,
            client=client,
            details={"slug": slug, "articleId": article_id},
            reason=reason,
        )
        await uow.commit()


async def _set_favorite(db: Database, *, slug: str, actor: Principal, on: bool) -> Article:
    policy.require_active(actor)
    user_id = actor.id
    mark = repository.favorite if on else repository.unfavorite
    async with db.uow() as uow:
        await require_account(uow.conn, user_id)
        found = await repository.ownership(uow.conn, slug)
        if found is None:
            raise ArticleNotFound()
        article_id, author_id = found
        if await mark(uow.conn, user_id=user_id, article_id=article_id):
            happened = ArticleFavorited if on else ArticleUnfavorited
            uow.emit(
                happened(article_id=article_id, slug=slug, author_id=author_id, user_id=user_id),
                actor_id=user_id,
            )
        article = await _read_back(uow.conn, slug, user_id)
        await uow.commit()
    return article


async def favorite(db: Database, *, slug: str, actor: Principal) -> Article:
    """Favorite an article (idempotent); returns it as the user now sees it."""
    return await _set_favorite(db, slug=slug, actor=actor, on=True)


async def unfavorite(db: Database, *, slug: str, actor: Principal) -> Article:
    """Remove the user's favorite (idempotent); returns it as the user now sees it."""
    return await _set_favorite(db, slug=slug, actor=actor, on=False)
