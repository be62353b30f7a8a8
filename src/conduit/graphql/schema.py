"""The GraphQL schema: Query, Mutation, Subscription, with the limits of the settings."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from conduit.graphql.errors import log_unexpected
from conduit.graphql.limits import extensions
from conduit.graphql.mutations import Mutation
from conduit.graphql.queries import Query
from conduit.graphql.subscriptions import Subscription
from conduit.settings import Settings


class ConduitSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log what Conduit did not expect; a client's mistakes are answered, not logged."""
        log_unexpected(errors)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    chosen: list[Any] = [] if settings is None else extensions(settings)
    return ConduitSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=chosen
    )


def schema_sdl() -> str:
    """The schema in the GraphQL schema language, as committed in ``schema.graphql``."""
    return build_schema().as_str() + "\n"
