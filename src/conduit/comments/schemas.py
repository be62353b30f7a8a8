"""Request and response bodies of the comments endpoints (spec: Comment, NewComment)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from conduit.comments.models import Comment
from conduit.core.formatting import iso
from conduit.core.validation import CommentBody, RequestModel
from conduit.profiles.schemas import ProfileModel, profile_json


class NewComment(RequestModel):
    body: CommentBody


class NewCommentRequest(RequestModel):
    comment: NewComment


class CommentModel(BaseModel):
    id: int
    createdAt: str = Field(json_schema_extra={"format": "date-time"})
    updatedAt: str = Field(json_schema_extra={"format": "date-time"})
    body: str
    author: ProfileModel


class SingleCommentResponse(BaseModel):
    comment: CommentModel


class MultipleCommentsResponse(BaseModel):
    comments: list[CommentModel]


def comment_json(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "createdAt": iso(comment.created_at),
        "updatedAt": iso(comment.updated_at),
        "body": comment.body,
        "author": profile_json(comment.author),
    }
