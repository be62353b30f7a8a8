"""What each event invalidates, which requests are cached, and how ETags compare.

The rules are the features' (their cache_rules.py), as bootstrap assembles them.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import conduit
from conduit.bootstrap import CACHE_RULES
from conduit.core.cache import NOTHING, CacheRules
from conduit.core.events import CATALOGUE, Event
from conduit.http.conditional import matches, strong_etag
from conduit.http.read_cache import CachedPaths, normalised_request
from conduit.migrations.models import load_all_models

load_all_models()


def every_event_module() -> list[str]:
    """Every feature's events module, imported: the catalogue then holds every event type."""
    names = [
        module.name
        for module in pkgutil.walk_packages(conduit.__path__, prefix="conduit.")
        if module.name.endswith(".events") and module.name != "conduit.core.events"
    ]
    for name in names:
        importlib.import_module(name)
    return names


EXPECTED = {
    # The tag list changes when the tags consumer has recounted (tags.counted), not before.
    "article.created": {"lists", "article:s", "comments:s"},
    "article.updated": {"lists", "article:s"},
    "article.deleted": {"lists", "article:s", "comments:s"},
    "tags.counted": {"tags"},
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
    assert CACHE_RULES.changed_by(event) == EXPECTED[event_type]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [(["bio"], {"all"}), (["email", "username"], {"all"}), (["email", "password"], set())],
)
def test_a_user_update_bumps_everything_only_when_a_public_field_changed(
    changed: list[str], expected: set[str]
) -> None:
    event = Event(type="user.updated", data={"userId": 1, "username": "u", "changed": changed})
    assert CACHE_RULES.changed_by(event) == expected


def test_every_event_declares_what_it_invalidates() -> None:
    """A new event cannot silently skip invalidation: its feature's cache_rules.py says
    which generations it bumps, or that it bumps nothing (NOTHING), and bootstrap merges
    that feature's rules."""
    assert len(every_event_module()) >= 5
    undeclared = set(CATALOGUE) - set(CACHE_RULES.invalidates)
    assert not undeclared, f"declare these events in their feature's cache_rules.py: {undeclared}"
    assert set(CACHE_RULES.invalidates) <= set(CATALOGUE), "a rule for an event nobody emits"
    assert set(CATALOGUE) <= set(EXPECTED), "add the new event to EXPECTED above"


def test_an_unknown_event_bumps_everything() -> None:
    assert CACHE_RULES.changed_by(Event(type="article.archived", data={})) == {"all"}


@pytest.mark.parametrize("event_type", ["article.created", "comment.deleted"])
def test_an_event_its_rule_cannot_read_bumps_everything(event_type: str) -> None:
    assert CACHE_RULES.changed_by(Event(type=event_type, data={"slug": 7})) == {"all"}
    assert CACHE_RULES.changed_by(Event(type=event_type, data={})) == {"all"}


def test_a_rule_or_a_read_is_declared_once() -> None:
    once = CacheRules(invalidates={"thing.done": NOTHING}, reads={"/things": lambda _path: ()})
    with pytest.raises(ValueError, match=r"thing\.done"):
        CacheRules.merge(once, CacheRules(invalidates={"thing.done": NOTHING}))
    with pytest.raises(ValueError, match="/things"):
        CacheRules.merge(once, CacheRules(reads={"/things": None}))


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
    assert CachedPaths(CACHE_RULES.reads, prefix="/api").generations_for(path) == expected


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
