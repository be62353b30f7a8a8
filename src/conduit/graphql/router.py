"""``/graphql``: queries and mutations over HTTP (GET and POST), subscriptions over a
WebSocket speaking ``graphql-transport-ws``, GraphiQL in a browser (not in production).

Authentication is REST's: ``Authorization: Token <jwt>`` (or ``Bearer``) on the request or
the WebSocket handshake, or ``{"authorization": "Token <jwt>"}`` as the ``connection_init``
payload (an invalid token there closes the socket with 4403).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from conduit.bootstrap import Container
from conduit.graphql.context import ConduitContext
from conduit.graphql.schema import build_schema
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


class ConduitGraphQLRouter(GraphQLRouter[ConduitContext, None]):
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

    return ConduitGraphQLRouter(
        build_schema(settings),
        path=GRAPHQL_PATH,
        graphql_ide="graphiql" if settings.graphql_ide_enabled else None,
        context_getter=context,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        include_in_schema=False,
    )
