"""Errors of the users feature."""

from __future__ import annotations

from conduit.core.errors import ConduitError, Conflict, Forbidden, NotFound, Unauthenticated


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


class UserNotFound(NotFound):
    """No user has the username an admin (or the CLI) named."""

    def __init__(self) -> None:
        super().__init__("user")


class LockingOneselfOut(Forbidden):
    """An admin tried to ban themselves or drop their own admin role."""

    def __init__(self, message: str) -> None:
        ConduitError.__init__(self, "user", message)


class EmailNotVerified(Forbidden):
    """Login with a provider whose email claim is not verified: no account is linked or made."""

    def __init__(self, message: str) -> None:
        ConduitError.__init__(self, "email", message)


class NoEmail(Forbidden):
    """The provider gave no usable email (the email scope was not granted)."""

    def __init__(self) -> None:
        ConduitError.__init__(self, "email", "is missing from the provider's answer")
