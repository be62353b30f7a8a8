"""REST route of article search: GET /articles/search?q=...

Mounted before the articles router, so that ``/articles/search`` is never read as the slug
of an article (no article gets that slug: see ``articles.service.RESERVED_SLUGS``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from conduit.articles import service
from conduit.articles.schemas import MultipleArticlesResponse, articles_json
from conduit.http.kit import DB, JSONReply, PageParams, Viewer, error_responses

router = APIRouter(tags=["Search"])

_Q_DESCRIPTION = (
    'Search text: words (all must appear), "exact phrases" in double quotes, and -word or '
    '-"phrase" to leave out articles containing them. Matches titles, descriptions, '
    "bodies and tags; any other character is ignored."
)


@router.get(
    "/articles/search",
    response_model=MultipleArticlesResponse,
    responses=error_responses(401, 422),
    summary="Search articles, most relevant first",
    operation_id="SearchArticles",
)
async def search_articles(
    q: Annotated[str, Query(description=_Q_DESCRIPTION)],
    viewer: Viewer,
    page: PageParams,
    db: DB,
) -> JSONReply:
    found, total = await service.search(
        db, query=q, page=page, viewer_id=viewer.id if viewer else None
    )
    return JSONReply(articles_json(found, total))
