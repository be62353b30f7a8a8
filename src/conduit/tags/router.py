"""REST routes of the tags feature: /tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from conduit.http.kit import DB, JSONReply, error_responses
from conduit.tags import service

router = APIRouter(tags=["Tags"])


class TagsResponse(BaseModel):
    tags: list[str]


@router.get(
    "/tags",
    response_model=TagsResponse,
    responses=error_responses(422),
    summary="Get tags",
    operation_id="GetTags",
)
async def list_tags(
    db: DB,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=service.MAX_TAGS,
            description="How many tags to return, most used first.",
        ),
    ] = service.DEFAULT_TAGS,
) -> JSONReply:
    return JSONReply({"tags": await service.popular(db, limit=limit)})
