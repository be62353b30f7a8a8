"""``/admin``: how many accounts, articles and comments there are; for admins, how events
are delivered (the outbox backlog, each consumer's work, the dead letters waiting)."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.admin import accounts, operations
from conduit.articles import service as articles
from conduit.comments import service as comments
from conduit.web.console.access import console_page, staff
from conduit.web.context import web_of
from conduit.web.errors import answers_errors


@answers_errors
async def overview(request: Request) -> Response:
    reader = await staff(request)
    web = web_of(request)
    counted = await accounts.counts(web.db, actor=reader.principal)
    delivery = None
    if reader.admin:
        delivery = await operations.event_delivery(
            web.db, actor=reader.principal, consumer_names=web.consumer_names
        )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return await console_page(
        request,
        reader,
        "overview.html",
        counts=counted,
        articles=await articles.count(web.db),
        comments=await comments.count(web.db),
        delivery=delivery,
        oldest_age=None if delivery is None else delivery.backlog.oldest_age_seconds(now),
    )


ROUTES = [Route("/admin", overview, methods=["GET"])]
