"""profile_from_row: the one mapping of an author's columns to a Profile."""

from __future__ import annotations

from types import SimpleNamespace

from conduit.profiles.models import Profile
from conduit.profiles.repository import profile_from_row


def test_the_following_flag_becomes_a_bool_whatever_the_database_returns() -> None:
    # MariaDB answers EXISTS with 1/0, PostgreSQL and SQLite with booleans or ints.
    row = SimpleNamespace(username="jake", bio=None, image="https://i/j.png", following=1)
    profile = profile_from_row(row)
    assert profile == Profile("jake", None, "https://i/j.png", True)
    assert profile.following is True
    assert profile_from_row(SimpleNamespace(username="a", bio="b", image=None, following=0)) == (
        Profile("a", "b", None, False)
    )
