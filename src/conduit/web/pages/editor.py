"""The editor: writing a new article (``/editor``) and editing one (``/editor/<slug>``).

For signed-in readers only. A form is checked by the API's own models (``NewArticle``,
``UpdateArticle``), so a field is refused with the API's message, and written by the same
use cases; who may edit is theirs to decide.

Tags arrive two ways, and the article gets both, in order, each once: the hidden
``tagList`` inputs of the tag pills (the script adds one per tag typed and Enter; the
page renders one per existing tag), and the words of the ``tags`` text field, split on
commas and spaces (what an author types without the script). The hidden
``tagList_present`` field says the form carried its tags, so that an edit whose pills were
all removed leaves the article with no tags rather than its old ones.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.articles import service as articles
from conduit.articles.exceptions import NotArticleAuthor
from conduit.articles.schemas import NewArticle, UpdateArticle
from conduit.core.errors import Invalid
from conduit.web.context import web_of
from conduit.web.csrf import checked_form
from conduit.web.errors import answers_errors, messages_of
from conduit.web.forms import text, validated
from conduit.web.pages.article import article_path
from conduit.web.session import visitor
from conduit.web.templating import page, redirect

TAG_SEPARATORS = re.compile(r"[\s,]+")
TAGS_PRESENT = "tagList_present"


def tags_of(form: FormData) -> list[str]:
    """The pills' tags, then the typed words, without repeats (first place kept)."""
    pills = [value.strip() for value in form.getlist("tagList") if isinstance(value, str)]
    typed = TAG_SEPARATORS.split(text(form, "tags"))
    return list(dict.fromkeys(tag for tag in (*pills, *typed) if tag))


def _typed(form: FormData) -> dict[str, Any]:
    return {
        "title": text(form, "title"),
        "description": text(form, "description"),
        "body": text(form, "body"),
        "tags": tags_of(form),
    }


async def _editor_page(
    request: Request,
    values: dict[str, Any],
    *,
    slug: str | None = None,
    errors: list[str] | None = None,
) -> Response:
    status = 422 if errors else 200
    return await page(
        request, "pages/editor.html", status, values=values, slug=slug, errors=errors or []
    )


@answers_errors
async def new_page(request: Request) -> Response:
    if await visitor(request) is None:
        return redirect(request, "/login")
    return await _editor_page(request, {"title": "", "description": "", "body": "", "tags": []})


@answers_errors
async def publish(request: Request) -> Response:
    form = await checked_form(request)
    reader = await visitor(request)
    if reader is None:
        return redirect(request, "/login")
    values = _typed(form)
    try:
        new = validated(
            NewArticle,
            {
                "title": values["title"],
                "description": values["description"],
                "body": values["body"],
                "tagList": values["tags"],
            },
        )
    except Invalid as refused:
        return await _editor_page(request, values, errors=messages_of(refused))
    article = await articles.create(
        web_of(request).db,
        actor=reader.principal,
        title=new.title,
        description=new.description,
        body=new.body,
        tag_list=new.tagList,
    )
    return redirect(request, article_path(article.slug))


@answers_errors
async def edit_page(request: Request) -> Response:
    reader = await visitor(request)
    if reader is None:
        return redirect(request, "/login")
    slug = request.path_params["slug"]
    article = await articles.get(web_of(request).db, slug=slug, viewer_id=reader.id)
    if article.author.username != reader.username:
        raise NotArticleAuthor()
    values = {
        "title": article.title,
        "description": article.description,
        "body": article.body or "",
        "tags": article.tag_list,
    }
    return await _editor_page(request, values, slug=slug)


@answers_errors
async def save(request: Request) -> Response:
    form = await checked_form(request)
    reader = await visitor(request)
    if reader is None:
        return redirect(request, "/login")
    slug = request.path_params["slug"]
    values = _typed(form)
    fields: dict[str, object] = {
        "title": values["title"],
        "description": values["description"],
        "body": values["body"],
    }
    if form.get(TAGS_PRESENT) is not None or values["tags"]:
        fields["tagList"] = values["tags"]
    try:
        changes = validated(UpdateArticle, fields).changes()
    except Invalid as refused:
        return await _editor_page(request, values, slug=slug, errors=messages_of(refused))
    article = await articles.update(
        web_of(request).db, slug=slug, actor=reader.principal, changes=changes
    )
    return redirect(request, article_path(article.slug))


ROUTES = [
    Route("/editor", new_page, methods=["GET"]),
    Route("/editor", publish, methods=["POST"]),
    Route("/editor/{slug}", edit_page, methods=["GET"]),
    Route("/editor/{slug}", save, methods=["POST"]),
]
