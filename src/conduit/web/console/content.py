"""``/admin/articles``: find articles (search text, or an author) and delete them with a
reason; ``/admin/articles/{slug}``: an article's comments, each deletable with a reason.

Deletions go through the same use cases as the authors' own (``articles.service.delete``,
``comments.service.delete``) with the moderator as the actor: they allow it to moderators
and record it in the audit log with the reason.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.articles import service as articles
from conduit.articles.models import ArticleFilter
from conduit.comments import service as comments
from conduit.http.kit import client_of
from conduit.web.console.access import (
    console_page,
    done,
    page_count,
    page_number,
    page_of,
    staff,
    with_query,
)
from conduit.web.context import web_of
from conduit.web.csrf import checked_form
from conduit.web.errors import answers_errors
from conduit.web.forms import back_to, text

ARTICLES = "/admin/articles"


@answers_errors
async def articles_page(request: Request) -> Response:
    reader = await staff(request)
    db = web_of(request).db
    query = request.query_params.get("q", "").strip()
    author = request.query_params.get("author", "").strip()
    number = page_number(request)
    if query:
        found, total = await articles.search(
            db, query=query, page=page_of(number), viewer_id=reader.visitor.id
        )
    else:
        found, total = await articles.list_articles(
            db,
            where=ArticleFilter(author=author or None),
            page=page_of(number),
            viewer_id=reader.visitor.id,
        )
    return await console_page(
        request,
        reader,
        "articles.html",
        query=query,
        author=author,
        articles=found,
        total=total,
        current_page=number,
        pages=page_count(total),
        base=with_query(ARTICLES, q=query, author=author),
    )


@answers_errors
async def article_page(request: Request) -> Response:
    reader = await staff(request)
    db = web_of(request).db
    slug = request.path_params["slug"]
    article = await articles.get(db, slug=slug, viewer_id=reader.visitor.id)
    listed = await comments.list_for_article(db, slug=slug, viewer_id=reader.visitor.id)
    return await console_page(request, reader, "article.html", article=article, comments=listed)


@answers_errors
async def delete_article(request: Request) -> Response:
    reader = await staff(request)
    form = await checked_form(request)
    await articles.delete(
        web_of(request).db,
        slug=request.path_params["slug"],
        actor=reader.principal,
        client=client_of(request),
        reason=text(form, "reason"),
    )
    return done(request, back_to(form, ARTICLES), "article-deleted")


@answers_errors
async def delete_comment(request: Request) -> Response:
    reader = await staff(request)
    form = await checked_form(request)
    slug = request.path_params["slug"]
    await comments.delete(
        web_of(request).db,
        slug=slug,
        comment_id=request.path_params["comment_id"],
        actor=reader.principal,
        client=client_of(request),
        reason=text(form, "reason"),
    )
    return done(request, back_to(form, f"{ARTICLES}/{slug}"), "comment-deleted")


ROUTES = [
    Route(ARTICLES, articles_page, methods=["GET"]),
    Route(ARTICLES + "/{slug}", article_page, methods=["GET"]),
    Route(ARTICLES + "/{slug}/delete", delete_article, methods=["POST"]),
    Route(ARTICLES + "/{slug}/comments/{comment_id:int}/delete", delete_comment, methods=["POST"]),
]
