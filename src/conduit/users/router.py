"""REST routes of the users feature: /users, /users/login, /user."""

from __future__ import annotations

from fastapi import APIRouter, status

from conduit.users import service
from conduit.users.schemas import (
    LoginUserRequest,
    NewUserRequest,
    UpdateUserRequest,
    UserResponse,
    user_json,
)
from conduit.web import DB, CurrentUser, JSONReply, Tokens, error_responses

router = APIRouter(tags=["User and Authentication"])


@router.post(
    "/users/login",
    response_model=UserResponse,
    responses=error_responses(401, 422),
    summary="Existing user login",
    operation_id="Login",
)
async def login(body: LoginUserRequest, db: DB, tokens: Tokens) -> JSONReply:
    account = await service.login(db, email=body.user.email, password=body.user.password)
    return JSONReply(user_json(account, tokens.issue(account.id)))


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserResponse,
    responses=error_responses(409, 422),
    summary="Register a new user",
    operation_id="CreateUser",
)
async def register(body: NewUserRequest, db: DB, tokens: Tokens) -> JSONReply:
    new = body.user
    account = await service.register(
        db, username=new.username, email=new.email, password=new.password
    )
    return JSONReply(user_json(account, tokens.issue(account.id)), status_code=201)


@router.get(
    "/user",
    response_model=UserResponse,
    responses=error_responses(401, 422),
    summary="Get current user",
    operation_id="GetCurrentUser",
)
async def current_user(user: CurrentUser, db: DB, tokens: Tokens) -> JSONReply:
    account = await service.current(db, user_id=user.id)
    return JSONReply(user_json(account, tokens.issue(account.id)))


@router.put(
    "/user",
    response_model=UserResponse,
    responses=error_responses(401, 403, 409, 422),
    summary="Update current user",
    operation_id="UpdateCurrentUser",
)
async def update_user(
    user: CurrentUser, body: UpdateUserRequest, db: DB, tokens: Tokens
) -> JSONReply:
    account = await service.update(db, actor=user, changes=body.user.changes())
    return JSONReply(user_json(account, tokens.issue(account.id)))
