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
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope

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


def quota_headers(quota: Quota) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(quota.limit).encode()),
        (b"ratelimit-remaining", str(quota.remaining).encode()),
        (b"ratelimit-reset", str(quota.reset_seconds).encode()),
    ]


@dataclass(slots=True)
class Admission:
    """What the limits decided about a counted request.

    ``quota`` None: the count could not be made (the storage is unreachable): the request
    goes on without RateLimit headers. ``receive`` replays a login's body, read here for its
    email; ``login`` is that login's (address, email), whose refusal (401) is counted
    against the account once the answer has gone out (:meth:`RateLimits.answered`).
    """

    quota: Quota | None
    receive: Receive
    login: tuple[str, str] | None = None

    @property
    def refused(self) -> bool:
        return self.quota is not None and not self.quota.allowed


class RateLimits:
    """The rate-limit step of :class:`conduit.http.pipeline.HttpPipeline`: one count (one
    storage call) before the app, the quota's headers on the answer, a 429 in its place."""

    def __init__(self, *, limiter: RateLimiter, authenticator: Authenticator, prefix: str) -> None:
        self.limiter = limiter
        self.logins = LoginLimits(limiter)
        self.authenticator = authenticator
        self.prefix = prefix + "/"

    async def admit(self, scope: Scope, receive: Receive) -> Admission | None:
        """Count the request; None when it is not counted at all (outside the API, an
        OPTIONS)."""
        path: str = scope["path"]
        if not path.startswith(self.prefix):
            return None
        method: str = scope["method"]
        ip = _client_ip(scope)
        if method in _READS:
            return Admission(await self.limiter.hit(READS_PER_IP, ip), receive)
        if method not in _WRITES:
            return None
        path = path.rstrip("/")
        if method == "POST" and path == LOGIN_PATH:
            return await self._login(receive, ip)
        if method == "POST" and path == REGISTER_PATH:
            return Admission(await self.limiter.hit(REGISTER_PER_IP, ip), receive)
        quota = await self.limiter.hit(WRITES_PER_USER, self._writer(scope, ip))
        return Admission(quota, receive)

    async def _login(self, receive: Receive, ip: str) -> Admission:
        # The body is read here (through the pipeline's size limit) and replayed to the app.
        body = await _read_body(receive)
        email = _login_email(body)
        by_ip, by_account = await self.logins.admit(ip, email)
        quotas = [quota for quota in (by_ip, by_account) if quota is not None]
        tightest = min(quotas, key=lambda quota: (quota.allowed, quota.remaining), default=None)
        login = None if email is None else (ip, email)
        return Admission(tightest, _replaying(body, receive), login)

    async def answered(self, admission: Admission, status: int) -> None:
        """After the answer: a refused login counts against its account."""
        if admission.login is not None and status == UNAUTHORIZED:
            await self.logins.failed(*admission.login)

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


def too_many(quota: Quota) -> tuple[Message, Message]:
    """The 429 that answers a refused request: its start and its body."""
    start: Message = {
        "type": "http.response.start",
        "status": 429,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_TOO_MANY)).encode()),
            (b"retry-after", str(quota.reset_seconds).encode()),
            *quota_headers(quota),
        ],
    }
    return start, {"type": "http.response.body", "body": _TOO_MANY}
