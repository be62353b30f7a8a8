"""Request and response bodies of the users endpoints (spec: NewUser, LoginUser, User)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from conduit.core.validation import (
    Bio,
    Email,
    ImageUrl,
    LoginPassword,
    NotNull,
    Password,
    PatchModel,
    RequestModel,
    Username,
)
from conduit.users.models import Account


class NewUser(RequestModel):
    username: Username
    email: Email
    password: Password


class NewUserRequest(RequestModel):
    user: NewUser


class LoginUser(RequestModel):
    email: Email
    password: LoginPassword


class LoginUserRequest(RequestModel):
    user: LoginUser


class UpdateUser(PatchModel):
    email: Annotated[Email | None, NotNull] = None
    password: Annotated[Password | None, NotNull] = None
    username: Annotated[Username | None, NotNull] = None
    bio: Bio = None
    image: ImageUrl = None


class UpdateUserRequest(RequestModel):
    user: UpdateUser


class User(BaseModel):
    email: str
    token: str
    username: str
    bio: str | None
    image: str | None
    roles: list[str] = Field(
        description="Conduit extension: `user` (everyone's) and the granted roles, sorted.",
        examples=[["moderator", "user"]],
    )


class UserResponse(BaseModel):
    user: User


def user_json(account: Account, token: str) -> dict[str, Any]:
    return {
        "user": {
            "email": account.email,
            "token": token,
            "username": account.username,
            "bio": account.bio,
            "image": account.image,
            "roles": sorted(account.roles),
        }
    }


class LogoutRequest(RequestModel):
    """``POST /users/logout``: this session only, or every session of the user."""

    everywhere: bool = False
