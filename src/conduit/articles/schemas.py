"""Request and response bodies of the articles endpoints (spec: Article, NewArticle...)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from conduit.articles.models import Article
from conduit.core.formatting import iso
from conduit.core.validation import (
    Body,
    Description,
    NotNull,
    PatchModel,
    RequestModel,
    TagList,
    Title,
)
from conduit.profiles.schemas import ProfileModel, profile_json


class NewArticle(RequestModel):
    title: Title
    description: Description
    body: Body
    tagList: TagList = Field(default_factory=list)


class NewArticleRequest(RequestModel):
    article: NewArticle


class UpdateArticle(PatchModel):
    title: Annotated[Title | None, NotNull] = None
    description: Annotated[Description | None, NotNull] = None
    body: Annotated[Body | None, NotNull] = None
    tagList: Annotated[TagList | None, NotNull] = None

    def changes(self) -> dict[str, Any]:
        values = super().changes()
        if "tagList" in values:
            values["tag_list"] = values.pop("tagList")
        return values


class UpdateArticleRequest(RequestModel):
    article: UpdateArticle


class ArticleListItem(BaseModel):
    slug: str
    title: str
    description: str
    tagList: list[str]
    createdAt: str = Field(json_schema_extra={"format": "date-time"})
    updatedAt: str = Field(json_schema_extra={"format": "date-time"})
    favorited: bool
    favoritesCount: int
    author: ProfileModel


class ArticleModel(ArticleListItem):
    body: str


class SingleArticleResponse(BaseModel):
    article: ArticleModel


class MultipleArticlesResponse(BaseModel):
    articles: list[ArticleListItem]
    articlesCount: int


def article_json(article: Article) -> dict[str, Any]:
    """The API shape of an article; lists (``body`` None) leave the body out."""
    data: dict[str, Any] = {
        "slug": article.slug,
        "title": article.title,
        "description": article.description,
        "tagList": article.tag_list,
        "createdAt": iso(article.created_at),
        "updatedAt": iso(article.updated_at),
        "favorited": article.favorited,
        "favoritesCount": article.favorites_count,
        "author": profile_json(article.author),
    }
    if article.body is not None:
        data["body"] = article.body
    return data


def articles_json(page: list[Article], total: int) -> dict[str, Any]:
    return {"articles": [article_json(article) for article in page], "articlesCount": total}
