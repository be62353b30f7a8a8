"""Events of the users feature."""

from __future__ import annotations

from conduit.core.events import EventData


class UserRegistered(EventData):
    type = "user.registered"
    summary = "A new account was created."

    user_id: int
    username: str


class UserUpdated(EventData):
    type = "user.updated"
    summary = "A user changed their account; `changed` names the fields (never their values)."

    user_id: int
    username: str
    changed: list[str]
