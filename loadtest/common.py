"""What every scenario shares: the data set they read, the address each virtual user comes
from, the headers a browser sends, and the names requests are reported under.

Imported by the locustfile and the scenario modules only (in locust's process, where gevent
has patched the standard library); the drivers and the tests never import it.
"""

from __future__ import annotations

import itertools
import os
import random
import uuid
from dataclasses import dataclass, field

# The frontend's origin every request carries (CONDUIT_CORS_ORIGINS of the server under test
# lists it, as a production deployment lists its frontend).
ORIGIN = os.environ.get("LOADTEST_ORIGIN", "https://app.example.com")
PASSWORD = "loadtest-password-42"
# Usernames made during this run carry it, so runs against the same database never collide.
RUN_ID = os.environ.get("LOADTEST_RUN_ID") or uuid.uuid4().hex[:8]
TAGS = (
    "python",
    "databases",
    "postgres",
    "asyncio",
    "testing",
    "design",
    "operations",
    "security",
    "frontend",
    "career",
)


@dataclass
class Dataset:
    """What the seed made (or found): every scenario picks its targets from here."""

    authors: list[str] = field(default_factory=list)
    slugs: list[str] = field(default_factory=list)
    # The articles writers comment on and live listeners subscribe to.
    hot_slugs: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    # Email addresses of the seeded readers (password PASSWORD), who follow authors.
    readers: list[str] = field(default_factory=list)

    def slug(self) -> str:
        return random.choice(self.slugs)

    def hot_slug(self) -> str:
        return random.choice(self.hot_slugs)

    def author(self) -> str:
        return random.choice(self.authors)

    def tag(self) -> str:
        return random.choice(self.tags)


# Filled by the locustfile's test_start listener before the first user starts.
DATASET = Dataset()

_addresses = itertools.count(1)


def next_address() -> str:
    """A client address of its own for each virtual user, sent as ``X-Forwarded-For``.

    The server under test trusts the load generator as its proxy (CONDUIT_TRUSTED_PROXIES),
    so the per-address rate limits apply per virtual user, as they do per browser."""
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def browser_headers(address: str, token: str | None = None) -> dict[str, str]:
    headers = {"Origin": ORIGIN, "X-Forwarded-For": address, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    return headers


def new_username(kind: str) -> str:
    """A username no other run or user of this run has (``kind``: what the user does)."""
    return f"lt-{kind}-{RUN_ID}-{uuid.uuid4().hex[:8]}"


def email_of(username: str) -> str:
    return f"{username}@loadtest.example"
