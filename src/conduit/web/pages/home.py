"""The home page: the global feed, the reader's own feed, a tag's articles, and the tags.

``/`` (global), ``/?feed=following`` (the authors the reader follows), ``/tag/<tag>``;
``?page=N`` on each. Ten articles a page, as the RealWorld frontends show. Two statements:
the page of articles (with its count) and the popular tags.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.articles import service as articles
from conduit.articles.models import ArticleFilter
from conduit.tags import service as tags
from conduit.web.context import web_of
from conduit.web.errors import answers_errors
from conduit.web.paging import page_count, page_number, page_of
from conduit.web.session import visitor
from conduit.web.templating import page, redirect

FOLLOWING = "following"


@answers_errors
async def home(request: Request) -> Response:
    web = web_of(request)
    reader = await visitor(request)
    tag = request.path_params.get("tag")
    following = request.query_params.get("feed") == FOLLOWING and tag is None
    if following and reader is None:
        return redirect(request, "/login")
    number = page_number(request)
    if following and reader is not None:
        found, total = await articles.feed(web.db, page=page_of(number), user_id=reader.id)
    else:
        found, total = await articles.list_articles(
            web.db,
            where=ArticleFilter(tag=tag),
            page=page_of(number),
            viewer_id=reader.id if reader else None,
        )
    popular = await tags.popular(web.db)
    return await page(
        request,
        "pages/home.html",
        articles=found,
        current_page=number,
        pages=page_count(total),
        feed=FOLLOWING if following else ("tag" if tag else "global"),
        tag=tag,
        tags=popular,
    )


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/tag/{tag}", home, methods=["GET"]),
]
