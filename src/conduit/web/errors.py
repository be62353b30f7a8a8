"""How a page answers what went wrong: the error page, or the sign-in page.

A use case's :class:`~conduit.core.errors.ConduitError` becomes a page with its status and
message (404 for an unknown article or profile, 403 for a refused action or form, 503 with
Retry-After when a service is down); a page for signed-in readers only sends an anonymous
reader to ``/login``. Never a stack trace: anything else is the app's own 500 handling.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from conduit.core.errors import ConduitError, NotFound, Unauthenticated
from conduit.web.templating import page, redirect

Endpoint = Callable[[Request], Awaitable[Response]]
RETRY_AFTER_SECONDS = "5"


def messages_of(error: ConduitError) -> list[str]:
    """``field message`` lines, as the RealWorld pages list errors."""
    return [
        f"{field} {message}" for field, messages in error.errors.items() for message in messages
    ]


async def error_page(request: Request, error: ConduitError) -> Response:
    response = await page(
        request, "pages/error.html", error.status, status=error.status, messages=messages_of(error)
    )
    if error.status in (429, 503):
        response.headers["retry-after"] = RETRY_AFTER_SECONDS
    return response


async def not_found_page(request: Request) -> Response:
    return await error_page(request, NotFound("page"))


def answers_errors(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` with the use cases' errors answered as pages."""

    @functools.wraps(endpoint)
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Unauthenticated:
            return redirect(request, "/login")
        except ConduitError as error:
            return await error_page(request, error)

    return run
