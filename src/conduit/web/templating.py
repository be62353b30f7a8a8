"""The templates and the one way a page is answered.

:func:`page` renders a template with what every page shows (the signed-in reader for the
header, the CSRF token for its forms) and answers it with the web app's headers: a strict
Content-Security-Policy (scripts and styles from this server only, no inline script), no
caching by shared caches, and the cookies the request changed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from conduit.web import csrf, session

TEMPLATES = Path(__file__).parent / "templates"
STATIC_PREFIX = "/static/web"
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


def long_date(moment: dt.datetime) -> str:
    """``January 20, 2026``, as the RealWorld pages show dates."""
    return f"{moment:%B} {moment.day}, {moment.year}"


environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
environment.filters["avatar"] = avatar
environment.filters["long_date"] = long_date
environment.globals["static"] = STATIC_PREFIX


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
