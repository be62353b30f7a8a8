"""Response bodies of the profiles endpoints (spec: Profile)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from conduit.profiles.models import Profile


class ProfileModel(BaseModel):
    username: str
    bio: str | None
    image: str | None
    following: bool


class ProfileResponse(BaseModel):
    profile: ProfileModel


def profile_json(profile: Profile) -> dict[str, Any]:
    return {
        "username": profile.username,
        "bio": profile.bio,
        "image": profile.image,
        "following": profile.following,
    }
