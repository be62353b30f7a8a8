"""What every resolver gets: the caller (as REST resolves it), the database, per-request
DataLoaders, the rate limits, and the live hub for subscriptions."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from conduit.bootstrap import Container
from conduit.core import read_routing
from conduit.core.audit import Client
from conduit.core.db import Database
from conduit.core.errors import Unauthenticated
from conduit.core.principal import Principal, token_of
from conduit.core.rate_limits import (
    READS_PER_IP,
    REGISTER_PER_IP,
    WRITES_PER_USER,
    LoginLimits,
)
from conduit.graphql.errors import TooManyRequests
from conduit.graphql.loaders import Loaders
from conduit.http.kit import client_of, signed_in
from conduit.live.hub import Hub


class ConduitContext(BaseContext):
    def __init__(self, parts: Container, hub: Hub, connection: HTTPConnection) -> None:
        super().__init__()
        self.parts = parts
        self.hub = hub
        self.client: Client = client_of(connection)
        self.principal: Principal | None = None
        self.token: str | None = None
        self.auth_error: Unauthenticated | None = None
        self._loaders: Loaders | None = None
        self.sign_in(connection.headers.get("authorization"))
        if self.principal is not None:
            signed_in(connection, self.principal)

    @property
    def db(self) -> Database:
        return self.parts.db

    def sign_in(self, authorization: str | None) -> None:
        """Resolve the caller from an Authorization value, as REST does: a token that is
        invalid, expired or revoked leaves the caller anonymous (reads still work) and makes
        every operation that needs a user answer UNAUTHENTICATED with the reason."""
        self.principal, self.token, self.auth_error = None, None, None
        self._loaders = None
        try:
            token = token_of(authorization)
            if token is not None:
                self.principal = self.parts.authenticator.authenticate(token)
                self.token = token
        except Unauthenticated as exc:
            self.auth_error = exc
        # Whom this operation's reads are for (read replicas), as REST declares it.
        read_routing.read_as(self.viewer_id)

    @property
    def viewer_id(self) -> int | None:
        return None if self.principal is None else self.principal.id

    def require_user(self) -> Principal:
        if self.principal is None:
            raise self.auth_error or Unauthenticated("token", "is missing")
        return self.principal

    def forget_loaded(self) -> None:
        """A new operation reads afresh (a WebSocket's operations share one context)."""
        self._loaders = None

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.db, viewer_id=self.viewer_id)
        return self._loaders

    # Rate limits: each root field counts as the REST request it stands for.

    async def _count(self, rule: str, caller: str) -> None:
        limiter = self.parts.rate_limiter
        if limiter is None:
            return
        quota = await limiter.hit(rule, caller)
        if quota is not None and not quota.allowed:
            raise TooManyRequests(quota.reset_seconds)

    @property
    def _ip(self) -> str:
        return self.client.ip or "unknown"

    async def count_read(self) -> None:
        await self._count(READS_PER_IP, self._ip)

    async def count_write(self) -> None:
        caller = f"user:{self.principal.id}" if self.principal else f"ip:{self._ip}"
        await self._count(WRITES_PER_USER, caller)

    async def count_register(self) -> None:
        await self._count(REGISTER_PER_IP, self._ip)

    async def count_login(self, email: Any) -> None:
        """As REST counts a login (see :class:`conduit.core.rate_limits.LoginLimits`)."""
        limiter = self.parts.rate_limiter
        if limiter is None:
            return
        named = email if isinstance(email, str) and email.strip() else None
        for quota in await LoginLimits(limiter).admit(self._ip, named):
            if quota is not None and not quota.allowed:
                raise TooManyRequests(quota.reset_seconds)

    async def count_login_failure(self, email: str) -> None:
        limiter = self.parts.rate_limiter
        if limiter is not None and email.strip():
            await LoginLimits(limiter).failed(self._ip, email)
