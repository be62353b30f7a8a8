"""Events of the comments feature."""

from __future__ import annotations

from conduit.core.events import EventData


class CommentCreated(EventData):
    type = "comment.created"
    summary = "A comment was added to an article."

    comment_id: int
    article_id: int
    slug: str
    article_author_id: int
    author_id: int
    body: str


class CommentDeleted(EventData):
    type = "comment.deleted"
    summary = "A comment was deleted by its author."

    comment_id: int
    article_id: int
    slug: str
    author_id: int
