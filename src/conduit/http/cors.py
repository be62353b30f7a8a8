"""CORS, as Starlette's ``CORSMiddleware`` does it, as a step of the HTTP pipeline.

The policy (which origins, methods, headers; preflight answers) is Starlette's own object,
built from the same arguments; only the wrapping differs: the pipeline asks for a preflight
answer before the app and adds the simple-response headers in its single pass over the
answer's headers, instead of one more ASGI layer re-wrapping ``send``.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Message, Scope


class CorsPolicy:
    def __init__(
        self,
        *,
        allow_origins: Collection[str],
        allow_methods: Collection[str],
        allow_headers: Collection[str],
        allow_credentials: bool,
        expose_headers: Collection[str],
        max_age: int,
    ) -> None:
        self.policy = CORSMiddleware(
            None,  # type: ignore[arg-type]  # never called: only its policy is used
            allow_origins=allow_origins,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            allow_credentials=allow_credentials,
            expose_headers=expose_headers,
            max_age=max_age,
        )

    def preflight(self, scope: Scope) -> Response:
        """The answer to a preflight (``OPTIONS`` with Origin and
        Access-Control-Request-Method): 200, or 400 naming what is not allowed."""
        return self.policy.preflight_response(request_headers=Headers(scope=scope))

    def add_headers(self, message: Message, origin: str | None) -> None:
        """The headers of a simple (non-preflight) answer, as ``CORSMiddleware.send``."""
        policy = self.policy
        message.setdefault("headers", [])
        headers = MutableHeaders(scope=message)
        if origin is not None:
            headers.update(policy.simple_headers)
        if origin is not None and (
            (policy.allow_all_origins and policy.allow_credentials)
            or (not policy.allow_all_origins and policy.is_allowed_origin(origin=origin))
        ):
            policy.allow_explicit_origin(headers, origin)
        else:
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
