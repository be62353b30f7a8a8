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


class SessionRevoked(EventData):
    type = "session.revoked"
    summary = (
        "A session (a refresh-token family and its access tokens) was revoked: `reason` is "
        "logout, reuse (an already rotated refresh token was presented) or ban."
    )

    user_id: int
    session_id: str
    reason: str


class UserSignedOutEverywhere(EventData):
    type = "user.signed_out_everywhere"
    summary = (
        "Every session of the user was revoked; access tokens issued before "
        "`revokedBefore` answer 401."
    )

    user_id: int
    revoked_before: str


class UserRolesChanged(EventData):
    type = "user.roles_changed"
    summary = "An admin (or the CLI) granted or revoked a role; `roles` is the new set."

    user_id: int
    username: str
    roles: list[str]


class UserBanned(EventData):
    type = "user.banned"
    summary = "An admin banned the user (reads only; sessions revoked)."

    user_id: int
    username: str


class UserUnbanned(EventData):
    type = "user.unbanned"
    summary = "An admin lifted the user's ban."

    user_id: int
    username: str


class UserIdentityLinked(EventData):
    type = "user.identity_linked"
    summary = (
        "An account at an OpenID Connect provider was linked to the user (at their first "
        "login with it); `provider` is the configured name."
    )

    user_id: int
    username: str
    provider: str
