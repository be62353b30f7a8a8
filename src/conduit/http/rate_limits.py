"""Rate limits on the REST API: which rule a request falls under, and who is counted.

=========================  ==============================================================
POST /api/users/login      ``login_per_ip`` (client address), then the failed logins of
                           the account (the email of the JSON body, lower-cased): see
                           :class:`conduit.core.rate_limits.LoginLimits`
POST /api/users            ``register_per_ip``
POST/PUT/PATCH/DELETE      ``writes_per_user``: the user of a valid access token, or the
under /api                 client address when there is none (counted apart from users)
GET/HEAD under /api        ``reads_per_ip``
=========================  ==============================================================

Anything else (CORS preflights, /health, /docs, WebSockets) is not counted. One rule (one
storage call) per request; a login looks at its account's failures too, and a refused
login (401) counts against the account and the address's failures on it. The client
address is the one :class:`conduit.http.client_address.ClientAddress` settled on.

A refused request is answered 429 with ``{"errors": {"request": ["too many requests"]}}``
and Retry-After; every counted answer carries RateLimit-Limit, RateLimit-Remaining and
RateLimit-Reset (seconds) of its rule (for a login, of the rule with less left).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conduit.core.errors import Unauthenticated
from conduit.core.principal import Authenticator, token_of
from conduit.core.rate_limits import (
    READS_PER_IP,
    REGISTER_PER_IP,
    WRITES_PER_USER,
    LoginLimits,
    Quota,
    RateLimiter,
)
from conduit.http.client_address import CLIENT_IP

LOGIN_PATH = "/api/users/login"
REGISTER_PATH = "/api/users"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_READS = frozenset({"GET", "HEAD"})
UNAUTHORIZED = 401  # the credentials were refused: a failed login
_TOO_MANY = orjson.dumps({"errors": {"request": ["too many requests"]}})


def _headers(quota: Quota) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(quota.limit).encode()),
        (b"ratelimit-remaining", str(quota.remaining).encode()),
        (b"ratelimit-reset", str(quota.reset_seconds).encode()),
    ]


class RateLimit:
    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, authenticator: Authenticator, prefix: str
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.logins = LoginLimits(limiter)
        self.authenticator = authenticator
        self.prefix = prefix + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"].rstrip("/")
        ip = _client_ip(scope)
        if method in _READS:
            quota = await self.limiter.hit(READS_PER_IP, ip)
        elif method not in _WRITES:
            await self.app(scope, receive, send)
            return
        elif method == "POST" and path == LOGIN_PATH:
            await self._login(scope, receive, send, ip)
            return
        elif method == "POST" and path == REGISTER_PATH:
            quota = await self.limiter.hit(REGISTER_PER_IP, ip)
        else:
            quota = await self.limiter.hit(WRITES_PER_USER, self._writer(scope, ip))
        await self._answer(scope, receive, send, quota)

    async def _login(self, scope: Scope, receive: Receive, send: Send, ip: str) -> None:
        # The body is read here (through RequestContext's size limit) and replayed below.
        body = await _read_body(receive)
        replay = _replaying(body, receive)
        email = _login_email(body)
        by_ip, by_account = await self.logins.admit(ip, email)
        quotas = [quota for quota in (by_ip, by_account) if quota is not None]
        tightest = min(quotas, key=lambda quota: (quota.allowed, quota.remaining), default=None)
        refused = False

        async def watch(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                refused = message["status"] == UNAUTHORIZED
            await send(message)

        await self._answer(scope, replay, watch, tightest)
        if refused and email is not None:
            await self.logins.failed(ip, email)

    def _writer(self, scope: Scope, ip: str) -> str:
        """``user:<id>`` for a valid access token, ``ip:<address>`` otherwise (the header
        read as the routes read it)."""
        try:
            token = token_of(Headers(scope=scope).get("authorization"))
            if token is not None:
                return f"user:{self.authenticator.authenticate(token).id}"
        except Unauthenticated:
            pass
        return f"ip:{ip}"

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, quota: Quota | None
    ) -> None:
        if quota is None:  # not counted (the storage is unreachable): let it through
            await self.app(scope, receive, send)
            return
        if not quota.allowed:
            await _too_many(send, quota)
            return
        extra = _headers(quota)

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_quota)


def _client_ip(scope: Scope) -> str:
    ip = scope.get("state", {}).get(CLIENT_IP)
    if ip:
        return str(ip)
    peer = scope.get("client")
    return str(peer[0]) if peer else "unknown"


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to count
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _login_email(body: bytes) -> str | None:
    """The account a login names; None when the body is not a login (the route says why).

    Read with the parser the route reads it with (the standard library's, as Starlette's
    ``Request.json``): a stricter one would give up on bodies the route accepts (a lone
    surrogate escape, a byte-order mark, UTF-16, NaN), and each such login would check a
    password without counting against its account.
    """
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    user = document.get("user") if isinstance(document, dict) else None
    email = user.get("email") if isinstance(user, dict) else None
    if not isinstance(email, str) or not email.strip():
        return None
    return email


async def _too_many(send: Send, quota: Quota) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_TOO_MANY)).encode()),
                (b"retry-after", str(quota.reset_seconds).encode()),
                *_headers(quota),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _TOO_MANY})
