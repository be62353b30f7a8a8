"""Revocations reach every instance: this one folds its committed events in at once
(access.apply), the others read the same rules from the database (access.load)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from conduit.auth import access
from conduit.auth import service as auth
from conduit.auth.service import SignedIn
from conduit.core.audit import UNKNOWN_CLIENT
from conduit.core.db import Database
from conduit.core.errors import Unauthenticated
from conduit.core.events import Event
from conduit.core.principal import AccessRules, Authenticator, Principal
from conduit.core.security import TokenCodec
from conduit.core.tables import utcnow

TTL = 3600


async def load_rules(db: Database) -> AccessRules:
    """What another instance's reload reads."""
    async with db.reader() as uow:
        return await access.load(uow.conn, horizon=utcnow() - dt.timedelta(seconds=TTL))


def refused(authenticator: Authenticator, token: str) -> bool:
    try:
        authenticator.authenticate(token)
    except Unauthenticated:
        return True
    return False


async def sign_in(db: Database, tokens: TokenCodec, *, first: bool) -> SignedIn:
    if first:
        return await auth.register(
            db,
            username="alice",
            email="alice@conduit.test",
            password="password123",
            client=UNKNOWN_CLIENT,
            tokens=tokens,
            refresh_ttl_seconds=TTL,
        )
    return await auth.login(
        db,
        email="alice@conduit.test",
        password="password123",
        client=UNKNOWN_CLIENT,
        tokens=tokens,
        refresh_ttl_seconds=TTL,
    )


@pytest.fixture
def committed(db: Database) -> list[Event]:
    """Every event this process commits, as the access-rules keeper hears them."""
    heard: list[Event] = []

    async def listen(events: Sequence[Event]) -> None:
        heard.extend(events)

    db.on_commit(listen)
    return heard


async def test_logout_and_everywhere_reach_other_instances_and_this_one(
    db: Database, tokens: TokenCodec, committed: list[Event]
) -> None:
    first = await sign_in(db, tokens, first=True)
    second = await sign_in(db, tokens, first=False)
    user_id = first.account.id
    token_1, token_2 = first.access_token, second.access_token

    await auth.logout(db, actor=Principal(id=user_id, session_id=first.session.session_id))
    elsewhere = Authenticator(tokens, await load_rules(db))
    here = Authenticator(tokens, access.apply(AccessRules(), committed))
    for authenticator in (elsewhere, here):
        assert refused(authenticator, token_1)
        assert not refused(authenticator, token_2)

    await auth.logout(
        db, actor=Principal(id=user_id, session_id=second.session.session_id), everywhere=True
    )
    after = tokens.issue(user_id)  # issued once the sign-out has returned
    loaded = await load_rules(db)
    folded = access.apply(AccessRules(), committed)
    assert folded.revoked_before == loaded.revoked_before
    assert folded.revoked_sessions <= loaded.revoked_sessions
    for rules in (loaded, folded):
        authenticator = Authenticator(tokens, rules)
        assert refused(authenticator, token_1)
        assert refused(authenticator, token_2)
        assert not refused(authenticator, after)


async def test_reuse_revokes_the_session_everywhere(
    db: Database, tokens: TokenCodec, committed: list[Event]
) -> None:
    signed_in = await sign_in(db, tokens, first=True)
    token = signed_in.access_token
    stolen = signed_in.refresh_token

    async def refresh() -> SignedIn:
        return await auth.refresh(
            db, refresh_token=stolen, client=UNKNOWN_CLIENT, tokens=tokens, refresh_ttl_seconds=TTL
        )

    await refresh()
    with pytest.raises(Unauthenticated):
        await refresh()
    for rules in (await load_rules(db), access.apply(AccessRules(), committed)):
        assert refused(Authenticator(tokens, rules), token)
