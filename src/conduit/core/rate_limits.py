"""The rate-limit port: count one request against a named rule for one caller.

Rules are the fields of :class:`conduit.settings.RateLimits` (``login_per_ip``,
``login_per_account``, ``register_per_ip``, ``writes_per_user``, ``reads_per_ip``), plus
``login_failures_per_address`` (the failed logins of one account from one address, in the
window of ``login_per_account``). The HTTP layer and GraphQL decide which rule a request
falls under and who the caller is; the adapter (``conduit.adapters.rate_limits``, on the
``limits`` library, in memory or on Redis) counts.

Logins (:class:`LoginLimits`): ``login_per_ip`` counts every attempt of an address;
``login_per_account`` counts the *failed* logins of an account, from anywhere. Once an
account's failures reach its budget, only addresses that have not failed on that account
within the window may still try: a distributed guessing attack gets one guess per address
(each address then also spends its own ``login_per_ip``), while the owner, signing in from
an address that has not been failing, is not locked out by someone else's failures.

Refusals are kept per process, the latest of them in a bounded ring
(:class:`RecentRefusals`, filled by :class:`RecordingRefusals` around the limiter), for the
moderation console; metrics count them too (``conduit_rate_limit_rejections``).

Framework-free: no HTTP types here.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from dataclasses import dataclass
from typing import Protocol

LOGIN_PER_IP = "login_per_ip"
LOGIN_PER_ACCOUNT = "login_per_account"
REGISTER_PER_IP = "register_per_ip"
WRITES_PER_USER = "writes_per_user"
READS_PER_IP = "reads_per_ip"
RULES = (LOGIN_PER_IP, LOGIN_PER_ACCOUNT, REGISTER_PER_IP, WRITES_PER_USER, READS_PER_IP)
# Counted in the window of LOGIN_PER_ACCOUNT, per "account address" pair.
LOGIN_FAILURES_PER_ADDRESS = "login_failures_per_address"


@dataclass(frozen=True, slots=True)
class Quota:
    """The state of one rule for one caller after a request was counted (or refused)."""

    allowed: bool
    limit: int  # requests allowed per window
    remaining: int  # requests left in the window after this one
    reset_seconds: int  # seconds until the budget is back (Retry-After when refused)


class RateLimiter(Protocol):
    async def hit(self, rule: str, caller: str) -> Quota | None:
        """Count one request of ``caller`` under ``rule``.

        None when the count could not be made (the storage is unreachable): the request
        goes through; rate limits fail open.
        """
        ...

    async def peek(self, rule: str, caller: str) -> Quota | None:
        """The state of ``rule`` for ``caller`` without counting anything (``allowed``: one
        more hit would be); None when the storage is unreachable."""
        ...

    async def close(self) -> None: ...


def account_of(email: str) -> str:
    """The caller a login's email counts as: trimmed, lower-cased, bounded."""
    return email.strip().lower()[:320]


class LoginLimits:
    """The login rules, shared by every entry point (REST and GraphQL).

    :meth:`admit` before checking a password (the address's attempt is counted, the
    account's failures looked at), :meth:`failed` once the credentials were refused.
    """

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def admit(self, ip: str, email: str | None) -> tuple[Quota | None, Quota | None]:
        """The address's quota (counted) and the account's (looked at, None without an
        email). The login may go on unless one of them is not ``allowed``."""
        by_ip = await self.limiter.hit(LOGIN_PER_IP, ip)
        if (by_ip is not None and not by_ip.allowed) or email is None:
            return by_ip, None
        account = account_of(email)
        by_account = await self.limiter.peek(LOGIN_PER_ACCOUNT, account)
        if by_account is None or by_account.allowed:
            return by_ip, by_account
        # The account's failures are spent: is this address one of those that failed?
        mine = await self.limiter.peek(LOGIN_FAILURES_PER_ADDRESS, f"{account} {ip}")
        if mine is None or mine.remaining >= mine.limit:  # no failure from here: let it try
            return by_ip, Quota(True, by_account.limit, 0, by_account.reset_seconds)
        return by_ip, by_account

    async def failed(self, ip: str, email: str) -> None:
        """Count a refused login against the account and against this address on it."""
        account = account_of(email)
        await self.limiter.hit(LOGIN_PER_ACCOUNT, account)
        await self.limiter.hit(LOGIN_FAILURES_PER_ADDRESS, f"{account} {ip}")


# Counted once a login failed (LoginLimits.failed), never to refuse the request counted.
COUNTED_AFTER = frozenset({LOGIN_PER_ACCOUNT, LOGIN_FAILURES_PER_ADDRESS})


def refused_by_hit(rule: str, quota: Quota | None) -> str | None:
    """The rule a request was refused under when this count refused it, else None.

    A login's failures are counted after the answer and never refuse that request.
    """
    if quota is not None and not quota.allowed and rule not in COUNTED_AFTER:
        return rule
    return None


def refused_by_peek(rule: str, quota: Quota | None) -> str | None:
    """The rule a login is refused under when this look refuses it, else None: the
    account's failures are spent (the only case :class:`LoginLimits` looks at an
    address's failures) and this address is one that failed on it."""
    if rule == LOGIN_FAILURES_PER_ADDRESS and quota is not None and quota.remaining < quota.limit:
        return LOGIN_PER_ACCOUNT
    return None


# How many refusals a process keeps for the console (the oldest go first).
RECENT_REFUSALS = 200


@dataclass(frozen=True, slots=True)
class Refusal:
    """One request refused by a rate limit: when, under which rule, whom it counted."""

    at: dt.datetime
    rule: str
    caller: str  # ``ip``, ``user:<id>``, ``ip:<address>``, an account's email ...


class RecentRefusals:
    """The latest refusals of this process (bounded), and how many per rule since it
    started. Per process: each instance of Conduit keeps its own."""

    def __init__(self, size: int = RECENT_REFUSALS) -> None:
        self._recent: collections.deque[Refusal] = collections.deque(maxlen=size)
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def add(self, rule: str, caller: str) -> None:
        refusal = Refusal(dt.datetime.now(dt.UTC).replace(tzinfo=None), rule, caller)
        with self._lock:
            self._recent.append(refusal)
            self._counts[rule] += 1

    def latest(self) -> list[Refusal]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._recent))

    def counts(self) -> dict[str, int]:
        """Refusals per rule since the process started (rules never refused left out)."""
        with self._lock:
            return dict(self._counts)


class RecordingRefusals:
    """:class:`RateLimiter`: the limiter ``inner``, each refusal kept in ``refusals``."""

    def __init__(self, inner: RateLimiter, refusals: RecentRefusals) -> None:
        self.inner = inner
        self.refusals = refusals

    async def hit(self, rule: str, caller: str) -> Quota | None:
        quota = await self.inner.hit(rule, caller)
        if (refused := refused_by_hit(rule, quota)) is not None:
            self.refusals.add(refused, caller)
        return quota

    async def peek(self, rule: str, caller: str) -> Quota | None:
        quota = await self.inner.peek(rule, caller)
        if (refused := refused_by_peek(rule, quota)) is not None:
            self.refusals.add(refused, caller)
        return quota

    async def close(self) -> None:
        await self.inner.close()
