"""A user's profile: their articles (``/profile/<u>``), the ones they favorited
(``/profile/<u>/favorites``), and following them (``POST /profile/<u>/follow`` and ``/unfollow``).

Ten articles a page (``?page=N``), as on the home page. Two statements a page: the profile
(with whether the reader follows it) and the page of articles (with its count). An unknown
username answers the 404 page.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.articles import service as articles
from conduit.articles.models import ArticleFilter
from conduit.profiles import service as profiles
from conduit.web.context import web_of
from conduit.web.csrf import checked_form
from conduit.web.errors import answers_errors
from conduit.web.forms import back_to
from conduit.web.paging import page_count, page_number, page_of
from conduit.web.session import visitor
from conduit.web.templating import page, redirect

MINE = "mine"
FAVORITES = "favorites"


def profile_path(username: str) -> str:
    return f"/profile/{quote(username, safe='')}"


async def _profile_page(request: Request, tab: str) -> Response:
    web = web_of(request)
    reader = await visitor(request)
    viewer_id = reader.id if reader else None
    username: str = request.path_params["username"]
    profile = await profiles.get(web.db, username=username, viewer_id=viewer_id)
    number = page_number(request)
    where = (
        ArticleFilter(favorited_by=profile.username)
        if tab == FAVORITES
        else ArticleFilter(author=profile.username)
    )
    found, total = await articles.list_articles(
        web.db, where=where, page=page_of(number), viewer_id=viewer_id
    )
    home = profile_path(profile.username)
    return await page(
        request,
        "pages/profile.html",
        profile=profile,
        own=reader is not None and reader.username == profile.username,
        tab=tab,
        home=home,
        articles=found,
        current_page=number,
        pages=page_count(total),
        base=f"{home}/favorites" if tab == FAVORITES else home,
    )


@answers_errors
async def authored(request: Request) -> Response:
    return await _profile_page(request, MINE)


@answers_errors
async def favorited(request: Request) -> Response:
    return await _profile_page(request, FAVORITES)


async def _set_following(request: Request, *, on: bool) -> Response:
    form = await checked_form(request)
    reader = await visitor(request)
    if reader is None:
        return redirect(request, "/login")
    username: str = request.path_params["username"]
    change = profiles.follow if on else profiles.unfollow
    await change(web_of(request).db, username=username, actor=reader.principal)
    return redirect(request, back_to(form, profile_path(username)))


@answers_errors
async def follow(request: Request) -> Response:
    return await _set_following(request, on=True)


@answers_errors
async def unfollow(request: Request) -> Response:
    return await _set_following(request, on=False)


ROUTES = [
    Route("/profile/{username}", authored, methods=["GET"]),
    Route("/profile/{username}/favorites", favorited, methods=["GET"]),
    Route("/profile/{username}/follow", follow, methods=["POST"]),
    Route("/profile/{username}/unfollow", unfollow, methods=["POST"]),
]
