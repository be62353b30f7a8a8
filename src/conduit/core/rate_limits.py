"""The rate-limit port: count one request against a named rule for one caller.

Rules are the fields of :class:`conduit.settings.RateLimits` (``login_per_ip``,
``login_per_account``, ``register_per_ip``, ``writes_per_user``, ``reads_per_ip``). The HTTP
layer decides which rule a request falls under and who the caller is; the adapter
(``conduit.adapters.rate_limits``, on the ``limits`` library, in memory or on Redis) counts.

Framework-free: no HTTP types here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

LOGIN_PER_IP = "login_per_ip"
LOGIN_PER_ACCOUNT = "login_per_account"
REGISTER_PER_IP = "register_per_ip"
WRITES_PER_USER = "writes_per_user"
READS_PER_IP = "reads_per_ip"
RULES = (LOGIN_PER_IP, LOGIN_PER_ACCOUNT, REGISTER_PER_IP, WRITES_PER_USER, READS_PER_IP)


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

    async def close(self) -> None: ...
