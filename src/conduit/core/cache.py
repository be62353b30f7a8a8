"""The response cache port: finished JSON bodies of anonymous reads, under versioned keys.

A cached read names the *generations* it depends on (``all``, ``lists``, ``tags``,
``article:<slug>``, ``comments:<slug>``). Its entry is stored under a key made of the
request (path and normalised query) and the current value of each generation, so bumping
a generation makes every entry built on it unreachable at once, on every instance: nothing
is deleted, nothing is scanned, and an entry written late by a reader that started before
a write can only land under a key nobody composes any more.

Writes bump generations from the events they committed (:func:`generations_changed_by`),
inside ``uow.commit()`` — before the use case returns, hence before its response is sent.

This module is framework-free: the HTTP layer decides which requests are cached and with
which generations; the adapters (``conduit.adapters.redis_cache``, or :class:`NoCache`
when no Redis is configured) store the bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from conduit.core.events import Event

ALL = "all"  # everything embeds users (author objects, profiles): bumped by user.updated
LISTS = "lists"  # article lists and their filters
TAGS = "tags"  # GET /api/tags
PUBLIC = ("username", "bio", "image")  # the fields of a user that anonymous readers see


def article(slug: str) -> str:
    """The generation of one article (GET /api/articles/<slug>)."""
    return f"article:{slug}"


def comments(slug: str) -> str:
    """The generation of one article's comments (GET /api/articles/<slug>/comments)."""
    return f"comments:{slug}"


_INVISIBLE = frozenset(
    {
        "user.registered",
        "user.followed",
        "user.unfollowed",
        "notification.added",
        "session.revoked",
        "user.signed_out_everywhere",
        "user.roles_changed",
        "user.banned",
        "user.unbanned",
        "user.identity_linked",
    }
)


def generations_changed_by(event: Event) -> set[str]:
    """What an anonymous reader could see change when ``event`` committed.

    - article.created / article.deleted: the lists, the tags, the article and its comments
      (a slug can be reused after a delete, and a deleted article's comments answer 404).
    - article.updated: the lists, the tags (the tag list may have changed), the article.
    - article.favorited / article.unfavorited: the lists (``favoritesCount``, the
      ``favorited=`` filter) and the article; tags count articles, not favorites.
    - comment.created / comment.deleted: that article's comments.
    - user.updated: everything when a public field changed (username, bio, image) — author
      objects are embedded in articles, lists and comments, and a renamed user's old
      profile must answer 404; nothing for the email or the password alone.
    - notification.added: nothing (notifications are only ever read signed in).
    - session.revoked, user.signed_out_everywhere, user.roles_changed, user.banned,
      user.unbanned, user.identity_linked: nothing (no public answer shows sessions, roles,
      bans or linked providers).
    - user.registered, user.followed, user.unfollowed: nothing. Errors (a profile that did
      not exist yet) are never cached; an anonymous reader always sees ``following: false``
      and the API has no follower counts; the feed is only for signed-in readers, who are
      never served from the cache.
    Unknown types bump everything: a new event is safe before anyone maps it.
    """
    kind = event.type
    slug = event.data.get("slug")
    if kind in ("article.created", "article.deleted") and isinstance(slug, str):
        return {LISTS, TAGS, article(slug), comments(slug)}
    if kind == "article.updated" and isinstance(slug, str):
        return {LISTS, TAGS, article(slug)}
    if kind in ("article.favorited", "article.unfavorited") and isinstance(slug, str):
        return {LISTS, article(slug)}
    if kind in ("comment.created", "comment.deleted") and isinstance(slug, str):
        return {comments(slug)}
    if kind == "user.updated" and not set(event.data.get("changed", PUBLIC)) & set(PUBLIC):
        return set()
    if kind in _INVISIBLE:
        return set()
    return {ALL}


def generations_changed_by_all(events: Iterable[Event]) -> set[str]:
    changed: set[str] = set()
    for event in events:
        changed |= generations_changed_by(event)
    return changed


@dataclass(frozen=True, slots=True)
class Lookup:
    """The answer of :meth:`ResponseCache.lookup`.

    ``key`` is the versioned key to :meth:`~ResponseCache.store` a fresh body under (None
    when the cache is bypassed: nothing will be stored); ``value`` is the cached entry.
    """

    key: str | None
    value: bytes | None = None


BYPASS = Lookup(key=None)


class ResponseCache(Protocol):
    """Where finished responses of anonymous reads are kept, shared by every instance.

    No method raises: a cache that cannot be reached answers :data:`BYPASS` and the caller
    reads the database, as if nothing were cached.
    """

    @property
    def enabled(self) -> bool:
        """False for :class:`NoCache`: the HTTP layer then skips the cache entirely."""
        ...

    async def lookup(self, request: str, generations: Sequence[str]) -> Lookup:
        """The entry for ``request`` at the current value of ``generations``, if any."""
        ...

    async def store(self, key: str, value: bytes) -> None:
        """Keep ``value`` under ``key`` (from :meth:`lookup`) for the configured TTL."""
        ...

    async def invalidate(self, events: Sequence[Event]) -> None:
        """Bump the generations ``events`` changed (a ``db.on_commit`` listener)."""
        ...

    async def close(self) -> None: ...


class NoCache:
    """The embedded default: caches nothing.

    Without a cache shared by every process, any entry could go stale when another process
    (``conduit serve --workers N``) commits a write, and every API read can change; so the
    only thing left to save is bandwidth, which ETag / If-None-Match do on every GET anyway.
    """

    enabled = False

    async def lookup(self, request: str, generations: Sequence[str]) -> Lookup:
        return BYPASS

    async def store(self, key: str, value: bytes) -> None:
        return None

    async def invalidate(self, events: Sequence[Event]) -> None:
        return None

    async def close(self) -> None:
        return None
