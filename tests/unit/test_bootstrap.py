"""resolve_secret: where the token signing key comes from, and when Conduit refuses to start."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from conduit.bootstrap import ConfigurationError, resolve_secret
from conduit.settings import Settings

STRONG = "a-strong-secret-key-0123456789-ABCDEFGHIJ"


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://conduit@db:5432/conduit",
        "mysql+asyncmy://conduit@db:3306/conduit",
        "mariadb+asyncmy://conduit@db:3306/conduit",
    ],
)
def test_missing_key_is_refused_for_a_server_database(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigurationError, match="CONDUIT_SECRET_KEY is not set"):
        resolve_secret(settings(tmp_path, database_url=url, secret_key=None))
    assert not (tmp_path / "secret_key").exists()


def test_missing_key_is_refused_in_production_even_on_sqlite(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CONDUIT_SECRET_KEY is not set"):
        resolve_secret(settings(tmp_path, environment="production", secret_key=None))
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("key", ["short", "x" * 64, "abcabcabcabcabcabcabcabcabcabcabcabc"])
@pytest.mark.parametrize("environment", ["development", "production", "test"])
def test_weak_key_is_refused(tmp_path: Path, key: str, environment: str) -> None:
    with pytest.raises(ConfigurationError, match="too weak"):
        resolve_secret(settings(tmp_path, environment=environment, secret_key=key))


@pytest.mark.parametrize(
    "url", [None, "postgresql+asyncpg://conduit@db:5432/conduit", "sqlite+aiosqlite:///x.db"]
)
def test_a_strong_key_is_used_as_given(tmp_path: Path, url: str | None) -> None:
    given = settings(tmp_path, environment="production", database_url=url, secret_key=STRONG)
    assert resolve_secret(given) == STRONG
    assert not (tmp_path / "secret_key").exists()


def test_zero_config_mode_generates_and_keeps_a_key(tmp_path: Path) -> None:
    first = resolve_secret(settings(tmp_path, secret_key=None))
    assert len(first) >= 32
    stored = tmp_path / "secret_key"
    assert stored.read_text(encoding="utf-8") == first
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert resolve_secret(settings(tmp_path, secret_key=None)) == first


def test_zero_config_mode_with_an_explicit_sqlite_url(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{(tmp_path / 'other.db').as_posix()}"
    key = resolve_secret(settings(tmp_path, database_url=url, secret_key=None))
    assert (tmp_path / "secret_key").read_text(encoding="utf-8") == key
