"""Who is calling: the principal every entry point (REST, WebSocket, GraphQL) builds once.

:class:`Authenticator` turns a raw access token into a :class:`Principal` without touching
the network, the database or a framework: the signature and expiry come from the token,
revocations, bans and roles from :class:`AccessRules`, a snapshot each instance keeps in
memory and updates (at once after its own changes; for other instances', when the wake-up
channel tells of one, else every second).
:func:`token_of` is the one reading of the ``Authorization`` header every entry point shares.
Use cases receive the principal and decide with :mod:`conduit.core.policy`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.core.db import Database
from conduit.core.errors import Unauthenticated
from conduit.core.events import Event
from conduit.core.security import TokenCodec
from conduit.core.tables import utcnow
from conduit.core.wakeups import OUTBOX, LocalWakeups, Wakeups

_log = structlog.get_logger("conduit.access")

USER = "user"
MODERATOR = "moderator"
ADMIN = "admin"
ROLES = (USER, MODERATOR, ADMIN)  # ``user`` is everyone's; the others are granted

TOKEN_SCHEMES = ("token", "bearer")  # of the Authorization header, in any case


def token_of(authorization: str | None) -> str | None:
    """The access token of an ``Authorization`` value: ``Token <jwt>`` or ``Bearer <jwt>``.

    The one reading of the header, shared by REST, GraphQL (requests, the WebSocket
    handshake and its ``connection_init`` payload) and the rate limiter. The scheme is
    case-insensitive and spaces around the value and the token are ignored. None when
    there is no value or a blank one (an anonymous caller); ``Unauthenticated("token",
    "is invalid")`` for another scheme or an empty token: each caller decides what that
    means (REST refuses a required route, reads an optional one as anonymous).
    """
    if authorization is None or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in TOKEN_SCHEMES or not token:
        raise Unauthenticated("token", "is invalid")
    return token


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in user as far as the token and the access rules tell."""

    id: int
    roles: frozenset[str] = frozenset({USER})
    session_id: str | None = None
    banned: bool = False


@dataclass(frozen=True, slots=True)
class AccessRules:
    """What the database says about tokens and users, held in memory by each instance.

    Small by construction: only users who signed out everywhere (within a token lifetime),
    sessions revoked within a token lifetime, banned users and users with granted roles.
    """

    revoked_before: Mapping[int, dt.datetime] = field(default_factory=dict)
    revoked_sessions: frozenset[str] = frozenset()
    banned: frozenset[int] = frozenset()
    granted_roles: Mapping[int, frozenset[str]] = field(default_factory=dict)

    def roles_of(self, user_id: int) -> frozenset[str]:
        return frozenset({USER}) | self.granted_roles.get(user_id, frozenset())


class Authenticator:
    """Checks access tokens against the signing key and the current access rules."""

    def __init__(self, tokens: TokenCodec, rules: AccessRules | None = None) -> None:
        self.tokens = tokens
        self.rules = rules or AccessRules()

    def update(self, rules: AccessRules) -> None:
        self.rules = rules

    def authenticate(self, token: str) -> Principal:
        """The principal a valid, unrevoked access token names; Unauthenticated otherwise."""
        claims = self.tokens.decode(token)
        rules = self.rules
        cutoff = rules.revoked_before.get(claims.user_id)
        if cutoff is not None and claims.issued_at < cutoff.replace(tzinfo=dt.UTC).timestamp():
            raise Unauthenticated("token", "has been revoked")
        if claims.session_id is not None and claims.session_id in rules.revoked_sessions:
            raise Unauthenticated("token", "has been revoked")
        return Principal(
            id=claims.user_id,
            roles=rules.roles_of(claims.user_id),
            session_id=claims.session_id,
            banned=claims.user_id in rules.banned,
        )


def authenticate(tokens: TokenCodec, token: str) -> Principal:
    """A principal from the token alone (no access rules): for tools and tests."""
    return Authenticator(tokens).authenticate(token)


RulesLoader = Callable[[AsyncConnection, dt.datetime], Awaitable[AccessRules]]
RulesFolder = Callable[[AccessRules, Sequence[Event]], AccessRules]


class AccessRulesKeeper:
    """Keeps an :class:`Authenticator`'s rules current on this instance.

    Its own changes apply when their transaction commits (``on_commit``, no query: the
    events say what changed). Other instances' are read by :meth:`run`: when ``wakeups``
    tells that events of one of the types ``wakes_on`` were committed (the feature that
    owns the rules names them), and every ``safety_interval`` seconds for a notification
    that was lost; without a wake-up channel, or while it is down, every ``interval``
    seconds. While the database is unreachable the last rules stay in force.
    """

    def __init__(
        self,
        db: Database,
        authenticator: Authenticator,
        *,
        load: RulesLoader,
        fold: RulesFolder,
        interval: float,
        wakeups: Wakeups | None = None,
        wakes_on: Collection[str] = (),
        safety_interval: float = 30.0,
    ) -> None:
        self.db = db
        self.authenticator = authenticator
        self._load = load
        self._fold = fold
        self.interval = interval
        self._wake = (wakeups or LocalWakeups()).subscribe(
            OUTBOX, only=wakes_on, poll=interval, safety=safety_interval
        )
        db.on_commit(self.on_commit)

    async def on_commit(self, events: Sequence[Event]) -> None:
        self.authenticator.update(self._fold(self.authenticator.rules, events))

    async def reload(self) -> None:
        """Read the rules as stored. From the primary on a database server: a wake-up says
        the primary committed a change, which a read replica may not have replayed yet."""
        horizon = utcnow() - dt.timedelta(seconds=self.authenticator.tokens.ttl_seconds)
        dialect = self.db.dialect
        engine = self.db.read_engine if dialect == "sqlite" else self.db.engine
        async with engine.connect() as conn:
            if dialect == "postgresql":  # one snapshot per statement anyway: no BEGIN
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            rules = await self._load(conn, horizon)
        self.authenticator.update(rules)

    async def run(self) -> None:
        """Reload, then sleep until woken or the interval passes, forever (cancel to stop);
        failures are logged and retried next time."""
        while True:
            self._wake.clear()  # a change committed during the reload wakes the next one
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("access_rules_reload_failed", error=str(exc).splitlines()[0:1])
            await self._wake.sleep()
