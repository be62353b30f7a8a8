"""REST routes of sign-in and sessions: /users (registration starts a session), /users/login,
PUT /user (a new password ends the other sessions), /users/refresh, /users/logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Cookie, status
from starlette.requests import Request
from starlette.responses import Response

from conduit.auth import service as auth
from conduit.auth.cookies import (
    REFRESH_COOKIE,
    clear_refresh_cookie,
    read_refresh_cookie,
    require_known_origin,
    set_refresh_cookie,
)
from conduit.auth.service import SignedIn
from conduit.http.kit import (
    DB,
    AppSettings,
    ClientInfo,
    CurrentUser,
    JSONReply,
    PresentedToken,
    Tokens,
    error_responses,
)
from conduit.users.schemas import (
    LoginUserRequest,
    LogoutRequest,
    NewUserRequest,
    UpdateUserRequest,
    UserResponse,
    user_json,
)

router = APIRouter(tags=["User and Authentication"])
# Conduit's own additions to the RealWorld API: refresh and sign-out.
sessions_router = APIRouter(tags=["Sessions"])


@router.post(
    "/users/login",
    response_model=UserResponse,
    responses=error_responses(401, 403, 422),
    summary="Existing user login",
    operation_id="Login",
)
async def login(
    body: LoginUserRequest, db: DB, tokens: Tokens, client: ClientInfo, settings: AppSettings
) -> JSONReply:
    signed_in = await auth.login(
        db,
        email=body.user.email,
        password=body.user.password,
        client=client,
        tokens=tokens,
        refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
    )
    return _signed_in_reply(signed_in)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserResponse,
    responses=error_responses(409, 422),
    summary="Register a new user",
    operation_id="CreateUser",
)
async def register(
    body: NewUserRequest, db: DB, tokens: Tokens, client: ClientInfo, settings: AppSettings
) -> JSONReply:
    new = body.user
    signed_in = await auth.register(
        db,
        username=new.username,
        email=new.email,
        password=new.password,
        client=client,
        tokens=tokens,
        refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
    )
    return _signed_in_reply(signed_in, status_code=201)


def _signed_in_reply(signed_in: SignedIn, *, status_code: int = 200) -> JSONReply:
    """The user object with the session's access token, and the refresh cookie."""
    reply = JSONReply(user_json(signed_in.account, signed_in.access_token), status_code=status_code)
    set_refresh_cookie(reply, signed_in)
    return reply


@sessions_router.post(
    "/users/refresh",
    response_model=UserResponse,
    responses=error_responses(401, 403, 422),
    summary="Exchange the refresh cookie for a new access token",
    description="Reads the HttpOnly refresh cookie (set by login and registration), rotates "
    "it and answers the user with a new access token. A refresh token presented again "
    "within CONDUIT_REFRESH_REUSE_GRACE_SECONDS answers the same new one (two tabs); later, "
    "it revokes its session. Requests from an origin other than Conduit's own or a listed "
    "CORS origin are refused (403).",
    operation_id="RefreshSession",
)
async def refresh(
    request: Request,
    db: DB,
    tokens: Tokens,
    client: ClientInfo,
    settings: AppSettings,
    _cookie: Annotated[str | None, Cookie(alias=REFRESH_COOKIE)] = None,
) -> JSONReply:
    require_known_origin(request, settings)
    signed_in = await auth.refresh(
        db,
        refresh_token=read_refresh_cookie(request),
        client=client,
        tokens=tokens,
        refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
        reuse_grace_seconds=settings.refresh_reuse_grace_seconds,
    )
    return _signed_in_reply(signed_in)


@sessions_router.post(
    "/users/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 422),
    summary="Sign out this session, or every session",
    description="Revokes the session of the access token (its refresh cookie and its access "
    'tokens) and clears the cookie. With {"everywhere": true}, revokes every session of the '
    "user and every access token issued before.",
    operation_id="Logout",
)
async def logout(
    request: Request,
    user: CurrentUser,
    db: DB,
    client: ClientInfo,
    settings: AppSettings,
    body: Annotated[LogoutRequest | None, Body()] = None,
) -> Response:
    refresh_token = read_refresh_cookie(request)
    if refresh_token is not None:
        require_known_origin(request, settings)
    await auth.logout(
        db,
        actor=user,
        everywhere=body is not None and body.everywhere,
        refresh_token=refresh_token,
        client=client,
    )
    reply = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_refresh_cookie(reply)
    return reply


@router.put(
    "/user",
    response_model=UserResponse,
    responses=error_responses(401, 403, 409, 422),
    summary="Update current user",
    operation_id="UpdateCurrentUser",
)
async def update_user(
    user: CurrentUser,
    body: UpdateUserRequest,
    db: DB,
    tokens: Tokens,
    token: PresentedToken,
    client: ClientInfo,
) -> JSONReply:
    account = await auth.update_account(db, actor=user, changes=body.user.changes(), client=client)
    return JSONReply(user_json(account, token))
