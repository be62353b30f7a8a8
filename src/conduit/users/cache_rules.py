"""What the users feature declares about the response cache (see :mod:`conduit.core.cache`).

Author objects are embedded in articles, lists and comments, and a renamed user's old
profile must answer 404: a change to a user's public fields bumps
:data:`~conduit.core.cache.ALL`. The email or the password alone change nothing public.
Registering, sessions, roles, bans and linked providers change nothing an anonymous reader
sees (no public answer shows them; a new user has no articles yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conduit.core.cache import ALL, NOTHING, CacheRules
from conduit.users.events import (
    SessionRevoked,
    UserBanned,
    UserIdentityLinked,
    UserRegistered,
    UserRolesChanged,
    UserSignedOutEverywhere,
    UserUnbanned,
    UserUpdated,
)

PUBLIC = ("username", "bio", "image")  # the fields of a user that anonymous readers see


def _updated(data: Mapping[str, Any]) -> set[str]:
    # An event without ``changed`` is read as a change of everything public.
    return {ALL} if set(data.get("changed", PUBLIC)) & set(PUBLIC) else set()


RULES = CacheRules(
    invalidates={
        UserUpdated.type: _updated,
        UserRegistered.type: NOTHING,
        SessionRevoked.type: NOTHING,
        UserSignedOutEverywhere.type: NOTHING,
        UserRolesChanged.type: NOTHING,
        UserBanned.type: NOTHING,
        UserUnbanned.type: NOTHING,
        UserIdentityLinked.type: NOTHING,
    },
)
