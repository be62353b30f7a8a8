"""Errors of the users feature."""

from __future__ import annotations

from conduit.core.errors import Conflict, Unauthenticated


class InvalidCredentials(Unauthenticated):
    def __init__(self) -> None:
        super().__init__("credentials", "invalid")


class UnknownAccount(Unauthenticated):
    """A well-signed token for a user that no longer exists."""

    def __init__(self) -> None:
        super().__init__("token", "is invalid")


class AlreadyTaken(Conflict):
    def __init__(self, field: str) -> None:
        super().__init__(field, "has already been taken")
