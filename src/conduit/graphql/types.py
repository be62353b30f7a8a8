"""The GraphQL object types: the REST objects, field for field (camelCase, ISO timestamps)."""

from __future__ import annotations

from typing import Any

import strawberry

from conduit.articles.models import Article as ArticleModel
from conduit.comments.models import Comment as CommentModel
from conduit.core.errors import Invalid
from conduit.core.formatting import iso
from conduit.core.pagination import MAX_LIMIT
from conduit.graphql.context import ConduitContext
from conduit.profiles.models import Profile as ProfileModel
from conduit.users.models import Account

Info = strawberry.Info[ConduitContext, None]


@strawberry.type(description="A user as others see them (REST: Profile).")
class Profile:
    username: str
    bio: str | None
    image: str | None
    following: bool = strawberry.field(description="Whether the caller follows this user.")

    @classmethod
    def of(cls, profile: ProfileModel) -> Profile:
        return cls(
            username=profile.username,
            bio=profile.bio,
            image=profile.image,
            following=profile.following,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        return cls(
            username=data["username"],
            bio=data["bio"],
            image=data["image"],
            following=bool(data["following"]),
        )


@strawberry.type(description="A comment on an article (REST: Comment).")
class Comment:
    id: int
    created_at: str
    updated_at: str
    body: str
    author: Profile

    @classmethod
    def of(cls, comment: CommentModel) -> Comment:
        return cls(
            id=comment.id,
            created_at=iso(comment.created_at),
            updated_at=iso(comment.updated_at),
            body=comment.body,
            author=Profile.of(comment.author),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Comment:
        """From the REST shape (what the live updates carry)."""
        return cls(
            id=int(data["id"]),
            created_at=data["createdAt"],
            updated_at=data["updatedAt"],
            body=data["body"],
            author=Profile.from_json(data["author"]),
        )


def checked_limit(limit: int | None) -> int | None:
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        bound = "greater than or equal to 1" if limit < 1 else f"less than or equal to {MAX_LIMIT}"
        raise Invalid("limit", f"must be {bound}")
    return limit


@strawberry.type(description="An article (REST: Article).")
class Article:
    slug: str
    title: str
    description: str
    tag_list: list[str]
    created_at: str
    updated_at: str
    favorited: bool
    favorites_count: int
    author: Profile
    article_id: strawberry.Private[int]
    known_body: strawberry.Private[str | None]

    @classmethod
    def of(cls, article: ArticleModel) -> Article:
        return cls(
            slug=article.slug,
            title=article.title,
            description=article.description,
            tag_list=article.tag_list,
            created_at=iso(article.created_at),
            updated_at=iso(article.updated_at),
            favorited=article.favorited,
            favorites_count=article.favorites_count,
            author=Profile.of(article.author),
            article_id=article.id,
            known_body=article.body,
        )

    @strawberry.field(description="The text (Markdown). In lists, fetched for all at once.")
    async def body(self, info: Info) -> str:
        if self.known_body is not None:
            return self.known_body
        return await info.context.loaders.bodies.load(self.article_id)

    @strawberry.field(
        description="The article's comments, oldest first; with a limit, the newest `limit` "
        "of them (at most 100). Batched over every article of a list."
    )
    async def comments(self, info: Info, limit: int | None = None) -> list[Comment]:
        found = await info.context.loaders.comments.load((self.article_id, checked_limit(limit)))
        return [Comment.of(comment) for comment in found]


@strawberry.type(description="A page of articles and how many match in all.")
class ArticleList:
    articles: list[Article]
    articles_count: int


@strawberry.type(description="The signed-in user (REST: User), with an access token.")
class User:
    email: str
    token: str
    username: str
    bio: str | None
    image: str | None
    roles: list[str] = strawberry.field(description="`user` and the granted roles, sorted.")

    @classmethod
    def of(cls, account: Account, token: str) -> User:
        return cls(
            email=account.email,
            token=token,
            username=account.username,
            bio=account.bio,
            image=account.image,
            roles=sorted(account.roles),
        )


@strawberry.type(description="The article a notification is about.")
class ArticleRef:
    slug: str
    title: str


@strawberry.type(description="The comment a notification is about.")
class CommentRef:
    id: int
    body: str


@strawberry.type(description="A notification of the signed-in reader (REST: Notification).")
class Notification:
    id: int
    type: str = strawberry.field(description="follow, favorite, comment or article.")
    created_at: str
    read: bool
    actor: Profile
    article: ArticleRef | None
    comment: CommentRef | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notification:
        """From the REST shape (what the live updates carry)."""
        article, comment = data.get("article"), data.get("comment")
        return cls(
            id=int(data["id"]),
            type=data["type"],
            created_at=data["createdAt"],
            read=bool(data["read"]),
            actor=Profile.from_json(data["actor"]),
            article=None if article is None else ArticleRef(**article),
            comment=None if comment is None else CommentRef(**comment),
        )
