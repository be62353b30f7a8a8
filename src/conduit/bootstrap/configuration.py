"""What Conduit refuses to start with, and the settings read before any adapter: the
signing key, the trusted proxies, the public URL and production's rules."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from conduit.core.security import is_weak_secret, load_or_create_secret
from conduit.http.client_address import IPNetwork
from conduit.settings import Settings


class ConfigurationError(RuntimeError):
    """Conduit cannot start with these settings; the message says what to change."""


def resolve_secret(settings: Settings) -> str:
    """The token signing key: from the environment, or generated in the zero-config mode."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if is_weak_secret(key):
            raise ConfigurationError(
                "CONDUIT_SECRET_KEY is too weak: use at least 32 random characters "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        return key
    if settings.environment == "production" or not settings.is_sqlite:
        raise ConfigurationError(
            "CONDUIT_SECRET_KEY is not set. Outside the zero-config SQLite mode Conduit needs "
            "a key of at least 32 random characters in the environment or in .env."
        )
    return load_or_create_secret(Path(settings.data_dir) / "secret_key")


def trusted_networks(settings: Settings) -> tuple[IPNetwork, ...]:
    """``CONDUIT_TRUSTED_PROXIES`` as networks (an address is a network of one)."""
    networks = []
    for entry in settings.trusted_proxies:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"CONDUIT_TRUSTED_PROXIES: {entry!r} is not an IP address or network "
                '(for example ["10.0.0.5", "10.1.0.0/16", "fd00::/8"]).'
            ) from None
    return tuple(networks)


def check_public_url(settings: Settings) -> None:
    """CONDUIT_PUBLIC_URL is an absolute http(s) URL; production with OpenID Connect
    providers needs it (the providers' redirect URIs are built from it)."""
    url = settings.public_url
    if url is not None and not url.startswith(("https://", "http://")):
        raise ConfigurationError(
            f"CONDUIT_PUBLIC_URL must be the API's public base URL, such as "
            f"https://api.example.com, not {url!r}"
        )
    if url is None and settings.oidc_providers and settings.environment == "production":
        raise ConfigurationError(
            "CONDUIT_PUBLIC_URL is not set: with CONDUIT_OIDC_PROVIDERS in production, set it "
            "to the API's public base URL (https://api.example.com); the providers send the "
            "browser back to <CONDUIT_PUBLIC_URL>/api/auth/<provider>/callback."
        )


def check_production(settings: Settings) -> None:
    """What production refuses beyond the secret key (see resolve_secret)."""
    check_public_url(settings)
    if settings.environment != "production":
        return
    if "*" in settings.cors_origins:
        raise ConfigurationError(
            "CONDUIT_CORS_ORIGINS allows any origin ('*'). In production list the frontend's "
            'origins, for example ["https://app.example.com"]: the refresh-token cookie '
            "needs credentialed requests, which a wildcard origin cannot have."
        )
