"""Query: the REST reads, each calling the same use case as its route."""

from __future__ import annotations

import strawberry

from conduit.articles import service as articles
from conduit.articles.models import ArticleFilter
from conduit.comments import service as comments
from conduit.core.errors import ConduitError, Invalid
from conduit.core.pagination import MAX_LIMIT, MAX_OFFSET, Page
from conduit.graphql.types import Article, ArticleList, Comment, Info, Profile, User
from conduit.profiles import service as profiles
from conduit.tags import service as tags
from conduit.users import service as users

MAX_FILTER_LENGTH = 64  # as the REST query parameters


def page_of(limit: int, offset: int) -> Page:
    """The page REST's ``limit`` / ``offset`` would give, with REST's messages when out of range."""
    errors: dict[str, list[str]] = {}
    if limit < 1:
        errors["limit"] = ["must be greater than or equal to 1"]
    elif limit > MAX_LIMIT:
        errors["limit"] = [f"must be less than or equal to {MAX_LIMIT}"]
    if offset < 0:
        errors["offset"] = ["must be greater than or equal to 0"]
    elif offset > MAX_OFFSET:
        errors["offset"] = [f"must be less than or equal to {MAX_OFFSET}"]
    if errors:
        raise Invalid.many(errors)
    return Page(limit=limit, offset=offset)


def _filters(**values: str | None) -> None:
    errors = {
        name: [f"is too long (maximum is {MAX_FILTER_LENGTH} characters)"]
        for name, value in values.items()
        if value is not None and len(value) > MAX_FILTER_LENGTH
    }
    if errors:
        raise Invalid.many(errors)


def article_list(found: list[Article], total: int) -> ArticleList:
    return ArticleList(articles=found, articles_count=total)


@strawberry.type
class Query:
    @strawberry.field(description="Recent articles, newest first (REST: GET /articles).")
    async def articles(
        self,
        info: Info,
        tag: str | None = None,
        author: str | None = None,
        favorited: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> ArticleList:
        await info.context.count_read()
        _filters(tag=tag, author=author, favorited=favorited)
        found, total = await articles.list_articles(
            info.context.db,
            where=ArticleFilter(tag=tag, author=author, favorited_by=favorited),
            page=page_of(limit, offset),
            viewer_id=info.context.viewer_id,
        )
        return article_list([Article.of(article) for article in found], total)

    @strawberry.field(
        description='Articles matching search-box text: words, "exact phrases", -exclusions; '
        "most relevant first, ties newest first (REST: GET /articles/search)."
    )
    async def search_articles(
        self, info: Info, q: str, limit: int = 20, offset: int = 0
    ) -> ArticleList:
        await info.context.count_read()
        found, total = await articles.search(
            info.context.db,
            query=q,
            page=page_of(limit, offset),
            viewer_id=info.context.viewer_id,
        )
        return article_list([Article.of(article) for article in found], total)

    @strawberry.field(
        description="Recent articles by the users the caller follows (REST: GET /articles/feed)."
    )
    async def feed(self, info: Info, limit: int = 20, offset: int = 0) -> ArticleList:
        await info.context.count_read()
        user = info.context.require_user()
        found, total = await articles.feed(
            info.context.db, page=page_of(limit, offset), user_id=user.id
        )
        return article_list([Article.of(article) for article in found], total)

    @strawberry.field(description="One article, or null (REST: GET /articles/{slug}).")
    async def article(self, info: Info, slug: str) -> Article | None:
        await info.context.count_read()
        try:
            found = await articles.get(info.context.db, slug=slug, viewer_id=info.context.viewer_id)
        except ConduitError as exc:
            if exc.status == 404:
                return None
            raise
        return Article.of(found)

    @strawberry.field(
        description="Every comment of an article, oldest first "
        "(REST: GET /articles/{slug}/comments)."
    )
    async def comments(self, info: Info, slug: str) -> list[Comment]:
        await info.context.count_read()
        found = await comments.list_for_article(
            info.context.db, slug=slug, viewer_id=info.context.viewer_id
        )
        return [Comment.of(comment) for comment in found]

    @strawberry.field(description="A profile, or null (REST: GET /profiles/{username}).")
    async def profile(self, info: Info, username: str) -> Profile | None:
        await info.context.count_read()
        try:
            found = await profiles.get(
                info.context.db, username=username, viewer_id=info.context.viewer_id
            )
        except ConduitError as exc:
            if exc.status == 404:
                return None
            raise
        return Profile.of(found)

    @strawberry.field(description="The most used tags, most used first (REST: GET /tags).")
    async def tags(self, info: Info, limit: int = tags.DEFAULT_TAGS) -> list[str]:
        await info.context.count_read()
        if limit < 1:
            raise Invalid.many({"limit": ["must be greater than or equal to 1"]})
        if limit > tags.MAX_TAGS:
            raise Invalid.many({"limit": [f"must be less than or equal to {tags.MAX_TAGS}"]})
        return await tags.popular(info.context.db, limit=limit)

    @strawberry.field(description="The signed-in user (REST: GET /user).")
    async def me(self, info: Info) -> User | None:
        await info.context.count_read()
        user = info.context.require_user()
        account = await users.current(info.context.db, user_id=user.id)
        assert info.context.token is not None
        return User.of(account, info.context.token)
