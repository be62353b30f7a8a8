"""The operations views, for admins: ``/admin/dead-letters`` (the events consumers gave up
on: list, inspect, replay) and ``/admin/rate-limits`` (the requests this instance's rate
limits refused lately; each instance keeps its own)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.admin import operations
from conduit.http.kit import client_of
from conduit.web.console.access import console_page, done, staff
from conduit.web.context import web_of
from conduit.web.csrf import checked_form
from conduit.web.errors import answers_errors

DEAD_LETTERS = "/admin/dead-letters"
# How many dead letters the list shows (the newest).
LISTED_DEAD_LETTERS = 100


def _pretty(payload: str) -> str:
    """A stored event envelope, indented for reading (as stored if it is not JSON)."""
    try:
        return orjson.dumps(orjson.loads(payload), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return payload


@answers_errors
async def dead_letters_page(request: Request) -> Response:
    reader = await staff(request)
    letters = await operations.list_dead_letters(
        web_of(request).db, actor=reader.principal, limit=LISTED_DEAD_LETTERS
    )
    return await console_page(request, reader, "dead_letters.html", letters=letters)


@answers_errors
async def dead_letter_page(request: Request) -> Response:
    reader = await staff(request)
    detail = await operations.dead_letter(
        web_of(request).db, actor=reader.principal, dead_letter_id=request.path_params["id"]
    )
    return await console_page(
        request, reader, "dead_letter.html", letter=detail.letter, payload=_pretty(detail.payload)
    )


@answers_errors
async def replay(request: Request) -> Response:
    reader = await staff(request)
    await checked_form(request)
    web = web_of(request)
    letter_id = request.path_params["id"]
    await operations.replay_dead_letter(
        web.db,
        actor=reader.principal,
        dead_letter_id=letter_id,
        consumer_names=web.consumer_names,
        client=client_of(request),
    )
    return done(request, f"{DEAD_LETTERS}/{letter_id}", "replayed")


@answers_errors
async def rate_limits_page(request: Request) -> Response:
    reader = await staff(request)
    web = web_of(request)
    seen = operations.rate_limit_refusals(actor=reader.principal, refusals=web.rate_limit_refusals)
    return await console_page(
        request,
        reader,
        "rate_limits.html",
        refusals=seen,
        limits_on=web.rate_limiter is not None,
    )


ROUTES = [
    Route(DEAD_LETTERS, dead_letters_page, methods=["GET"]),
    Route(DEAD_LETTERS + "/{id:int}", dead_letter_page, methods=["GET"]),
    Route(DEAD_LETTERS + "/{id:int}/replay", replay, methods=["POST"]),
    Route("/admin/rate-limits", rate_limits_page, methods=["GET"]),
]
