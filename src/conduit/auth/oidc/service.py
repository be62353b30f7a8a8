"""Login with OpenID Connect: the authorization code flow with PKCE, framework-free.

:func:`begin` keeps a login in flight (random state, nonce and PKCE verifier in
``login_states``) and says where to send the browser. :func:`complete` consumes that state
(once: a replayed, unknown or stale state is refused), has the provider exchange the code
and verify the id_token, then signs in, in one transaction:

- the user already linked to (provider, subject); else
- the user with the same email, linked now, only when the provider says the email is
  verified (otherwise anyone who can set an email at the provider could take the account);
- else a new user, again only with a verified email: an unverified one could squat an
  address that its owner later registers (or links), so it is refused as well.

Provider failures or a refused login leave nothing behind but the consumed state (and the
audit record of a refusal, which :func:`prune` deletes after the retention period, with the
states of logins abandoned at the provider).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.auth import repository as sessions
from conduit.auth.audit import LOGIN_FAILED, LOGIN_SUCCEEDED
from conduit.auth.oidc.models import login_states, user_identities
from conduit.auth.service import SignedIn
from conduit.core import audit
from conduit.core.audit import Client, audit_log
from conduit.core.db import Database
from conduit.core.db_errors import is_unique_violation
from conduit.core.errors import NotFound
from conduit.core.identity import Claims, IdentityProvider, InvalidLogin
from conduit.core.policy import Banned
from conduit.core.security import TokenCodec, hash_password, password_work
from conduit.core.tables import utcnow
from conduit.core.validation import EMAIL_PATTERN, USERNAME_PATTERN
from conduit.users import repository
from conduit.users.events import UserIdentityLinked, UserRegistered
from conduit.users.exceptions import EmailNotVerified, NoEmail
from conduit.users.models import Account, users

LOGIN_STATE_TTL = dt.timedelta(minutes=10)
USERNAME_MAX = 64
_UNSAFE_IN_USERNAME = re.compile(r"[\s/\\?#%\x00-\x1f\x7f]+")
_PROVIDER_ERROR = re.compile(r"^[a-z_]{1,64}$")
_ATTEMPTS = 3  # a concurrent registration took the username or the email: look again


def provider_named(providers: Mapping[str, IdentityProvider], name: str) -> IdentityProvider:
    provider = providers.get(name)
    if provider is None:
        raise NotFound("provider")
    return provider


async def begin(
    db: Database,
    *,
    providers: Mapping[str, IdentityProvider],
    provider: str,
    redirect_uri: str,
) -> str:
    """Keep a new login in flight; the provider's authorization URL for it."""
    client = provider_named(providers, provider)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-] (RFC 7636)
    url = await client.authorization_url(
        state=state, nonce=nonce, code_verifier=code_verifier, redirect_uri=redirect_uri
    )
    now = utcnow()
    async with db.uow() as uow:
        # Logins abandoned at the provider: nobody will come back with their state.
        await uow.conn.execute(
            delete(login_states).where(login_states.c.created_at < now - LOGIN_STATE_TTL)
        )
        await uow.conn.execute(
            insert(login_states).values(
                state=state,
                provider=provider,
                nonce=nonce,
                code_verifier=code_verifier,
                created_at=now,
            )
        )
        await uow.commit()
    return url


@dataclass(frozen=True, slots=True)
class _Pending:
    nonce: str
    code_verifier: str
    created_at: dt.datetime


async def _consume(db: Database, *, provider: str, state: str) -> _Pending | None:
    """Take the login in flight out of the table: it can be used once, by one request."""
    async with db.uow() as uow:
        row = (
            await uow.conn.execute(
                select(
                    login_states.c.nonce, login_states.c.code_verifier, login_states.c.created_at
                ).where(login_states.c.state == state, login_states.c.provider == provider)
            )
        ).first()
        if row is None:
            return None
        deleted = await uow.conn.execute(
            delete(login_states).where(
                login_states.c.state == state, login_states.c.provider == provider
            )
        )
        if deleted.rowcount != 1:  # a concurrent callback with the same state took it
            return None
        await uow.commit()
    return _Pending(row.nonce, row.code_verifier, row.created_at)


async def complete(
    db: Database,
    *,
    providers: Mapping[str, IdentityProvider],
    provider: str,
    state: str | None,
    code: str | None,
    error: str | None = None,
    iss: str | None = None,
    redirect_uri: str,
    tokens: TokenCodec,
    session_ttl_seconds: int,
    client: Client = audit.UNKNOWN_CLIENT,
) -> SignedIn:
    """Finish the login the provider sent the browser back from; sign the user in (the
    same :class:`SignedIn` as a login with a password).

    A refused login is recorded in the audit log (``login.failed``, with the provider and
    the reason), in a transaction of its own; a provider that does not answer is not.
    Those records are kept for a while only (:func:`prune`).
    """
    idp = provider_named(providers, provider)
    try:
        account, issued = await _complete(
            db,
            idp=idp,
            provider=provider,
            state=state,
            code=code,
            error=error,
            iss=iss,
            redirect_uri=redirect_uri,
            session_ttl_seconds=session_ttl_seconds,
            client=client,
        )
    except (InvalidLogin, EmailNotVerified, NoEmail, Banned) as refused:
        field, messages = next(iter(refused.errors.items()))
        async with db.uow() as uow:
            await audit.record(
                uow.conn,
                LOGIN_FAILED,
                actor_id=None,
                client=client,
                details={"provider": provider, "reason": f"{field} {messages[0]}"},
            )
            await uow.commit()
        raise
    return SignedIn.issue(tokens, account, issued, refresh_ttl_seconds=session_ttl_seconds)


async def _complete(
    db: Database,
    *,
    idp: IdentityProvider,
    provider: str,
    state: str | None,
    code: str | None,
    error: str | None,
    iss: str | None,
    redirect_uri: str,
    session_ttl_seconds: int,
    client: Client,
) -> tuple[Account, sessions.IssuedSession]:
    if not state:
        raise InvalidLogin("state is missing")
    pending = await _consume(db, provider=provider, state=state)
    if pending is None:
        raise InvalidLogin("state is unknown or already used")
    if utcnow() - pending.created_at > LOGIN_STATE_TTL:
        raise InvalidLogin("has expired, start again")
    # RFC 9207: an answer of another provider (a mix-up attack) is refused, code unused.
    await idp.check_issuer(iss)
    if error:
        reason = error if _PROVIDER_ERROR.match(error) else "error"
        raise InvalidLogin(f"was refused by the provider ({reason})")
    if not code:
        raise InvalidLogin("code is missing")
    claims = await idp.verified_claims(
        code=code,
        code_verifier=pending.code_verifier,
        nonce=pending.nonce,
        redirect_uri=redirect_uri,
    )
    email = _email_of(claims)
    # A new user gets the hash of a password nobody knows: they sign in with the provider
    # (and may set a password later with PUT /user). Hashed up front, outside the transaction.
    unusable_hash = await password_work(hash_password, secrets.token_urlsafe(32))
    for attempt in range(_ATTEMPTS):
        try:
            return await _sign_in(
                db,
                provider=provider,
                claims=claims,
                email=email,
                unusable_hash=unusable_hash,
                session_ttl_seconds=session_ttl_seconds,
                client=client,
            )
        except IntegrityError as exc:
            if not is_unique_violation(exc) or attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _email_of(claims: Claims) -> str:
    email = (claims.email or "").strip().lower()
    if not email or len(email) > 254 or "\x00" in email or not EMAIL_PATTERN.match(email):
        raise NoEmail()
    return email


async def _sign_in(
    db: Database,
    *,
    provider: str,
    claims: Claims,
    email: str,
    unusable_hash: str,
    session_ttl_seconds: int,
    client: Client,
) -> tuple[Account, sessions.IssuedSession]:
    """The account signed in and its new session (a new or linked account in passing)."""
    async with db.uow() as uow:
        conn = uow.conn
        account = await _linked_account(conn, provider=provider, subject=claims.subject)
        if account is None:
            account = await repository.get_by_email(conn, email)
            if account is not None:
                if not claims.email_verified:
                    raise EmailNotVerified("belongs to an account; the provider must verify it")
            else:
                if not claims.email_verified:
                    raise EmailNotVerified("is not verified by the provider")
                username = await _free_username(conn, _username_base(claims, email))
                user_id = await repository.add(
                    conn, username=username, email=email, password_hash=unusable_hash
                )
                account = Account(user_id, username, email, None, None, unusable_hash)
                uow.emit(UserRegistered(user_id=user_id, username=username), actor_id=user_id)
            await conn.execute(
                insert(user_identities).values(
                    provider=provider,
                    subject=claims.subject,
                    user_id=account.id,
                    email=email,
                    created_at=utcnow(),
                )
            )
            uow.emit(
                UserIdentityLinked(
                    user_id=account.id, username=account.username, provider=provider
                ),
                actor_id=account.id,
            )
        if account.banned:
            raise Banned()
        issued = await sessions.start(conn, user_id=account.id, ttl_seconds=session_ttl_seconds)
        await audit.record(
            conn,
            LOGIN_SUCCEEDED,
            actor_id=account.id,
            subject_id=account.id,
            client=client,
            details={"provider": provider},
        )
        await uow.commit()
    return account, issued


async def _linked_account(conn: AsyncConnection, *, provider: str, subject: str) -> Account | None:
    user_id = (
        await conn.execute(
            select(user_identities.c.user_id).where(
                user_identities.c.provider == provider, user_identities.c.subject == subject
            )
        )
    ).scalar_one_or_none()
    return None if user_id is None else await repository.get_by_id(conn, user_id)


def _clean(candidate: str | None) -> str:
    if not candidate:
        return ""
    cleaned = _UNSAFE_IN_USERNAME.sub("-", candidate.strip()).strip("-.")
    return cleaned[: USERNAME_MAX - 8]  # room for a suffix


def _username_base(claims: Claims, email: str) -> str:
    """A valid username from the claims: preferred_username, else name, else the email's."""
    for candidate in (claims.preferred_username, claims.name, email.partition("@")[0]):
        cleaned = _clean(candidate)
        if cleaned and USERNAME_PATTERN.match(cleaned):
            return cleaned
    return "user"


async def _free_username(conn: AsyncConnection, base: str) -> str:
    """``base``, or ``base-2`` ... ``base-20``, or ``base-<random>``: the first not taken."""
    candidates = [base, *(f"{base}-{n}" for n in range(2, 21))]
    taken = set(
        (await conn.execute(select(users.c.username).where(users.c.username.in_(candidates))))
        .scalars()
        .all()
    )
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    return f"{base}-{secrets.token_hex(3)}"


# How the details of an OpenID Connect login's failure start (``record`` writes them with
# orjson, the provider first): password logins' failures (details {"email": ...}) are kept.
_PROVIDER_DETAILS = '{"provider":%'


@dataclass(frozen=True, slots=True)
class Pruned:
    failed_logins: int
    login_states: int


async def prune(db: Database, *, failed_logins_older_than: dt.timedelta) -> Pruned:
    """Delete the audit records of failed OpenID Connect logins older than the retention,
    and the states of logins abandoned at the provider (older than ``LOGIN_STATE_TTL``).

    Anyone can make a provider login fail (a forged or replayed callback), each failure an
    audit record: kept for ``failed_logins_older_than`` only, their number stays bounded.
    """
    now = utcnow()
    async with db.uow() as uow:
        failed = await uow.conn.execute(
            delete(audit_log).where(
                and_(
                    audit_log.c.type == LOGIN_FAILED,
                    audit_log.c.actor_id.is_(None),
                    audit_log.c.details.like(_PROVIDER_DETAILS),
                    audit_log.c.occurred_at < now - failed_logins_older_than,
                )
            )
        )
        states = await uow.conn.execute(
            delete(login_states).where(login_states.c.created_at < now - LOGIN_STATE_TTL)
        )
        await uow.commit()
    return Pruned(failed_logins=failed.rowcount or 0, login_states=states.rowcount or 0)
