"""CONDUIT_OIDC_PROVIDERS: the clients bootstrap builds, and the settings it refuses."""

from __future__ import annotations

import pytest

from conduit.bootstrap import ConfigurationError, identity_providers
from conduit.settings import OidcProvider, Settings


def settings_with(*providers: dict[str, str]) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, oidc_providers=[OidcProvider.model_validate(p) for p in providers]
    )


def test_none_by_default() -> None:
    assert identity_providers(Settings(_env_file=None)) == {}  # type: ignore[call-arg]


async def test_one_client_per_provider_by_name() -> None:
    built = identity_providers(
        settings_with(
            {"name": "acme", "issuer": "https://id.acme.test", "client_id": "a"},
            {"name": "corp", "issuer": "https://login.corp.test/realm", "client_id": "c"},
        )
    )
    assert sorted(built) == ["acme", "corp"]
    for client in built.values():
        await client.close()


def test_a_name_used_twice_is_refused() -> None:
    twice = {"name": "acme", "issuer": "https://id.acme.test", "client_id": "a"}
    with pytest.raises(ConfigurationError, match="twice"):
        identity_providers(settings_with(twice, twice))


def test_an_issuer_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="must be an https://"):
        identity_providers(
            settings_with({"name": "acme", "issuer": "id.acme.test", "client_id": "a"})
        )


def test_the_variable_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CONDUIT_OIDC_PROVIDERS",
        '[{"name": "acme", "issuer": "https://id.acme.test", "client_id": "a", '
        '"client_secret": "s"}]',
    )
    provider = Settings(_env_file=None).oidc_providers[0]  # type: ignore[call-arg]
    assert (provider.name, provider.scopes) == ("acme", "openid email profile")
    assert provider.client_secret is not None
    assert provider.client_secret.get_secret_value() == "s"
