"""What the articles feature declares about the response cache (see :mod:`conduit.core.cache`).

Which generations each of its events bumps, and which of its reads are cached. An article's
comments are read at ``/articles/{slug}/comments``: their generation is named here, with
the article's, because an article's own events reach them too (the comments feature bumps
it for its events).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conduit.articles.events import (
    ArticleCreated,
    ArticleDeleted,
    ArticleFavorited,
    ArticleUnfavorited,
    ArticleUpdated,
)
from conduit.core.cache import NOT_CACHED, CacheRules, text

LISTS = "lists"  # article lists (with their filters) and search results


def article(slug: str) -> str:
    """The generation of one article (GET /api/articles/<slug>)."""
    return f"article:{slug}"


def comments(slug: str) -> str:
    """The generation of one article's comments (GET /api/articles/<slug>/comments)."""
    return f"comments:{slug}"


def _created_or_deleted(data: Mapping[str, Any]) -> set[str]:
    # A slug can be reused after a delete, and a deleted article's comments answer 404.
    # The tag list changes when the tags consumer has recounted (tags/cache_rules.py).
    slug = text(data, "slug")
    return {LISTS, article(slug), comments(slug)}


def _updated(data: Mapping[str, Any]) -> set[str]:
    # The comments embed nothing of the article; the tag list: see _created_or_deleted.
    return {LISTS, article(text(data, "slug"))}


def _favorite_changed(data: Mapping[str, Any]) -> set[str]:
    # ``favoritesCount`` and the ``favorited=`` filter; the tags count articles, not favorites.
    return {LISTS, article(text(data, "slug"))}


RULES = CacheRules(
    invalidates={
        ArticleCreated.type: _created_or_deleted,
        ArticleDeleted.type: _created_or_deleted,
        ArticleUpdated.type: _updated,
        ArticleFavorited.type: _favorite_changed,
        ArticleUnfavorited.type: _favorite_changed,
    },
    reads={
        "/articles": lambda _path: (LISTS,),
        # Search results are article lists: any article write makes them stale.
        "/articles/search": lambda _path: (LISTS,),
        "/articles/feed": NOT_CACHED,  # signed-in only
        "/articles/{slug}": lambda path: (article(path["slug"]),),
    },
)
