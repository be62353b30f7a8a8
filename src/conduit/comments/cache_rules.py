"""What the comments feature declares about the response cache (see :mod:`conduit.core.cache`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conduit.articles.cache_rules import comments
from conduit.comments.events import CommentCreated, CommentDeleted
from conduit.core.cache import CacheRules, text


def _comments_changed(data: Mapping[str, Any]) -> set[str]:
    return {comments(text(data, "slug"))}


RULES = CacheRules(
    invalidates={
        CommentCreated.type: _comments_changed,
        CommentDeleted.type: _comments_changed,
    },
    reads={
        "/articles/{slug}/comments": lambda path: (comments(path["slug"]),),
    },
)
