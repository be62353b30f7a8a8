"""The article page (``/article/<slug>``) and what its forms post: favorite, delete, comments.

Reading the page takes two statements: the article (with its author, tags and the
reader's flags) and its comments (with their authors). The body's HTML comes from the
per-version cache of :class:`~conduit.web.markdown.ArticleBodies`; comments are shown as
the plain text their authors typed. Who may delete what is the use cases' decision
(:mod:`conduit.core.policy`); the page only leaves out the buttons a reader may not use.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.articles import service as articles
from conduit.comments import service as comments
from conduit.comments.schemas import NewComment
from conduit.core import policy
from conduit.core.errors import Invalid
from conduit.http.kit import client_of
from conduit.web.context import web_of
from conduit.web.csrf import checked_form
from conduit.web.errors import answers_errors, messages_of
from conduit.web.forms import back_to, text, validated
from conduit.web.session import visitor
from conduit.web.templating import page, redirect


def article_path(slug: str) -> str:
    """The article page's own path."""
    return f"/article/{quote(slug, safe='')}"


async def _article_page(
    request: Request,
    slug: str,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    comment: str = "",
) -> Response:
    web = web_of(request)
    reader = await visitor(request)
    viewer_id = reader.id if reader else None
    article = await articles.get(web.db, slug=slug, viewer_id=viewer_id)
    found = await comments.list_for_article(web.db, slug=slug, viewer_id=viewer_id)
    is_author = reader is not None and reader.username == article.author.username
    moderator = reader is not None and policy.is_moderator(reader.principal)
    return await page(
        request,
        "pages/article.html",
        status,
        article=article,
        body=web.bodies.rendered(article.id, article.updated_at, article.body or ""),
        comments=found,
        is_author=is_author,
        may_delete=is_author or moderator,
        moderator=moderator,
        errors=errors or [],
        comment=comment,
    )


@answers_errors
async def show(request: Request) -> Response:
    return await _article_page(request, request.path_params["slug"])


@answers_errors
async def favorite(request: Request) -> Response:
    return await _set_favorite(request, on=True)


@answers_errors
async def unfavorite(request: Request) -> Response:
    return await _set_favorite(request, on=False)


async def _set_favorite(request: Request, *, on: bool) -> Response:
    form = await checked_form(request)
    reader = await visitor(request)
    if reader is None:
        return redirect(request, "/login")
    slug = request.path_params["slug"]
    mark = articles.favorite if on else articles.unfavorite
    await mark(web_of(request).db, slug=slug, actor=reader.principal)
    return redirect(request, back_to(form, article_path(slug)))


@answers_errors
async def delete(request: Request) -> Response:
    await checked_form(request)
    reader = await visitor(request)
    if reader is None:
        return redirect(request, "/login")
    await articles.delete(
        web_of(request).db,
        slug=request.path_params["slug"],
        actor=reader.principal,
        client=client_of(request),
    )
    return redirect(request, "/")


@answers_errors
async def add_comment(request: Request) -> Response:
    form = await checked_form(request)
    reader = await visitor(request)
    if reader is None:
        return redirect(request, "/login")
    slug = request.path_params["slug"]
    typed = text(form, "body")
    try:
        new = validated(NewComment, {"body": typed})
    except Invalid as refused:
        return await _article_page(
            request, slug, status=422, errors=messages_of(refused), comment=typed
        )
    await comments.add(web_of(request).db, slug=slug, actor=reader.principal, body=new.body)
    return redirect(request, article_path(slug))


@answers_errors
async def delete_comment(request: Request) -> Response:
    await checked_form(request)
    reader = await visitor(request)
    if reader is None:
        return redirect(request, "/login")
    slug = request.path_params["slug"]
    await comments.delete(
        web_of(request).db,
        slug=slug,
        comment_id=request.path_params["comment_id"],
        actor=reader.principal,
        client=client_of(request),
    )
    return redirect(request, article_path(slug))


ROUTES = [
    Route("/article/{slug}", show, methods=["GET"]),
    Route("/article/{slug}/favorite", favorite, methods=["POST"]),
    Route("/article/{slug}/unfavorite", unfavorite, methods=["POST"]),
    Route("/article/{slug}/delete", delete, methods=["POST"]),
    Route("/article/{slug}/comments", add_comment, methods=["POST"]),
    Route("/article/{slug}/comments/{comment_id:int}/delete", delete_comment, methods=["POST"]),
]
