"""REST routes of the notifications feature: /notifications, /notifications/read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from conduit.http.kit import DB, CurrentUser, JSONReply, PageParams, error_responses
from conduit.notifications import service
from conduit.notifications.schemas import (
    MarkReadRequest,
    NotificationsResponse,
    UnreadCountResponse,
    notifications_json,
)

router = APIRouter(tags=["Notifications"])


@router.get(
    "/notifications",
    response_model=NotificationsResponse,
    responses=error_responses(401, 422),
    summary="Get your notifications, newest first",
    operation_id="GetNotifications",
)
async def list_notifications(
    user: CurrentUser,
    page: PageParams,
    db: DB,
    unread: Annotated[
        bool, Query(description="true: only the notifications not read yet.")
    ] = False,
) -> JSONReply:
    found = await service.list_for(db, user_id=user.id, page=page, unread_only=unread)
    return JSONReply(notifications_json(found))


@router.post(
    "/notifications/read",
    response_model=UnreadCountResponse,
    responses=error_responses(401, 403, 422),
    summary="Mark notifications read: the listed ids, or all",
    operation_id="MarkNotificationsRead",
)
async def mark_read(user: CurrentUser, body: MarkReadRequest, db: DB) -> JSONReply:
    if body.ids is not None:
        unread = await service.mark_read(db, actor=user, ids=body.ids)
    else:
        unread = await service.mark_all_read(db, actor=user)
    return JSONReply({"unreadCount": unread})
