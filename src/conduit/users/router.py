"""REST route of the current user: GET /user (its changes go through auth: a new password
ends the user's other sessions)."""

from __future__ import annotations

from fastapi import APIRouter

from conduit.http.kit import DB, CurrentUser, JSONReply, PresentedToken, error_responses
from conduit.users import service
from conduit.users.schemas import UserResponse, user_json

router = APIRouter(tags=["User and Authentication"])


@router.get(
    "/user",
    response_model=UserResponse,
    responses=error_responses(401, 422),
    summary="Get current user",
    operation_id="GetCurrentUser",
)
async def current_user(user: CurrentUser, db: DB, token: PresentedToken) -> JSONReply:
    # The token the caller sent, not a renewed one: a token must not extend its own life
    # (sessions renew through /users/refresh).
    account = await service.current(db, user_id=user.id)
    return JSONReply(user_json(account, token))
