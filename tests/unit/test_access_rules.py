"""How this instance's own committed account events change its access rules at once."""

from __future__ import annotations

from conduit.auth import access
from conduit.core.events import Event
from conduit.core.principal import AccessRules, Authenticator
from conduit.core.security import TokenCodec
from conduit.users.events import SessionRevoked, UserBanned, UserRolesChanged, UserUnbanned
from tests.conftest import TEST_SECRET


def test_role_changes_bans_and_unbans_fold_into_the_rules() -> None:
    tokens = TokenCodec(secret=TEST_SECRET, ttl_seconds=60)
    authenticator = Authenticator(tokens)
    token = tokens.issue(7, session_id="s-1")

    def fold(*events: Event) -> None:
        authenticator.update(access.apply(authenticator.rules, events))

    fold(
        Event.of(UserRolesChanged(user_id=7, username="u", roles=["moderator", "user"]), actor_id=1)
    )
    assert authenticator.authenticate(token).roles == {"user", "moderator"}
    fold(
        Event.of(SessionRevoked(user_id=7, session_id="s-1", reason="ban"), actor_id=1),
        Event.of(UserBanned(user_id=7, username="u"), actor_id=1),
    )
    banned = authenticator.authenticate(token)  # a ban leaves reading: still authenticated
    assert banned.banned
    assert banned.session_id == "s-1"
    fold(Event.of(UserRolesChanged(user_id=7, username="u", roles=["user"]), actor_id=1))
    fold(Event.of(UserUnbanned(user_id=7, username="u"), actor_id=1))
    lifted = authenticator.authenticate(token)
    assert (lifted.banned, lifted.roles) == (False, {"user"})


def test_other_users_are_untouched() -> None:
    rules = AccessRules(banned=frozenset({3}), granted_roles={3: frozenset({"admin"})})
    after = access.apply(
        rules,
        [
            Event.of(
                UserRolesChanged(user_id=4, username="v", roles=["admin", "user"]), actor_id=None
            )
        ],
    )
    assert after.roles_of(3) == {"user", "admin"}
    assert after.roles_of(4) == {"user", "admin"}
    assert after.banned == {3}
