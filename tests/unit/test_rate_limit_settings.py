"""What bootstrap refuses at start: unreadable rate limits, bad trusted proxies, wildcard CORS
in production; and the defaults it picks for each environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conduit.bootstrap import (
    ConfigurationError,
    check_settings,
    rate_limit_rules,
    rate_limiter,
    trusted_networks,
)
from conduit.core.rate_limits import RULES
from conduit.settings import RateLimits, Settings

STRONG = "a-strong-secret-key-0123456789-ABCDEFGHIJ"


def settings(tmp_path: Path, **values: Any) -> Settings:
    values.setdefault("secret_key", STRONG)
    return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg]


def test_every_rule_has_a_setting() -> None:
    assert tuple(RateLimits.model_fields) == RULES


def test_production_defaults(tmp_path: Path) -> None:
    rules = rate_limit_rules(
        settings(tmp_path, environment="production", cors_origins=["https://app.test"])
    )
    assert {name: (item.amount, item.get_expiry()) for name, item in rules.items()} == {
        "login_per_ip": (10, 60),
        "login_per_account": (10, 60),
        "register_per_ip": (5, 60),
        "writes_per_user": (60, 60),
        "reads_per_ip": (600, 60),
    }


def test_development_defaults_are_loose_and_each_setting_wins(tmp_path: Path) -> None:
    rules = rate_limit_rules(settings(tmp_path, rate_limit_reads_per_ip="7 per 10 seconds"))
    assert rules["login_per_ip"].amount >= 1000
    assert rules["register_per_ip"].amount >= 1000
    assert (rules["reads_per_ip"].amount, rules["reads_per_ip"].get_expiry()) == (7, 10)


@pytest.mark.parametrize(
    "value", ["ten per minute", "10/fortnight", "10/minute;100/hour", "0/minute"]
)
def test_an_unreadable_limit_stops_the_start(tmp_path: Path, value: str) -> None:
    given = settings(tmp_path, rate_limit_writes_per_user=value)
    with pytest.raises(ConfigurationError, match="CONDUIT_RATE_LIMIT_WRITES_PER_USER"):
        check_settings(given)
    # Switched off, a typo is still refused: it would bite the day limits are switched on.
    with pytest.raises(ConfigurationError, match="CONDUIT_RATE_LIMIT_WRITES_PER_USER"):
        rate_limiter(given.model_copy(update={"rate_limits_enabled": False}))


def test_switched_off_there_is_no_limiter(tmp_path: Path) -> None:
    assert rate_limiter(settings(tmp_path, rate_limits_enabled=False)) is None


def test_trusted_proxies_are_addresses_or_networks(tmp_path: Path) -> None:
    networks = trusted_networks(
        settings(tmp_path, trusted_proxies=["10.0.0.5", "10.1.0.0/16", "fd00::/8"])
    )
    assert [str(network) for network in networks] == ["10.0.0.5/32", "10.1.0.0/16", "fd00::/8"]


@pytest.mark.parametrize("environment", ["development", "production"])
@pytest.mark.parametrize("entry", ["proxy.internal", "10.0.0.300", "10.0.0.0/33", ""])
def test_a_bad_trusted_proxy_stops_the_start(tmp_path: Path, environment: str, entry: str) -> None:
    given = settings(
        tmp_path, environment=environment, trusted_proxies=[entry], cors_origins=["https://a.test"]
    )
    with pytest.raises(ConfigurationError, match="CONDUIT_TRUSTED_PROXIES"):
        check_settings(given)


def test_production_refuses_a_wildcard_cors_origin(tmp_path: Path) -> None:
    for origins in (["*"], ["https://app.test", "*"]):
        with pytest.raises(ConfigurationError, match="CONDUIT_CORS_ORIGINS"):
            check_settings(settings(tmp_path, environment="production", cors_origins=origins))
    explicit = settings(tmp_path, environment="production", cors_origins=["https://app.test"])
    assert check_settings(explicit) == STRONG
    # Development keeps the open default.
    assert check_settings(settings(tmp_path)) == STRONG
