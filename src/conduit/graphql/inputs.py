"""Input types: the REST request bodies. Their values are checked by the same pydantic
models as REST (``users.schemas``, ``articles.schemas``, ``comments.schemas``), so a bad
value gets the same field message."""

from __future__ import annotations

from typing import Any

import strawberry


def sent(value: object) -> dict[str, Any]:
    """The fields of an input the client sent (explicit nulls included, unset ones left out)."""
    return {
        name: getattr(value, name)
        for name in vars(value)
        if getattr(value, name) is not strawberry.UNSET
    }


@strawberry.input(description="REST: NewUser.")
class NewUserInput:
    username: str
    email: str
    password: str


@strawberry.input(description="REST: LoginUser.")
class LoginUserInput:
    email: str
    password: str


@strawberry.input(description="REST: UpdateUser. Fields left out keep their value.")
class UpdateUserInput:
    email: str | None = strawberry.UNSET
    password: str | None = strawberry.UNSET
    username: str | None = strawberry.UNSET
    bio: str | None = strawberry.UNSET
    image: str | None = strawberry.UNSET


@strawberry.input(description="REST: NewArticle.")
class NewArticleInput:
    title: str
    description: str
    body: str
    tag_list: list[str] | None = strawberry.UNSET


@strawberry.input(description="REST: UpdateArticle. Fields left out keep their value.")
class UpdateArticleInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    body: str | None = strawberry.UNSET
    tag_list: list[str] | None = strawberry.UNSET


@strawberry.input(description="REST: NewComment.")
class NewCommentInput:
    body: str
