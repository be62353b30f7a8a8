"""Request and response bodies of the notifications endpoints."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from conduit.core.formatting import iso
from conduit.core.validation import RequestModel
from conduit.notifications.models import Notification, NotificationPage
from conduit.profiles.schemas import ProfileModel, profile_json

MAX_IDS = 1000


class ArticleRefModel(BaseModel):
    slug: str
    title: str


class CommentRefModel(BaseModel):
    id: int
    body: str


class NotificationModel(BaseModel):
    id: int
    type: Literal["follow", "favorite", "comment", "article"]
    createdAt: str = Field(json_schema_extra={"format": "date-time"})
    read: bool
    actor: ProfileModel
    article: ArticleRefModel | None
    comment: CommentRefModel | None


class NotificationsResponse(BaseModel):
    notifications: list[NotificationModel]
    notificationsCount: int
    unreadCount: int


class UnreadCountResponse(BaseModel):
    unreadCount: int


def _only_true(value: bool | None) -> bool | None:
    if value is False:
        raise PydanticCustomError("invalid", "must be true")
    return value


class MarkReadRequest(RequestModel):
    """Either ``{"ids": [...]}`` (yours; others' are ignored) or ``{"all": true}``."""

    ids: Annotated[
        list[int] | None,
        Field(max_length=MAX_IDS, description="Notification ids to mark read."),
    ] = None
    all: Annotated[
        bool | None,
        Field(description="true: mark every notification read."),
        AfterValidator(_only_true),
    ] = None

    @model_validator(mode="after")
    def _one_of(self) -> MarkReadRequest:
        if (self.ids is None) == (self.all is None):
            raise PydanticCustomError("invalid", "must have either ids or all")
        return self


def notification_json(notification: Notification) -> dict[str, Any]:
    article = notification.article
    comment = notification.comment
    return {
        "id": notification.id,
        "type": notification.type,
        "createdAt": iso(notification.created_at),
        "read": notification.read,
        "actor": profile_json(notification.actor),
        "article": None if article is None else {"slug": article.slug, "title": article.title},
        "comment": None if comment is None else {"id": comment.id, "body": comment.body},
    }


def notifications_json(found: NotificationPage) -> dict[str, Any]:
    return {
        "notifications": [notification_json(item) for item in found.items],
        "notificationsCount": found.total,
        "unreadCount": found.unread,
    }
