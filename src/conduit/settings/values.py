"""Structured values of settings: an OpenID Connect provider, a set of rate limits."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class OidcProvider(BaseModel):
    """One OpenID Connect provider users may sign in with (an item of CONDUIT_OIDC_PROVIDERS)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    issuer: str
    client_id: str
    client_secret: SecretStr | None = None
    scopes: str = "openid email profile"


class RateLimits(BaseModel):
    """Requests allowed per window, in the ``limits`` notation ("10/minute")."""

    login_per_ip: str
    login_per_account: str
    register_per_ip: str
    writes_per_user: str
    reads_per_ip: str


# The production budget (issue: login 10/min per IP and per account, register 5/min per IP,
# writes 60/min per user, reads 600/min per IP) and a development one loose enough for the
# official suite and a frontend's own end-to-end run from one address.
PRODUCTION_RATE_LIMITS = RateLimits(
    login_per_ip="10/minute",
    login_per_account="10/minute",
    register_per_ip="5/minute",
    writes_per_user="60/minute",
    reads_per_ip="600/minute",
)
DEVELOPMENT_RATE_LIMITS = RateLimits(
    login_per_ip="1000/minute",
    login_per_account="300/minute",
    register_per_ip="1000/minute",
    writes_per_user="3000/minute",
    reads_per_ip="60000/minute",
)
