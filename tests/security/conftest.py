"""Fixtures of the OWASP API Security Top 10 module.

Its tests run on SQLite and PostgreSQL only (the risks are about the application, not the
database): the MariaDB items of ``database_url`` are deselected here, never skipped.
Passwords are hashed with the cheap argon2 parameters of tests/api.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conduit.core import security
from tests.api.conftest import FAST_HASHER

HERE = Path(__file__).parent
BACKENDS_HERE = ("sqlite", "postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec is not None else None
        if item.path.is_relative_to(HERE) and backend not in (None, *BACKENDS_HERE):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", FAST_HASHER)
