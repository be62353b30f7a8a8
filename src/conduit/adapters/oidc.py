"""An OpenID Connect provider over HTTP, with Authlib: code flow, PKCE (S256), id_token checks.

Discovery (``{issuer}/.well-known/openid-configuration``) and the provider's keys (JWKS) are
fetched on first use and kept; the keys are fetched again once when an id_token names a key
that is not in them (the provider rotated its keys). The id_token is verified with joserfc
(signature, with the provider's asymmetric algorithms only) and Authlib's ``CodeIDToken``
(iss, aud, exp, iat, nonce, azp, at_hash). The ``iss`` of the authorization response is
checked against the discovered issuer (RFC 9207, :meth:`OidcClient.check_issuer`).

Every call has a timeout of a few seconds. A network failure, a timeout, a 5xx or an answer
of the wrong shape is :class:`ProviderUnavailable` (503); a code the provider refuses or an
id_token that does not verify is :class:`InvalidLogin` (401).
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import httpx
import structlog
from authlib.integrations.base_client.errors import OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from conduit.core.identity import Claims, InvalidLogin, ProviderUnavailable

with warnings.catch_warnings():
    # Authlib 1.9 would rather run on "httpx2" and warns when it falls back to httpx, which
    # Conduit already depends on (and which it supports); nothing to act on until it drops it.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client
from conduit.settings import OidcProvider

log = structlog.get_logger("conduit.oidc")

DEFAULT_TIMEOUT_SECONDS = 5.0
# Signatures Conduit accepts on an id_token: public-key ones only (never "none", never HS*,
# whose key would be the client secret).
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
)
# The provider's own failures at the token endpoint (RFC 6749 5.2 and 4.1.2.1).
_PROVIDER_DOWN_ERRORS = {"server_error", "temporarily_unavailable"}
# The provider does not accept Conduit's client id or secret: a configuration to fix.
_CLIENT_REFUSED_ERRORS = {"invalid_client", "unauthorized_client"}
_REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
CLOCK_LEEWAY_SECONDS = 60


def _is_http_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


class OidcClient:
    """One configured provider (implements :class:`conduit.core.identity.IdentityProvider`)."""

    def __init__(
        self, config: OidcProvider, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.name = config.name
        self.issuer = config.issuer
        self.client_id = config.client_id
        secret = config.client_secret.get_secret_value() if config.client_secret else None
        self._http = AsyncOAuth2Client(
            client_id=config.client_id,
            client_secret=secret,
            # No secret: a public client (PKCE alone); with one: HTTP Basic at the token endpoint.
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=config.scopes,
            code_challenge_method="S256",
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
        )
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    # --- the port ----------------------------------------------------------------------

    async def authorization_url(
        self, *, state: str, nonce: str, code_verifier: str, redirect_uri: str
    ) -> str:
        metadata = await self._discover()
        url, _state = self._http.create_authorization_url(
            metadata["authorization_endpoint"],
            state=state,
            code_verifier=code_verifier,
            nonce=nonce,
            redirect_uri=redirect_uri,
        )
        return str(url)

    async def check_issuer(self, iss: str | None) -> None:
        """RFC 9207: the ``iss`` of the authorization response must be this provider's own
        (simple string comparison with the discovered issuer); a provider that advertises
        ``authorization_response_iss_parameter_supported`` must send it. Another provider's
        response sent to this callback (a mix-up attack) is refused before its code is used.
        """
        metadata = await self._discover()
        if iss is None:
            if metadata.get("authorization_response_iss_parameter_supported") is True:
                log.warning("oidc_callback_without_iss", provider=self.name)
                raise InvalidLogin("iss is missing (the provider always sends it)")
            return
        if iss != metadata["issuer"]:
            log.warning("oidc_callback_issuer_mismatch", provider=self.name, iss=iss[:256])
            raise InvalidLogin("iss is not this provider's issuer")

    async def verified_claims(
        self, *, code: str, code_verifier: str, nonce: str, redirect_uri: str
    ) -> Claims:
        metadata = await self._discover()
        token = await self._exchange(metadata, code, code_verifier, redirect_uri)
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise InvalidLogin("id_token is missing")
        access_token = token.get("access_token")
        access_token = access_token if isinstance(access_token, str) and access_token else None
        claims = await self.verify_id_token(id_token, nonce=nonce, access_token=access_token)
        if (
            claims.email is None
            and access_token
            and _is_http_url(metadata.get("userinfo_endpoint"))
        ):
            # Providers that keep the scopes' claims at userinfo (OIDC Core 5.4).
            claims = await self._with_userinfo(claims, metadata["userinfo_endpoint"], access_token)
        return claims

    # --- the steps ---------------------------------------------------------------------

    async def verify_id_token(
        self, id_token: str, *, nonce: str, access_token: str | None = None
    ) -> Claims:
        """The claims of an id_token this provider signed for this client and nonce."""
        metadata = await self._discover()
        advertised = metadata.get("id_token_signing_alg_values_supported")
        if not isinstance(advertised, list) or not advertised:
            advertised = ["RS256"]
        algorithms = [alg for alg in ASYMMETRIC_ALGORITHMS if alg in advertised]
        if not algorithms:
            log.warning("oidc_no_usable_algorithm", provider=self.name, advertised=advertised)
            raise ProviderUnavailable()
        registry = JWSRegistry(algorithms=algorithms)
        try:
            try:
                decoded = jwt.decode(id_token, await self._key_set(), registry=registry)
            except InvalidKeyIdError:  # keys rotated since we fetched them
                decoded = jwt.decode(id_token, await self._key_set(refresh=True), registry=registry)
            params: dict[str, Any] = {"nonce": nonce, "client_id": self.client_id}
            if access_token is not None:
                params["access_token"] = access_token
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": metadata["issuer"]},
                    "aud": {"essential": True, "value": self.client_id},
                    "sub": {"essential": True},
                    "nonce": {"essential": True, "value": nonce},
                },
                params,
            )
            claims.validate(leeway=CLOCK_LEEWAY_SECONDS)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            log.info("oidc_id_token_rejected", provider=self.name, error=repr(exc))
            raise InvalidLogin("id_token is invalid") from None
        return _claims(claims)

    async def _with_userinfo(self, claims: Claims, url: str, access_token: str) -> Claims:
        """The id_token's claims completed from userinfo, whose ``sub`` must be the same."""
        info = await self._get_json(url, headers={"Authorization": f"Bearer {access_token}"})
        if info.get("sub") != claims.subject:
            log.info("oidc_userinfo_subject_mismatch", provider=self.name)
            raise InvalidLogin("userinfo is invalid")
        merged = _claims({**info, "sub": claims.subject})
        return Claims(
            subject=claims.subject,
            email=merged.email,
            email_verified=merged.email_verified,
            preferred_username=claims.preferred_username or merged.preferred_username,
            name=claims.name or merged.name,
        )

    async def _discover(self) -> dict[str, Any]:
        if self._metadata is not None:
            return self._metadata
        async with self._lock:
            if self._metadata is None:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                metadata = await self._get_json(url)
                issuer = metadata.get("issuer")
                if not isinstance(issuer, str) or issuer.rstrip("/") != self.issuer.rstrip("/"):
                    log.warning("oidc_issuer_mismatch", provider=self.name, issuer=issuer)
                    raise ProviderUnavailable()
                missing = [
                    key for key in _REQUIRED_ENDPOINTS if not _is_http_url(metadata.get(key))
                ]
                if missing:
                    log.warning("oidc_discovery_incomplete", provider=self.name, missing=missing)
                    raise ProviderUnavailable()
                self._metadata = metadata
        return self._metadata

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        if self._keys is not None and not refresh:
            return self._keys
        metadata = await self._discover()
        document = await self._get_json(metadata["jwks_uri"])
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            log.warning("oidc_jwks_unusable", provider=self.name, error=repr(exc))
            raise ProviderUnavailable() from None
        self._keys = keys
        return keys

    async def _get_json(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            response = await self._http.request("GET", url, headers=headers, withhold_token=True)
        except httpx.HTTPError as exc:
            log.warning("oidc_provider_unreachable", provider=self.name, url=url, error=repr(exc))
            raise ProviderUnavailable() from None
        try:
            document = response.json() if response.status_code == 200 else None
        except ValueError:
            document = None
        if not isinstance(document, dict):
            log.warning("oidc_bad_answer", provider=self.name, url=url, status=response.status_code)
            raise ProviderUnavailable()
        return document

    async def _exchange(
        self, metadata: dict[str, Any], code: str, code_verifier: str, redirect_uri: str
    ) -> dict[str, Any]:
        try:
            token = await self._http.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
            )
        except OAuthError as exc:
            if exc.error in _PROVIDER_DOWN_ERRORS:
                log.warning("oidc_token_endpoint_down", provider=self.name, error=exc.error)
                raise ProviderUnavailable() from None
            if exc.error in _CLIENT_REFUSED_ERRORS:  # our configuration, not the user's login
                log.error("oidc_client_refused", provider=self.name, error=exc.error)
                raise ProviderUnavailable() from None
            log.info("oidc_code_refused", provider=self.name, error=exc.error)
            raise InvalidLogin("code was refused by the provider") from None
        except httpx.HTTPStatusError as exc:  # 5xx, or a 4xx without a JSON body
            log.warning(
                "oidc_token_endpoint_error", provider=self.name, status=exc.response.status_code
            )
            raise ProviderUnavailable() from None
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("oidc_token_endpoint_unreachable", provider=self.name, error=repr(exc))
            raise ProviderUnavailable() from None
        return dict(token)


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value.strip() else None


def _claims(claims: dict[str, Any]) -> Claims:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise InvalidLogin("id_token is invalid")
    email = claims.get("email")
    return Claims(
        subject=subject,
        email=email.strip() if isinstance(email, str) and email.strip() else None,
        # Only a JSON true counts (some providers send the string "true": also accepted).
        email_verified=claims.get("email_verified") in (True, "true"),
        preferred_username=_text(claims.get("preferred_username"), 255),
        name=_text(claims.get("name"), 255),
    )
