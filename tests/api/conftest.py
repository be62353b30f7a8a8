"""API-test fixtures: cheap argon2 parameters so that registering users stays fast.

Hashes are still argon2id (and verify, and are not flagged for rehash); only the cost
parameters are lowered. tests/unit checks the production parameters.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from conduit.core import security

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", FAST_HASHER)
