"""Events of the articles feature."""

from __future__ import annotations

from conduit.core.events import EventData


class ArticleCreated(EventData):
    type = "article.created"
    summary = "An article was published."

    article_id: int
    slug: str
    title: str
    author_id: int
    tag_list: list[str]


class ArticleUpdated(EventData):
    type = "article.updated"
    summary = (
        "An article's title, description, body or tags changed; `changed` names them. "
        "`tagList` is its tags after the change, `previousTagList` before (both absent from "
        "events written by earlier versions)."
    )

    article_id: int
    slug: str
    title: str
    author_id: int
    changed: list[str]
    tag_list: list[str] | None = None
    previous_tag_list: list[str] | None = None


class ArticleDeleted(EventData):
    type = "article.deleted"
    summary = (
        "An article was deleted, with its comments and favorites; `tagList` is the tags it "
        "carried (absent from events written by earlier versions)."
    )

    article_id: int
    slug: str
    author_id: int
    tag_list: list[str] | None = None


class ArticleFavorited(EventData):
    type = "article.favorited"
    summary = "A user favorited an article (only when they had not already)."

    article_id: int
    slug: str
    author_id: int
    user_id: int


class ArticleUnfavorited(EventData):
    type = "article.unfavorited"
    summary = "A user removed their favorite (only when there was one)."

    article_id: int
    slug: str
    author_id: int
    user_id: int
