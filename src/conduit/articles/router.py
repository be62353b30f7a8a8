"""REST routes of the articles feature: /articles, /articles/feed, /articles/{slug}[/favorite]."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from conduit.articles import service
from conduit.articles.models import ArticleFilter
from conduit.articles.schemas import (
    MultipleArticlesResponse,
    NewArticleRequest,
    SingleArticleResponse,
    UpdateArticleRequest,
    article_json,
    articles_json,
)
from conduit.http.kit import (
    DB,
    ClientInfo,
    CurrentUser,
    JSONReply,
    PageParams,
    Viewer,
    error_responses,
)

router = APIRouter(tags=["Articles"])


@router.get(
    "/articles/feed",
    response_model=MultipleArticlesResponse,
    responses=error_responses(401, 422),
    summary="Get recent articles from users you follow",
    operation_id="GetArticlesFeed",
)
async def feed(user: CurrentUser, page: PageParams, db: DB) -> JSONReply:
    found, total = await service.feed(db, page=page, user_id=user.id)
    return JSONReply(articles_json(found, total))


@router.get(
    "/articles",
    response_model=MultipleArticlesResponse,
    responses=error_responses(401, 422),
    summary="Get recent articles globally",
    operation_id="GetArticles",
)
async def list_articles(
    viewer: Viewer,
    page: PageParams,
    db: DB,
    tag: Annotated[str | None, Query(max_length=64, description="Filter by tag")] = None,
    author: Annotated[
        str | None, Query(max_length=64, description="Filter by author (username)")
    ] = None,
    favorited: Annotated[
        str | None, Query(max_length=64, description="Filter by favorites of a user (username)")
    ] = None,
) -> JSONReply:
    where = ArticleFilter(tag=tag, author=author, favorited_by=favorited)
    found, total = await service.list_articles(
        db, where=where, page=page, viewer_id=viewer.id if viewer else None
    )
    return JSONReply(articles_json(found, total))


@router.post(
    "/articles",
    status_code=status.HTTP_201_CREATED,
    response_model=SingleArticleResponse,
    responses=error_responses(401, 403, 409, 422),
    summary="Create an article",
    operation_id="CreateArticle",
)
async def create_article(user: CurrentUser, body: NewArticleRequest, db: DB) -> JSONReply:
    new = body.article
    article = await service.create(
        db,
        actor=user,
        title=new.title,
        description=new.description,
        body=new.body,
        tag_list=new.tagList,
    )
    return JSONReply({"article": article_json(article)}, status_code=201)


@router.get(
    "/articles/{slug}",
    response_model=SingleArticleResponse,
    responses=error_responses(404, 422),
    summary="Get an article",
    operation_id="GetArticle",
)
async def get_article(slug: str, viewer: Viewer, db: DB) -> JSONReply:
    article = await service.get(db, slug=slug, viewer_id=viewer.id if viewer else None)
    return JSONReply({"article": article_json(article)})


@router.put(
    "/articles/{slug}",
    response_model=SingleArticleResponse,
    responses=error_responses(401, 403, 404, 422),
    summary="Update an article",
    operation_id="UpdateArticle",
)
async def update_article(
    slug: str, user: CurrentUser, body: UpdateArticleRequest, db: DB
) -> JSONReply:
    article = await service.update(db, slug=slug, actor=user, changes=body.article.changes())
    return JSONReply({"article": article_json(article)})


@router.delete(
    "/articles/{slug}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
    summary="Delete an article",
    operation_id="DeleteArticle",
)
async def delete_article(slug: str, user: CurrentUser, db: DB, client: ClientInfo) -> Response:
    await service.delete(db, slug=slug, actor=user, client=client)
    return Response(status_code=204)


@router.post(
    "/articles/{slug}/favorite",
    response_model=SingleArticleResponse,
    responses=error_responses(401, 403, 404, 422),
    summary="Favorite an article",
    operation_id="CreateArticleFavorite",
    tags=["Favorites"],
)
async def favorite(slug: str, user: CurrentUser, db: DB) -> JSONReply:
    article = await service.favorite(db, slug=slug, actor=user)
    return JSONReply({"article": article_json(article)})


@router.delete(
    "/articles/{slug}/favorite",
    response_model=SingleArticleResponse,
    responses=error_responses(401, 403, 404, 422),
    summary="Unfavorite an article",
    operation_id="DeleteArticleFavorite",
    tags=["Favorites"],
)
async def unfavorite(slug: str, user: CurrentUser, db: DB) -> JSONReply:
    article = await service.unfavorite(db, slug=slug, actor=user)
    return JSONReply({"article": article_json(article)})
