"""Account administration against the database: what other instances load, and the rules."""

from __future__ import annotations

import datetime as dt

import pytest

from conduit.admin import service as admin
from conduit.auth import access
from conduit.auth import repository as sessions
from conduit.core.db import Database
from conduit.core.errors import Forbidden
from conduit.core.policy import Banned
from conduit.core.principal import Principal
from conduit.core.tables import utcnow
from conduit.users import service as users
from tests.integration.support import make_user

ADMIN = Principal(id=0, roles=frozenset({"user", "admin"}))


async def test_other_instances_load_roles_and_bans_as_stored(db: Database) -> None:
    """A second instance learns of roles and bans from load(); ban-revoked sessions still
    read (they are not in the revoked set), other revocations are."""
    root = await make_user(db, "root")
    troll = await make_user(db, "troll")
    await admin.grant(db, username="root", role="admin", actor=None)
    await admin.grant(db, username="troll", role="moderator", actor=None)
    async with db.uow() as uow:
        issued = await sessions.start(uow.conn, user_id=troll, ttl_seconds=3600)
        await uow.commit()
    acting = Principal(id=root, roles=frozenset({"user", "admin"}))
    status = await admin.set_account(
        db, actor=acting, username="troll", roles=["user"], banned=True
    )
    assert (status.roles, status.banned) == (("user",), True)

    async with db.reader() as uow:
        rules = await access.load(uow.conn, horizon=utcnow() - dt.timedelta(hours=1))
    assert rules.roles_of(root) == {"user", "admin"}
    assert rules.roles_of(troll) == {"user"}
    assert rules.banned == {troll}
    assert issued.session_id not in rules.revoked_sessions

    assert troll not in rules.revoked_before

    issued_before = utcnow()
    await admin.set_account(db, actor=acting, username="troll", banned=False)
    async with db.reader() as uow:
        rules = await access.load(uow.conn, horizon=utcnow() - dt.timedelta(hours=1))
    assert rules.banned == frozenset()
    # The tokens issued before the unban stay cut off on every instance.
    assert rules.revoked_before[troll] >= issued_before


async def test_use_cases_refuse_banned_and_unprivileged_actors(db: Database) -> None:
    user_id = await make_user(db, "someone")
    with pytest.raises(Banned):
        await users.update(db, actor=Principal(id=user_id, banned=True), changes={"bio": "x"})
    moderator = Principal(id=user_id, roles=frozenset({"user", "moderator"}))
    with pytest.raises(Forbidden):
        await admin.set_account(db, actor=moderator, username="someone", banned=True)
    with pytest.raises(Forbidden):
        await admin.grant(db, username="someone", role="admin", actor=moderator)
    with pytest.raises(Banned):
        await admin.grant(
            db,
            username="someone",
            role="admin",
            actor=Principal(id=0, roles=ADMIN.roles, banned=True),
        )
    assert (await users.current(db, user_id=user_id)).roles == {"user"}
