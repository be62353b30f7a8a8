"""Use cases of sessions: sign up or in (a session starts), refresh, sign out.

Framework-free like every use case: the REST routes (auth/router.py), GraphQL and any other
entry point call these with plain values and the acting :class:`Principal`. A sign-in
answers one :class:`SignedIn` (the account, its access token, the refresh cookie's token
and lifetime) that every entry point renders alike. A login records an audit entry whether
it succeeds or fails (a failure in a transaction of its own, so that it stays recorded
while the request fails).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.auth import repository as sessions
from conduit.auth.audit import LOGIN_FAILED, LOGIN_SUCCEEDED, REFRESH_REUSED, SIGNED_OUT_EVERYWHERE
from conduit.auth.repository import IssuedSession
from conduit.core import audit
from conduit.core.audit import UNKNOWN_CLIENT, Client
from conduit.core.db import Database, UnitOfWork
from conduit.core.errors import Unauthenticated
from conduit.core.formatting import iso
from conduit.core.policy import Banned
from conduit.core.principal import Principal
from conduit.core.security import TokenCodec, hash_password, needs_rehash, password_work
from conduit.core.tables import utcnow
from conduit.users import repository, service
from conduit.users.events import SessionRevoked, UserSignedOutEverywhere
from conduit.users.exceptions import InvalidCredentials
from conduit.users.models import Account, users

# Why a session was revoked (sessions.revoked_reason and SessionRevoked.reason).
LOGOUT = "logout"
EVERYWHERE = "everywhere"
REUSE = "reuse"
PASSWORD = "password"  # noqa: S105 (a revocation reason, not a secret)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A user signed in with a new session: what every entry point hands the client.

    Every sign-in (registration, login, refresh, OpenID Connect) ends with one: the access
    token, already issued, names ``session.session_id``; the refresh token goes in the
    refresh cookie, which lives ``refresh_max_age`` seconds (the refresh-token lifetime).
    Entry points only render it (REST and GraphQL: the user and the cookie alike).
    """

    account: Account
    session: IssuedSession
    access_token: str
    refresh_max_age: int

    @property
    def refresh_token(self) -> str:
        return self.session.refresh_token

    @classmethod
    def issue(
        cls,
        tokens: TokenCodec,
        account: Account,
        session: IssuedSession,
        *,
        refresh_ttl_seconds: int,
    ) -> SignedIn:
        """The result of a sign-in that started (or rotated) ``session``: its access token
        is issued now."""
        token = tokens.issue(account.id, session_id=session.session_id)
        return cls(account, session, token, refresh_ttl_seconds)


class InvalidRefreshToken(Unauthenticated):
    def __init__(self, message: str = "is invalid") -> None:
        super().__init__("refresh token", message)


async def register(
    db: Database,
    *,
    username: str,
    email: str,
    password: str,
    client: Client,
    tokens: TokenCodec,
    refresh_ttl_seconds: int,
) -> SignedIn:
    """Create the account and its first session in one transaction."""
    started: list[IssuedSession] = []

    async def start_session(conn: AsyncConnection, account: Account) -> None:
        started.append(
            await sessions.start(conn, user_id=account.id, ttl_seconds=refresh_ttl_seconds)
        )
        await audit.record(
            conn,
            LOGIN_SUCCEEDED,
            actor_id=account.id,
            subject_id=account.id,
            client=client,
            details={"method": "register", "sessionId": started[-1].session_id},
        )

    account = await service.register(
        db, username=username, email=email, password=password, within=start_session
    )
    return SignedIn.issue(tokens, account, started[-1], refresh_ttl_seconds=refresh_ttl_seconds)


async def login(
    db: Database,
    *,
    email: str,
    password: str,
    client: Client,
    tokens: TokenCodec,
    refresh_ttl_seconds: int,
) -> SignedIn:
    """Check the credentials and start a session; a banned account is refused (403)."""
    account = await service.verify_credentials(db, email=email, password=password)
    if account is None:
        await _login_failed(db, email=email, client=client, reason="credentials")
        raise InvalidCredentials()
    if account.banned:
        await _login_failed(db, email=email, client=client, reason="banned", user_id=account.id)
        raise Banned()
    new_hash = None
    if needs_rehash(account.password_hash):
        new_hash = await password_work(hash_password, password)
    async with db.uow() as uow:
        if new_hash is not None:
            await repository.change(uow.conn, account.id, {"password_hash": new_hash})
        issued = await sessions.start(uow.conn, user_id=account.id, ttl_seconds=refresh_ttl_seconds)
        await audit.record(
            uow.conn,
            LOGIN_SUCCEEDED,
            actor_id=account.id,
            subject_id=account.id,
            client=client,
            details={"method": "password", "sessionId": issued.session_id},
        )
        await uow.commit()
    return SignedIn.issue(tokens, account, issued, refresh_ttl_seconds=refresh_ttl_seconds)


async def _login_failed(
    db: Database, *, email: str, client: Client, reason: str, user_id: int | None = None
) -> None:
    """The failure's record, in its own transaction (never the password).

    Its subject is the account the email names, if one does, so that an admin sees the
    attempts on an account.
    """
    async with db.uow() as uow:
        if user_id is None:
            named = await repository.get_by_email(uow.conn, email)
            user_id = None if named is None else named.id
        await audit.record(
            uow.conn,
            LOGIN_FAILED,
            actor_id=None,
            subject_id=user_id,
            client=client,
            details={"email": email, "reason": reason},
        )
        await uow.commit()


async def refresh(
    db: Database,
    *,
    refresh_token: str | None,
    client: Client,
    tokens: TokenCodec,
    refresh_ttl_seconds: int,
    reuse_grace_seconds: int = 0,
) -> SignedIn:
    """Exchange a refresh token for the next one of its session (and a new access token).

    An unknown or expired token, or one of a revoked session, is refused (401). A token
    exchanged less than ``reuse_grace_seconds`` ago (or a moment ago by a concurrent
    request: two tabs refreshing at once) answers the same next token again. Exchanged
    earlier, it was copied: the whole session is revoked, its access tokens with it, and the
    reuse is audited (401). A banned user may not refresh (403).
    """
    if not refresh_token:
        raise InvalidRefreshToken("is missing")
    issued: IssuedSession | None = None
    successor = sessions.successor_of(refresh_token, secret=tokens.secret)
    async with db.uow() as uow:
        presented = await sessions.find(uow.conn, refresh_token)
        if presented is None:
            raise InvalidRefreshToken()
        if presented.session_revoked:
            raise InvalidRefreshToken("has been revoked")
        if presented.session_expires_at <= utcnow():
            raise InvalidRefreshToken("has expired")
        account = await repository.get_by_id(uow.conn, presented.user_id)
        if account is None:
            raise InvalidRefreshToken()
        if not presented.rotated:
            if account.banned:
                raise Banned()
            issued = await sessions.rotate(
                uow.conn,
                refresh_token,
                successor=successor,
                session_id=presented.session_id,
                ttl_seconds=refresh_ttl_seconds,
            )
        if issued is None and _in_grace(presented, reuse_grace_seconds):
            # Exchanged a moment ago (by a concurrent request if we saw it unused): the same
            # successor again, issued by that exchange (committed before ours could tell).
            if account.banned:
                raise Banned()
            issued = await sessions.successor_issued(
                uow.conn, successor, session_id=presented.session_id
            )
        if issued is None:
            # Presented again after it was exchanged, past the grace period: it was copied.
            if await sessions.revoke(
                uow.conn, session_id=presented.session_id, user_id=account.id, reason=REUSE
            ):
                uow.emit(
                    SessionRevoked(
                        user_id=account.id, session_id=presented.session_id, reason=REUSE
                    ),
                    actor_id=None,
                )
            await audit.record(
                uow.conn,
                REFRESH_REUSED,
                actor_id=None,
                subject_id=account.id,
                client=client,
                details={"sessionId": presented.session_id},
            )
        await uow.commit()
    if issued is None:  # reuse: the session is revoked now
        raise InvalidRefreshToken("has been revoked")
    return SignedIn.issue(tokens, account, issued, refresh_ttl_seconds=refresh_ttl_seconds)


def _in_grace(presented: sessions.PresentedToken, grace_seconds: int) -> bool:
    """Whether a token that is no longer unused was exchanged within the grace period (one
    we read unused was exchanged by a concurrent request, just now)."""
    if grace_seconds <= 0:
        return False
    if presented.rotated_at is None:
        return True
    return presented.rotated_at > utcnow() - dt.timedelta(seconds=grace_seconds)


def next_millisecond(moment: dt.datetime) -> dt.datetime:
    """``moment`` rounded up to a whole millisecond (as events and the API write times)."""
    extra = moment.microsecond % 1000
    return moment if extra == 0 else moment + dt.timedelta(microseconds=1000 - extra)


async def logout(
    db: Database,
    *,
    actor: Principal,
    everywhere: bool = False,
    refresh_token: str | None = None,
    client: Client = UNKNOWN_CLIENT,
) -> None:
    """Revoke the actor's current session, or every session of theirs (``everywhere``).

    The current session is the access token's; for a token without one, the session of the
    presented refresh token (if it is the actor's). Everywhere also cuts off every access
    token issued until now, sessions or not.
    """
    cutoff = None
    async with db.uow() as uow:
        if everywhere:
            cutoff = await _cut_off(uow, actor, reason=EVERYWHERE, client=client)
        else:
            session_id = actor.session_id
            if session_id is None and refresh_token:
                presented = await sessions.find(uow.conn, refresh_token)
                if presented is not None and presented.user_id == actor.id:
                    session_id = presented.session_id
            if session_id is not None and await sessions.revoke(
                uow.conn, session_id=session_id, user_id=actor.id, reason=LOGOUT
            ):
                uow.emit(
                    SessionRevoked(user_id=actor.id, session_id=session_id, reason=LOGOUT),
                    actor_id=actor.id,
                )
        await uow.commit()
    if cutoff is not None:
        await wait_past(cutoff)


async def _cut_off(
    uow: UnitOfWork,
    actor: Principal,
    *,
    reason: str,
    client: Client,
) -> dt.datetime:
    """Sign the actor out everywhere: revoke the sessions and cut off every access token
    issued before the (returned) cutoff."""
    cutoff = next_millisecond(utcnow())
    await uow.conn.execute(
        update(users).where(users.c.id == actor.id).values(tokens_revoked_before=cutoff)
    )
    revoked = await sessions.revoke_all(uow.conn, user_id=actor.id, reason=reason)
    uow.emit(
        UserSignedOutEverywhere(user_id=actor.id, revoked_before=iso(cutoff)),
        actor_id=actor.id,
    )
    await audit.record(
        uow.conn,
        SIGNED_OUT_EVERYWHERE,
        actor_id=actor.id,
        subject_id=actor.id,
        client=client,
        details={"sessions": revoked},
    )
    return cutoff


async def wait_past(cutoff: dt.datetime) -> None:
    """A token issued once this returns is never older than the cutoff (which was rounded
    up), so a token issued right after a cut-off is not cut off itself."""
    wait = (cutoff - utcnow()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)


async def update_account(
    db: Database, *, actor: Principal, changes: dict[str, Any], client: Client = UNKNOWN_CLIENT
) -> Account:
    """Change the account; a new password also signs out every other session.

    A password change means the old one may be known to someone else: every other session
    of the user is revoked, its refresh token and its access tokens with it. The caller's
    own session and token keep working (RealWorld frontends keep using the token they hold).
    """
    if "password" not in changes:
        return await service.update(db, actor=actor, changes=changes)

    async def sign_out_elsewhere(uow: UnitOfWork) -> None:
        others = [
            session_id
            for session_id in await sessions.open_sessions(uow.conn, user_id=actor.id)
            if session_id != actor.session_id
        ]
        for session_id in others:
            await sessions.revoke(
                uow.conn, session_id=session_id, user_id=actor.id, reason=PASSWORD
            )
            uow.emit(
                SessionRevoked(user_id=actor.id, session_id=session_id, reason=PASSWORD),
                actor_id=actor.id,
            )
        await audit.record(
            uow.conn,
            SIGNED_OUT_EVERYWHERE,
            actor_id=actor.id,
            subject_id=actor.id,
            client=client,
            details={"sessions": len(others), "reason": PASSWORD, "kept": actor.session_id},
        )

    return await service.update(db, actor=actor, changes=changes, within=sign_out_elsewhere)
