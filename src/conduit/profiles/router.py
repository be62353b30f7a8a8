"""REST routes of the profiles feature: /profiles/{username}[/follow]."""

from __future__ import annotations

from fastapi import APIRouter

from conduit.http.kit import DB, CurrentUser, JSONReply, Viewer, error_responses
from conduit.profiles import service
from conduit.profiles.schemas import ProfileResponse, profile_json

router = APIRouter(tags=["Profile"])


@router.get(
    "/profiles/{username}",
    response_model=ProfileResponse,
    responses=error_responses(401, 404, 422),
    summary="Get a profile",
    operation_id="GetProfileByUsername",
)
async def get_profile(username: str, viewer: Viewer, db: DB) -> JSONReply:
    profile = await service.get(db, username=username, viewer_id=viewer.id if viewer else None)
    return JSONReply({"profile": profile_json(profile)})


@router.post(
    "/profiles/{username}/follow",
    response_model=ProfileResponse,
    responses=error_responses(401, 403, 404, 422),
    summary="Follow a user",
    operation_id="FollowUserByUsername",
)
async def follow(username: str, user: CurrentUser, db: DB) -> JSONReply:
    profile = await service.follow(db, username=username, actor=user)
    return JSONReply({"profile": profile_json(profile)})


@router.delete(
    "/profiles/{username}/follow",
    response_model=ProfileResponse,
    responses=error_responses(401, 403, 404, 422),
    summary="Unfollow a user",
    operation_id="UnfollowUserByUsername",
)
async def unfollow(username: str, user: CurrentUser, db: DB) -> JSONReply:
    profile = await service.unfollow(db, username=username, actor=user)
    return JSONReply({"profile": profile_json(profile)})
