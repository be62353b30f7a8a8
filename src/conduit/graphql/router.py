"""``/graphql``: queries and mutations over HTTP (GET and POST), subscriptions over a
WebSocket speaking ``graphql-transport-ws``, GraphiQL in a browser (not in production; its
scripts from this server, see ``http/static_assets.py``).

A request that is not GraphQL (a body that is not JSON, no query, a mutation over GET, a
body that is not ``application/json``) is answered in the GraphQL-over-HTTP error shape,
``{"errors": [{"message": "..."}]}`` as ``application/json``, with a 4xx status: 400, but
405 (``Allow: POST``) for an operation GET may not run and 415 for another content type.

Authentication is REST's: ``Authorization: Token <jwt>`` (or ``Bearer``) on the request or
the WebSocket handshake, or ``{"authorization": "Token <jwt>"}`` as the ``connection_init``
payload (an invalid token there closes the socket with 4403).
"""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException  # what Strawberry's views raise for a refused request
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from conduit.bootstrap import Container
from conduit.graphql.context import ConduitContext
from conduit.graphql.schema import build_schema
from conduit.http.kit import JSONReply
from conduit.http.static_assets import GraphiqlAssets
from conduit.live.hub import Hub

GRAPHQL_PATH = "/graphql"


def _authorization(params: object) -> str | None:
    if not isinstance(params, dict):
        return None
    for key in ("authorization", "Authorization"):
        value = params.get(key)
        if isinstance(value, str):
            return value
    return None


_UNSUPPORTED_CONTENT_TYPE = "Unsupported content type"
_NOT_JSON = "Unable to parse request body as JSON"


def _request_error(exc: HTTPException) -> JSONReply:
    status, message, headers = exc.status_code, exc.reason, None
    if status == 400 and message == _UNSUPPORTED_CONTENT_TYPE:
        status = 415
        message = "Unsupported content type: send the request as application/json"
    elif status == 400 and message.endswith("are not allowed when using GET"):
        status, headers = 405, {"Allow": "POST"}  # GraphQL over HTTP: 405 for GET
    return JSONReply({"errors": [{"message": message}]}, status_code=status, headers=headers)


class ConduitGraphQLRouter(GraphQLRouter[ConduitContext, None]):
    graphiql_assets: GraphiqlAssets | None = None

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """Strawberry's GraphiQL page, its scripts served by Conduit (no CDN)."""
        assets = self.graphiql_assets or GraphiqlAssets()
        page, status = assets.page(self.graphql_ide_html)
        return HTMLResponse(page, status_code=status)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Strawberry's own run; its plain-text refusals become GraphQL errors in JSON."""
        try:
            response: Response = await super().run(request, context, root_value)
        except HTTPException as exc:
            return _request_error(exc)
        return response

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return super().parse_json(data)
        except RecursionError as exc:
            raise HTTPException(400, "The request body is nested too deeply") from exc
        except ValueError as exc:  # invalid UTF-8, an integer too long
            raise HTTPException(400, _NOT_JSON) from exc

    async def on_ws_connect(self, context: ConduitContext) -> UnsetType | dict[str, object] | None:
        authorization = _authorization(context.connection_params)
        if authorization is not None:
            context.sign_in(authorization)
            if context.auth_error is not None:
                raise ConnectionRejectionError({"errors": context.auth_error.errors})
        unset: UnsetType = UNSET
        return unset


def graphql_router(parts: Container, hub: Hub) -> GraphQLRouter[ConduitContext, None]:
    settings = parts.settings

    async def context(connection: HTTPConnection) -> ConduitContext:
        return ConduitContext(parts, hub, connection)

    router = ConduitGraphQLRouter(
        build_schema(settings),
        path=GRAPHQL_PATH,
        graphql_ide="graphiql" if settings.graphql_ide_enabled else None,
        context_getter=context,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        include_in_schema=False,
    )
    router.graphiql_assets = GraphiqlAssets(settings.graphiql_assets_dir)
    return router
