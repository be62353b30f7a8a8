"""The templates and the one way a page is answered.

:func:`page` renders a template with what every page shows (the signed-in reader for the
header, the CSRF token for its forms) and answers it with the web app's headers: a strict
Content-Security-Policy (scripts and styles from this server only, no inline script), no
caching by shared caches, and the cookies the request changed.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from conduit.web import csrf, session
from conduit.web.assets import STATIC_PREFIX, version

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_AVATAR = f"{STATIC_PREFIX}/default-avatar.svg"

# Pages: this server's scripts, styles and fonts only; pictures of users and articles are
# links to anywhere on https; forms post only here; never framed.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; "
    "img-src 'self' https:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": PAGE_POLICY,
    # A form post must carry its Origin (under no-referrer a browser sends "null").
    "referrer-policy": "same-origin",
    "cache-control": "private, no-cache",
    "vary": "Cookie",
}


def avatar(image: str | None) -> str:
    """A user's picture, or the default one for a user without."""
    return image or DEFAULT_AVATAR


MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
PAGE_LINKS_AROUND = 3  # page links shown on each side of the current page


def long_date(moment: dt.datetime) -> str:
    """``January 20, 2026``, as the RealWorld pages show dates (in English, whatever the
    process's locale)."""
    return f"{MONTHS[moment.month - 1]} {moment.day}, {moment.year}"


@functools.lru_cache(maxsize=4096)
def url_part(value: str) -> str:
    """``value`` quoted as one segment of a path (slugs and usernames repeat on every page)."""
    return quote(value, safe="")


def page_numbers(current: int, pages: int) -> list[int | None]:
    """The page links a list shows: the first, the last and those around the current one;
    None where numbers are left out (a list of 1,000 pages shows about ten links)."""
    shown = {1, pages, *range(current - PAGE_LINKS_AROUND, current + PAGE_LINKS_AROUND + 1)}
    numbers: list[int | None] = []
    for number in sorted(n for n in shown if 1 <= n <= pages):
        if numbers and number - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
environment.filters["avatar"] = avatar
environment.filters["long_date"] = long_date
environment.filters["url_part"] = url_part
environment.globals["page_numbers"] = page_numbers
environment.globals["static"] = STATIC_PREFIX
environment.globals["asset_version"] = version()


def here(request: Request) -> str:
    """This page's path and query: where a form on it comes back to."""
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


async def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """``template`` rendered for this request's reader, with the page headers and cookies."""
    reader = await session.visitor(request)
    html = environment.get_template(template).render(
        request=request,
        me=reader,
        csrf_token=csrf.token(request),
        path=request.url.path,
        here=here(request),
        **context,
    )
    return session.apply(request, HTMLResponse(html, status_code, headers=PAGE_HEADERS))


def redirect(request: Request, url: str) -> Response:
    """After a form: see ``url`` (303, so the browser gets it), with the cookies set."""
    return session.apply(request, RedirectResponse(url, status_code=303))
