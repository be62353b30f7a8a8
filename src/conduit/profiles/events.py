"""Events of the profiles feature."""

from __future__ import annotations

from conduit.core.events import EventData


class UserFollowed(EventData):
    type = "user.followed"
    summary = "A user started following another (only when they did not already)."

    follower_id: int
    followee_id: int
    followee_username: str


class UserUnfollowed(EventData):
    type = "user.unfollowed"
    summary = "A user stopped following another (only when they did)."

    follower_id: int
    followee_id: int
    followee_username: str
