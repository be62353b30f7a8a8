"""Errors of the articles feature."""

from __future__ import annotations

from conduit.core.errors import Forbidden, NotFound


class ArticleNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("article")


class NotArticleAuthor(Forbidden):
    def __init__(self) -> None:
        super().__init__("article")
