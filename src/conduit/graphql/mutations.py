"""Mutation: every REST write, each through the same use case and request model as its route."""

from __future__ import annotations

from typing import Any

import strawberry
from starlette.responses import Response

from conduit.articles import service as articles
from conduit.articles.schemas import NewArticle, UpdateArticle
from conduit.auth import service as auth
from conduit.auth.cookies import set_refresh_cookie
from conduit.auth.service import SignedIn
from conduit.comments import service as comments
from conduit.comments.schemas import NewComment
from conduit.graphql.inputs import (
    LoginUserInput,
    NewArticleInput,
    NewCommentInput,
    NewUserInput,
    UpdateArticleInput,
    UpdateUserInput,
    sent,
)
from conduit.graphql.types import Article, Comment, Info, Profile, User
from conduit.profiles import service as profiles
from conduit.users.exceptions import InvalidCredentials
from conduit.users.schemas import LoginUser, NewUser, UpdateUser

_WIRE_NAMES = {"tag_list": "tagList"}


def _body(value: object) -> dict[str, Any]:
    """An input as the REST body it mirrors (tagList, not tag_list)."""
    return {_WIRE_NAMES.get(name, name): field for name, field in sent(value).items()}


def _signed_in(info: Info, signed_in: SignedIn) -> User:
    """The user with the session's access token; the refresh cookie as REST sets it."""
    if isinstance(info.context.response, Response):
        set_refresh_cookie(info.context.response, signed_in)
    return User.of(signed_in.account, signed_in.access_token)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a new user (REST: POST /users).")
    async def register(self, info: Info, user: NewUserInput) -> User:
        context = info.context
        await context.count_register()
        new = NewUser.model_validate(_body(user))
        signed_in = await auth.register(
            context.db,
            username=new.username,
            email=new.email,
            password=new.password,
            client=context.client,
            tokens=context.parts.tokens,
            refresh_ttl_seconds=context.parts.settings.refresh_token_ttl_seconds,
        )
        return _signed_in(info, signed_in)

    @strawberry.mutation(description="Sign in (REST: POST /users/login).")
    async def login(self, info: Info, user: LoginUserInput) -> User:
        context = info.context
        await context.count_login(user.email)
        credentials = LoginUser.model_validate(_body(user))
        try:
            signed_in = await auth.login(
                context.db,
                email=credentials.email,
                password=credentials.password,
                client=context.client,
                tokens=context.parts.tokens,
                refresh_ttl_seconds=context.parts.settings.refresh_token_ttl_seconds,
            )
        except InvalidCredentials:
            await context.count_login_failure(user.email)
            raise
        return _signed_in(info, signed_in)

    @strawberry.mutation(description="Change the signed-in user (REST: PUT /user).")
    async def update_user(self, info: Info, user: UpdateUserInput) -> User:
        context = info.context
        await context.count_write()
        actor = context.require_user()
        changes = UpdateUser.model_validate(_body(user)).changes()
        account = await auth.update_account(
            context.db, actor=actor, changes=changes, client=context.client
        )
        assert context.token is not None
        return User.of(account, context.token)

    @strawberry.mutation(description="Follow a user (REST: POST /profiles/{username}/follow).")
    async def follow(self, info: Info, username: str) -> Profile:
        await info.context.count_write()
        actor = info.context.require_user()
        return Profile.of(await profiles.follow(info.context.db, username=username, actor=actor))

    @strawberry.mutation(
        description="Stop following a user (REST: DELETE /profiles/{username}/follow)."
    )
    async def unfollow(self, info: Info, username: str) -> Profile:
        await info.context.count_write()
        actor = info.context.require_user()
        return Profile.of(await profiles.unfollow(info.context.db, username=username, actor=actor))

    @strawberry.mutation(description="Publish an article (REST: POST /articles).")
    async def create_article(self, info: Info, article: NewArticleInput) -> Article:
        await info.context.count_write()
        actor = info.context.require_user()
        new = NewArticle.model_validate(_body(article))
        created = await articles.create(
            info.context.db,
            actor=actor,
            title=new.title,
            description=new.description,
            body=new.body,
            tag_list=new.tagList,
        )
        return Article.of(created)

    @strawberry.mutation(description="Change an article (REST: PUT /articles/{slug}).")
    async def update_article(self, info: Info, slug: str, article: UpdateArticleInput) -> Article:
        await info.context.count_write()
        actor = info.context.require_user()
        changes = UpdateArticle.model_validate(_body(article)).changes()
        updated = await articles.update(info.context.db, slug=slug, actor=actor, changes=changes)
        return Article.of(updated)

    @strawberry.mutation(description="Delete an article (REST: DELETE /articles/{slug}).")
    async def delete_article(self, info: Info, slug: str) -> bool:
        await info.context.count_write()
        actor = info.context.require_user()
        await articles.delete(info.context.db, slug=slug, actor=actor, client=info.context.client)
        return True

    @strawberry.mutation(description="Favorite an article (REST: POST /articles/{slug}/favorite).")
    async def favorite(self, info: Info, slug: str) -> Article:
        await info.context.count_write()
        actor = info.context.require_user()
        return Article.of(await articles.favorite(info.context.db, slug=slug, actor=actor))

    @strawberry.mutation(description="Remove a favorite (REST: DELETE /articles/{slug}/favorite).")
    async def unfavorite(self, info: Info, slug: str) -> Article:
        await info.context.count_write()
        actor = info.context.require_user()
        return Article.of(await articles.unfavorite(info.context.db, slug=slug, actor=actor))

    @strawberry.mutation(
        description="Comment on an article (REST: POST /articles/{slug}/comments)."
    )
    async def add_comment(self, info: Info, slug: str, comment: NewCommentInput) -> Comment:
        await info.context.count_write()
        actor = info.context.require_user()
        new = NewComment.model_validate(_body(comment))
        added = await comments.add(info.context.db, slug=slug, actor=actor, body=new.body)
        return Comment.of(added)

    @strawberry.mutation(
        description="Delete a comment (REST: DELETE /articles/{slug}/comments/{id})."
    )
    async def delete_comment(self, info: Info, slug: str, id: int) -> bool:
        await info.context.count_write()
        actor = info.context.require_user()
        await comments.delete(
            info.context.db, slug=slug, comment_id=id, actor=actor, client=info.context.client
        )
        return True
