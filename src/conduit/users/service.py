"""Use cases of the users feature: register, check credentials, read and change the current
user. Signing in (a session, the ban check, the audit record) is auth.service's."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.core import policy
from conduit.core.db import Database, UnitOfWork
from conduit.core.db_errors import is_unique_violation, retry_deadlocks
from conduit.core.errors import ConduitError
from conduit.core.principal import Principal
from conduit.core.security import hash_password, password_work, verify_password
from conduit.users import repository
from conduit.users.events import UserRegistered, UserUpdated
from conduit.users.exceptions import AlreadyTaken, UnknownAccount
from conduit.users.models import Account


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both failures take the same time.

    Made on first use, not at import: argon2 is slow on purpose and start-up pays for it.
    """
    return hash_password("conduit-timing-equalizer")


def _verify(password: str, hashed: str | None) -> bool:
    return verify_password(password, _dummy_hash() if hashed is None else hashed)


# Events name what changed as the API does, and never carry a secret.
_PUBLIC_NAMES = {"password_hash": "password"}

# Work a caller adds to the registration's transaction (e.g. starting a session).
WithinRegistration = Callable[[AsyncConnection, Account], Awaitable[None]]


def _conflict(fields: list[str]) -> ConduitError:
    return AlreadyTaken.many({field: ["has already been taken"] for field in fields})


async def require_account(conn: AsyncConnection, user_id: int) -> Account:
    """The signed-in user's account; a token for a vanished user is refused."""
    account = await repository.get_by_id(conn, user_id)
    if account is None:
        raise UnknownAccount()
    return account


async def register(
    db: Database,
    *,
    username: str,
    email: str,
    password: str,
    within: WithinRegistration | None = None,
) -> Account:
    """Create the account; ``within`` runs in the same transaction, before the commit."""
    password_hash = await password_work(hash_password, password)

    async def insert() -> Account | None:
        async with db.uow() as uow:
            taken = await repository.taken_fields(uow.conn, username=username, email=email)
            if taken:
                raise _conflict(taken)
            try:
                user_id = await repository.add(
                    uow.conn, username=username, email=email, password_hash=password_hash
                )
                uow.emit(UserRegistered(user_id=user_id, username=username), actor_id=user_id)
                account = Account(user_id, username, email, None, None, password_hash)
                if within is not None:
                    await within(uow.conn, account)
                await uow.commit()
            except IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
                return None
            return account

    # InnoDB may pick a registration that waits on a concurrent one's key as a deadlock
    # victim; run again, it meets the constraint like any lost race.
    account = await retry_deadlocks(insert)
    if account is not None:
        return account
    # Lost a race with a concurrent registration: the constraint spoke; say which field.
    async with db.uow() as uow:
        taken = await repository.taken_fields(uow.conn, username=username, email=email)
    raise _conflict(taken or ["username"])


async def verify_credentials(db: Database, *, email: str, password: str) -> Account | None:
    """The account these credentials open, or None (same time for an unknown email).

    Read on the primary: a password changed a moment ago must already be the one that
    works (a read replica may not have replayed the change yet)."""
    async with db.reader(on_primary=True) as uow:
        account = await repository.get_by_email(uow.conn, email)
    hashed = account.password_hash if account else None
    valid = await password_work(_verify, password, hashed)
    return account if account is not None and valid else None


async def current(db: Database, *, user_id: int) -> Account:
    async with db.reader() as uow:
        return await require_account(uow.conn, user_id)


async def update(
    db: Database,
    *,
    actor: Principal,
    changes: dict[str, Any],
    within: Callable[[UnitOfWork], Awaitable[None]] | None = None,
) -> Account:
    """Apply a partial update; ``changes`` holds only the keys the user sent.

    ``within`` runs in the same transaction when something changes (a password change
    revokes the other sessions: see auth.service.update_account).
    """
    policy.require_active(actor)
    user_id = actor.id
    values = dict(changes)
    password = values.pop("password", None)
    if password is not None:
        values["password_hash"] = await password_work(hash_password, password)
    try:
        async with db.uow() as uow:
            account = await require_account(uow.conn, user_id)
            taken = await repository.taken_fields(
                uow.conn,
                username=values.get("username"),
                email=values.get("email"),
                except_id=user_id,
            )
            if taken:
                raise _conflict(taken)
            if values:
                await repository.change(uow.conn, user_id, values)
                uow.emit(
                    UserUpdated(
                        user_id=user_id,
                        username=values.get("username", account.username),
                        changed=sorted(_PUBLIC_NAMES.get(key, key) for key in values),
                    ),
                    actor_id=user_id,
                )
                if within is not None:
                    await within(uow)
                await uow.commit()
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise _conflict([k for k in ("username", "email") if k in values] or ["username"]) from None
    kept = ("username", "email", "bio", "image", "password_hash")
    return replace(account, **{key: values[key] for key in kept if key in values})
