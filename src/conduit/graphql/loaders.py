"""Per-request DataLoaders: what a list of articles needs beyond the list use case.

The list use case already brings each article's author (with ``following``), tags,
favorites count and ``favorited``; the loaders batch the rest over every article of the
response: the latest comments (one statement per distinct ``limit``) and, only when
selected, the bodies (one statement).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from conduit.articles import service as articles
from conduit.comments import service as comments
from conduit.comments.models import Comment
from conduit.core.db import Database

CommentsKey = tuple[int, int | None]  # (article id, limit or None for all)


class Loaders:
    def __init__(self, db: Database, *, viewer_id: int | None) -> None:
        self.db = db
        self.viewer_id = viewer_id
        self.comments: DataLoader[CommentsKey, list[Comment]] = DataLoader(load_fn=self._comments)
        self.bodies: DataLoader[int, str] = DataLoader(load_fn=self._bodies)

    async def _comments(self, keys: Sequence[CommentsKey]) -> list[list[Comment]]:
        by_limit: dict[int | None, list[int]] = defaultdict(list)
        for article_id, limit in keys:
            by_limit[limit].append(article_id)
        found: dict[CommentsKey, list[Comment]] = {}
        for limit, article_ids in by_limit.items():
            latest = await comments.latest_for_articles(
                self.db, article_ids=sorted(set(article_ids)), limit=limit, viewer_id=self.viewer_id
            )
            for article_id, listed in latest.items():
                found[(article_id, limit)] = listed
        return [found.get(key, []) for key in keys]

    async def _bodies(self, keys: Sequence[int]) -> list[str]:
        found = await articles.bodies(self.db, article_ids=sorted(set(keys)))
        return [found.get(key, "") for key in keys]
