"""Every setting is documented where people look: README's Configuration table, and each
variable of `.env.example` is a real setting."""

from __future__ import annotations

import re
from pathlib import Path

from conduit.settings import Settings

ROOT = Path(__file__).parents[2]
SETTINGS = {f"CONDUIT_{field.upper()}" for field in Settings.model_fields}


def test_the_configuration_table_lists_every_setting_and_nothing_else() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Configuration\n(.*?)(?=^## )", text, re.M | re.S)
    assert match
    rows = [line for line in match.group(1).splitlines() if line.startswith("| `CONDUIT_")]
    listed = {
        name for row in rows for name in re.findall(r"`(CONDUIT_[A-Z0-9_]+)`", row.split(" | ")[0])
    }
    assert SETTINGS - listed == set(), "missing from README's Configuration table"
    assert listed - SETTINGS == set(), "in README's Configuration table but not a setting"


def test_every_variable_of_env_example_is_a_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    named = set(re.findall(r"^#? ?(CONDUIT_[A-Z0-9_]+)=", text, re.M))
    assert named - SETTINGS == set(), "not a setting"
    production = {
        "CONDUIT_ENVIRONMENT",
        "CONDUIT_SECRET_KEY",
        "CONDUIT_DATABASE_URL",
        "CONDUIT_REDIS_URL",
        "CONDUIT_BROKER_URL",
        "CONDUIT_CORS_ORIGINS",
        "CONDUIT_HTTPS",
        "CONDUIT_TRUSTED_PROXIES",
        "CONDUIT_PUBLIC_URL",
        "CONDUIT_OIDC_PROVIDERS",
    }
    assert production - named == set(), "missing from .env.example"
