"""Errors of the comments feature."""

from __future__ import annotations

from conduit.core.errors import Forbidden, NotFound


class CommentNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("comment")


class NotCommentAuthor(Forbidden):
    def __init__(self) -> None:
        super().__init__("comment")
