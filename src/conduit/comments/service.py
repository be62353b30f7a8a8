"""Use cases of the comments feature: list, add, delete."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.articles import repository as articles_repository
from conduit.articles.exceptions import ArticleNotFound
from conduit.comments import repository
from conduit.comments.audit import COMMENT_MODERATED
from conduit.comments.events import CommentCreated, CommentDeleted
from conduit.comments.exceptions import CommentNotFound, NotCommentAuthor
from conduit.comments.models import Comment
from conduit.core import audit, policy
from conduit.core.audit import UNKNOWN_CLIENT, Client
from conduit.core.db import Database
from conduit.core.principal import Principal
from conduit.users.service import require_account

# Ids are 32-bit on every database; larger numbers can name no comment.
MAX_ID = 2**31 - 1


async def _article(conn: AsyncConnection, slug: str) -> tuple[int, int]:
    """The id and the author id of the article ``slug``."""
    found = await articles_repository.ownership(conn, slug)
    if found is None:
        raise ArticleNotFound()
    return found


async def list_for_article(db: Database, *, slug: str, viewer_id: int | None) -> list[Comment]:
    async with db.reader() as uow:
        found = await repository.for_article(uow.conn, slug, viewer_id)
    if found is None:
        raise ArticleNotFound()
    return found


async def count(db: Database) -> int:
    """How many comments there are (the moderation console's overview)."""
    async with db.reader() as uow:
        return await repository.count(uow.conn)


async def latest_for_articles(
    db: Database, *, article_ids: list[int], limit: int | None, viewer_id: int | None
) -> dict[int, list[Comment]]:
    """The newest ``limit`` comments of many articles at once (all when None), each list
    oldest first; one statement whatever the number of articles."""
    async with db.reader() as uow:
        return await repository.latest_for_articles(uow.conn, article_ids, limit, viewer_id)


async def add(db: Database, *, slug: str, actor: Principal, body: str) -> Comment:
    policy.require_active(actor)
    user_id = actor.id
    async with db.uow() as uow:
        await require_account(uow.conn, user_id)
        article_id, article_author_id = await _article(uow.conn, slug)
        comment_id = await repository.add(
            uow.conn, article_id=article_id, author_id=user_id, body=body
        )
        comment = await repository.get(uow.conn, comment_id, user_id)
        uow.emit(
            CommentCreated(
                comment_id=comment_id,
                article_id=article_id,
                slug=slug,
                article_author_id=article_author_id,
                author_id=user_id,
                body=body,
            ),
            actor_id=user_id,
        )
        await uow.commit()
    assert comment is not None
    return comment


async def delete(
    db: Database,
    *,
    slug: str,
    comment_id: int,
    actor: Principal,
    client: Client = UNKNOWN_CLIENT,
    reason: str | None = None,
) -> None:
    """Delete a comment: its author may, and so may a moderator or an admin (audited, with
    the ``reason`` they gave)."""
    policy.require_active(actor)
    async with db.uow() as uow:
        article_id, _ = await _article(uow.conn, slug)
        if not 0 < comment_id <= MAX_ID:
            raise CommentNotFound()
        author_id = await repository.author_of(
            uow.conn, comment_id=comment_id, article_id=article_id
        )
        if author_id is None:
            raise CommentNotFound()
        if not policy.may_delete(actor, owner_id=author_id):
            raise NotCommentAuthor()
        await repository.remove(uow.conn, comment_id)
        uow.emit(
            CommentDeleted(
                comment_id=comment_id, article_id=article_id, slug=slug, author_id=author_id
            ),
            actor_id=actor.id,
        )
        await audit.record_moderation(
            uow.conn,
            COMMENT_MODERATED,
            actor=actor,
            owner_id=author_id,
            client=client,
            details={"slug": slug, "commentId": comment_id},
            reason=reason,
        )
        await uow.commit()
