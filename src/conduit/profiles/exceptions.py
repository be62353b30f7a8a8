"""Errors of the profiles feature."""

from __future__ import annotations

from conduit.core.errors import Invalid, NotFound


class ProfileNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("profile")


class CannotFollowSelf(Invalid):
    def __init__(self) -> None:
        super().__init__("profile", "can't follow yourself")
