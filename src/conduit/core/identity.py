"""The identity-provider port: what login with OpenID Connect needs from a provider.

An adapter (``conduit.adapters.oidc``) implements it with Authlib; the use cases in
``conduit.auth.oidc.service`` only see this Protocol, the claims it returns and its two errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from conduit.core.errors import Unauthenticated, Unavailable


class ProviderUnavailable(Unavailable):
    """The provider did not answer (network failure, timeout, 5xx, or nonsense)."""

    def __init__(self) -> None:
        super().__init__("provider", "is unavailable")


class InvalidLogin(Unauthenticated):
    """The login cannot be trusted: unknown or replayed state, bad code, bad id_token."""

    def __init__(self, message: str = "is invalid") -> None:
        super().__init__("login", message)


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified id_token says about the person who signed in."""

    subject: str
    email: str | None
    email_verified: bool
    preferred_username: str | None
    name: str | None


class IdentityProvider(Protocol):
    """One configured OpenID Connect provider (authorization code flow with PKCE)."""

    name: str

    async def authorization_url(
        self, *, state: str, nonce: str, code_verifier: str, redirect_uri: str
    ) -> str:
        """Where to send the browser; ProviderUnavailable if discovery fails."""
        ...

    async def check_issuer(self, iss: str | None) -> None:
        """The ``iss`` of an authorization response (RFC 9207) is this provider's issuer;
        missing, it is refused when the provider advertises the parameter (a mix-up attack
        otherwise); InvalidLogin if not."""
        ...

    async def verified_claims(
        self, *, code: str, code_verifier: str, nonce: str, redirect_uri: str
    ) -> Claims:
        """Exchange the code and verify the id_token (signature, iss, aud, exp, nonce).

        InvalidLogin when the provider refuses the code or the id_token does not verify;
        ProviderUnavailable when it cannot be reached or answers nonsense.
        """
        ...

    async def close(self) -> None:
        """Release the HTTP connections."""
        ...
