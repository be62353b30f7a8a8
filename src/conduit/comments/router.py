"""REST routes of the comments feature: /articles/{slug}/comments[/{id}]."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from conduit.comments import service
from conduit.comments.schemas import (
    MultipleCommentsResponse,
    NewCommentRequest,
    SingleCommentResponse,
    comment_json,
)
from conduit.http.kit import DB, ClientInfo, CurrentUser, JSONReply, Viewer, error_responses

router = APIRouter(tags=["Comments"])


@router.get(
    "/articles/{slug}/comments",
    response_model=MultipleCommentsResponse,
    responses=error_responses(401, 404, 422),
    summary="Get comments for an article",
    operation_id="GetArticleComments",
)
async def list_comments(slug: str, viewer: Viewer, db: DB) -> JSONReply:
    found = await service.list_for_article(db, slug=slug, viewer_id=viewer.id if viewer else None)
    return JSONReply({"comments": [comment_json(comment) for comment in found]})


@router.post(
    "/articles/{slug}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=SingleCommentResponse,
    responses=error_responses(401, 403, 404, 422),
    summary="Create a comment for an article",
    operation_id="CreateArticleComment",
)
async def add_comment(slug: str, user: CurrentUser, body: NewCommentRequest, db: DB) -> JSONReply:
    comment = await service.add(db, slug=slug, actor=user, body=body.comment.body)
    return JSONReply({"comment": comment_json(comment)}, status_code=201)


@router.delete(
    "/articles/{slug}/comments/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
    summary="Delete a comment for an article",
    operation_id="DeleteArticleComment",
)
async def delete_comment(
    slug: str, id: int, user: CurrentUser, db: DB, client: ClientInfo
) -> Response:
    await service.delete(db, slug=slug, comment_id=id, actor=user, client=client)
    return Response(status_code=204)
