"""What every page needs from the running process (built once by ``install_web``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from conduit.core.db import Database
from conduit.core.principal import Authenticator
from conduit.core.rate_limits import LoginLimits, RateLimiter, RecentRefusals
from conduit.core.security import TokenCodec
from conduit.settings import Settings
from conduit.web.markdown import ArticleBodies


@dataclass(frozen=True, slots=True)
class Web:
    """The parts of the container the pages use (the same objects the API uses)."""

    settings: Settings
    db: Database
    tokens: TokenCodec
    authenticator: Authenticator
    rate_limiter: RateLimiter | None
    bodies: ArticleBodies
    # For the console: every feature's audit types, the consumers' names, and the requests
    # this process's rate limits refused.
    audit_types: tuple[str, ...] = ()
    consumer_names: tuple[str, ...] = ()
    rate_limit_refusals: RecentRefusals = field(default_factory=RecentRefusals)

    @property
    def logins(self) -> LoginLimits | None:
        return None if self.rate_limiter is None else LoginLimits(self.rate_limiter)

    @property
    def refresh_ttl_seconds(self) -> int:
        return self.settings.refresh_token_ttl_seconds


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web
