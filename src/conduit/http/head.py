"""HEAD wherever GET is served (RFC 9110 9.3.2): the GET's status and headers, no body.

FastAPI routes answer only the methods they declare, so ``HEAD /api/articles`` would be a
405. Rather than declare HEAD on every route (which would also list a ``head`` operation
per path in the OpenAPI document), a HEAD request goes on as a GET and its answer loses
its body on the way out. Sitting outside the conditional-GET step, the answer keeps the
GET's ``ETag``, ``Content-Length`` and ``Content-Type``, and ``If-None-Match`` still gets
its 304; the rate limits count it as the read it is; the read cache may answer it.

(A 405 lists HEAD beside GET in its ``Allow`` header: :mod:`conduit.http.errors`.) The
few answers made further out (a 429, a 413) keep their body here; the server leaves the
body of any answer to a HEAD unsent, as HTTP requires of it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        sent_end = False

        async def without_body(message: Message) -> None:
            nonlocal sent_end
            if message["type"] == "http.response.start":
                await send(message)
            elif message["type"] == "http.response.body":
                if not message.get("more_body", False) and not sent_end:
                    sent_end = True
                    await send({"type": "http.response.body", "body": b""})
            else:
                await send(message)

        scope.setdefault("state", {})  # shared with the copy: what inner steps leave there
        await self.app({**scope, "method": "GET"}, receive, without_body)
