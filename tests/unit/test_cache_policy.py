"""What each event invalidates, which requests are cached, and how ETags compare."""

from __future__ import annotations

import pytest

from conduit.core import cache
from conduit.core.events import CATALOGUE, Event
from conduit.http.conditional import matches, strong_etag
from conduit.http.read_cache import generations_for, normalised_request
from conduit.migrations.models import load_all_models

load_all_models()

EXPECTED = {
    "article.created": {"lists", "tags", "article:s", "comments:s"},
    "article.updated": {"lists", "tags", "article:s"},
    "article.deleted": {"lists", "tags", "article:s", "comments:s"},
    "article.favorited": {"lists", "article:s"},
    "article.unfavorited": {"lists", "article:s"},
    "comment.created": {"comments:s"},
    "comment.deleted": {"comments:s"},
    "user.updated": {"all"},
    "user.registered": set(),
    "user.followed": set(),
    "user.unfollowed": set(),
    "notification.added": set(),
    "session.revoked": set(),
    "user.signed_out_everywhere": set(),
    "user.roles_changed": set(),
    "user.banned": set(),
    "user.unbanned": set(),
    "user.identity_linked": set(),
}


@pytest.mark.parametrize("event_type", sorted(EXPECTED))
def test_each_event_bumps_what_anonymous_readers_could_see_change(event_type: str) -> None:
    event = Event(type=event_type, data={"slug": "s", "userId": 1})
    assert cache.generations_changed_by(event) == EXPECTED[event_type]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [(["bio"], {"all"}), (["email", "username"], {"all"}), (["email", "password"], set())],
)
def test_a_user_update_bumps_everything_only_when_a_public_field_changed(
    changed: list[str], expected: set[str]
) -> None:
    event = Event(type="user.updated", data={"userId": 1, "username": "u", "changed": changed})
    assert cache.generations_changed_by(event) == expected


def test_every_catalogued_event_is_mapped() -> None:
    assert set(CATALOGUE) <= set(EXPECTED), "map the new event in generations_changed_by"


def test_an_unknown_event_bumps_everything() -> None:
    assert cache.generations_changed_by(Event(type="article.archived", data={})) == {"all"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/articles", ("all", "lists")),
        ("/api/articles/search", ("all", "lists")),
        ("/api/tags", ("all", "tags")),
        ("/api/articles/how-to", ("all", "article:how-to")),
        ("/api/articles/how-to/comments", ("all", "comments:how-to")),
        ("/api/profiles/jake", ("all",)),
        ("/api/articles/feed", None),
        ("/api/user", None),
        ("/api/articles/how-to/favorite", None),
        ("/health/ready", None),
    ],
)
def test_which_reads_are_cached(path: str, expected: tuple[str, ...] | None) -> None:
    assert generations_for(path) == expected


def test_the_query_is_normalised() -> None:
    assert normalised_request("/api/articles", b"") == "/api/articles"
    same = {
        normalised_request("/api/articles", b"offset=0&limit=5"),
        normalised_request("/api/articles", b"limit=5&offset=0"),
        normalised_request("/api/articles", b"limit=%35&offset=0"),
    }
    assert same == {"/api/articles?limit=5&offset=0"}
    # repeated parameters keep their order (the last one wins in the router)
    assert normalised_request("/a", b"tag=b&tag=a") != normalised_request("/a", b"tag=a&tag=b")


def test_if_none_match_uses_the_weak_comparison() -> None:
    tag = strong_etag(b"{}")
    assert tag.startswith(b'"')
    assert len(tag) == 34
    assert matches(tag, tag)
    assert matches(b'"x", ' + tag, tag)
    assert matches(b"W/" + tag, tag)
    assert matches(b"*", tag)
    assert not matches(b'"x"', tag)
