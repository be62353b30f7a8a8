"""The access rules each instance keeps in memory: loaded from the accounts' tables on
every backend, folded from this process's own events at commit, enforced on tokens."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, update

from conduit.auth import access
from conduit.auth import repository as sessions
from conduit.auth.models import sessions as session_rows
from conduit.core.db import Database
from conduit.core.errors import Unauthenticated
from conduit.core.formatting import iso
from conduit.core.principal import AccessRulesKeeper, Authenticator
from conduit.core.security import TokenCodec
from conduit.core.tables import utcnow
from conduit.users.events import (
    SessionRevoked,
    UserBanned,
    UserRolesChanged,
    UserSignedOutEverywhere,
    UserUnbanned,
)
from conduit.users.models import user_roles, users
from tests.integration.support import make_user

CODEC = TokenCodec(secret="access-rules-test-secret-0123456789-abcdef", ttl_seconds=3600)


def keeper_for(db: Database) -> AccessRulesKeeper:
    return AccessRulesKeeper(
        db,
        Authenticator(CODEC),
        load=lambda conn, horizon: access.load(conn, horizon=horizon),
        fold=access.apply,
        interval=1.0,
    )


async def test_reload_reads_cutoffs_revoked_sessions_bans_and_roles(db: Database) -> None:
    alice, bob, carol = [await make_user(db, name) for name in ("alice", "bob", "carol")]
    keeper = keeper_for(db)
    before_cutoff = CODEC.issue(alice, now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    async with db.uow() as uow:
        kept = await sessions.start(uow.conn, user_id=bob, ttl_seconds=60)
        gone = await sessions.start(uow.conn, user_id=bob, ttl_seconds=60)
        banned_session = await sessions.start(uow.conn, user_id=carol, ttl_seconds=60)
        await uow.conn.execute(
            update(users).where(users.c.id == alice).values(tokens_revoked_before=utcnow())
        )
        await uow.conn.execute(
            update(session_rows)
            .where(session_rows.c.id == gone.session_id)
            .values(revoked_at=utcnow(), revoked_reason="logout")
        )
        await uow.conn.execute(
            update(session_rows)
            .where(session_rows.c.id == banned_session.session_id)
            .values(revoked_at=utcnow(), revoked_reason="ban")
        )
        await uow.conn.execute(update(users).where(users.c.id == carol).values(banned_at=utcnow()))
        await uow.conn.execute(insert(user_roles).values(user_id=bob, role="moderator"))
        await uow.commit()

    await keeper.reload()
    authenticate = keeper.authenticator.authenticate

    with pytest.raises(Unauthenticated):
        authenticate(before_cutoff)  # signed out everywhere after it was issued
    assert authenticate(CODEC.issue(alice)).id == alice  # a later token works
    with pytest.raises(Unauthenticated):
        authenticate(CODEC.issue(bob, session_id=gone.session_id))
    moderator = authenticate(CODEC.issue(bob, session_id=kept.session_id))
    assert moderator.roles == {"user", "moderator"}
    assert moderator.session_id == kept.session_id
    banned = authenticate(CODEC.issue(carol, session_id=banned_session.session_id))
    assert banned.banned  # a ban's revocation leaves reads working; writes answer 403
    assert not moderator.banned


async def test_own_commits_apply_at_once_without_a_reload(db: Database) -> None:
    alice = await make_user(db, "alice")
    keeper = keeper_for(db)
    authenticate = keeper.authenticator.authenticate
    old = CODEC.issue(
        alice, session_id="s-1", now=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    )
    assert authenticate(old).roles == {"user"}

    async with db.uow() as uow:
        uow.emit(
            UserRolesChanged(user_id=alice, username="alice", roles=["admin", "user"]),
            actor_id=None,
        )
        uow.emit(UserBanned(user_id=alice, username="alice"), actor_id=None)
        await uow.commit()
    principal = authenticate(old)
    assert principal.roles == {"user", "admin"}
    assert principal.banned

    async with db.uow() as uow:
        uow.emit(UserUnbanned(user_id=alice, username="alice"), actor_id=None)
        uow.emit(SessionRevoked(user_id=alice, session_id="s-1", reason="logout"), actor_id=alice)
        await uow.commit()
    with pytest.raises(Unauthenticated):
        authenticate(old)
    assert not authenticate(CODEC.issue(alice, session_id="s-2")).banned

    async with db.uow() as uow:
        uow.emit(
            UserSignedOutEverywhere(user_id=alice, revoked_before=iso(utcnow())), actor_id=alice
        )
        await uow.commit()
    with pytest.raises(Unauthenticated):
        authenticate(
            CODEC.issue(
                alice, session_id="s-2", now=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )


async def _ban_then_fail(db: Database, user_id: int) -> None:
    async with db.uow() as uow:
        uow.emit(UserBanned(user_id=user_id, username="alice"), actor_id=None)
        raise RuntimeError("the use case failed before committing")


async def test_a_rolled_back_change_is_not_applied(db: Database) -> None:
    alice = await make_user(db, "alice")
    keeper = keeper_for(db)
    with pytest.raises(RuntimeError):
        await _ban_then_fail(db, alice)
    assert not keeper.authenticator.authenticate(CODEC.issue(alice)).banned
