"""The GraphQL schema: Query, Mutation, Subscription, with the limits of the settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from conduit.graphql.context import ConduitContext
from conduit.graphql.errors import log_unexpected
from conduit.graphql.limits import extensions
from conduit.graphql.mutations import Mutation
from conduit.graphql.queries import Query
from conduit.graphql.subscriptions import Subscription
from conduit.settings import Settings


class FreshLoaders(SchemaExtension):
    """DataLoaders live for one operation, never longer (no stale reads on a WebSocket)."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, ConduitContext):
            context.forget_loaded()
        yield


class ConduitSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log what Conduit did not expect; a client's mistakes are answered, not logged."""
        log_unexpected(errors)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    chosen: list[Any] = [FreshLoaders, *([] if settings is None else extensions(settings))]
    return ConduitSchema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=chosen
    )


def schema_sdl() -> str:
    """The schema in the GraphQL schema language, as committed in ``schema.graphql``."""
    return build_schema().as_str() + "\n"
