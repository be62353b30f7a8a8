"""What one GraphQL document may ask for (settings ``CONDUIT_GRAPHQL_*``).

- depth (``graphql_max_depth``, 10), aliases (``graphql_max_aliases``, 15) and tokens
  (``graphql_max_tokens``, 2000): Strawberry's QueryDepthLimiter, MaxAliasesLimiter and
  MaxTokensLimiter;
- cost (``graphql_max_cost``, 5000): :class:`CostLimiter` below. Every field costs 1, and
  the fields under a field with a ``limit`` argument cost once per item it may return
  (its ``limit``, from the literal, the variable or the default; none means 100);
- introspection off when ``graphql_introspection`` is false (default: off in production).

Lists are capped by the use cases' own bound (``limit`` at most 100, as REST). A document
over a limit is refused before anything runs: one error with ``extensions.code``
``LIMIT_EXCEEDED`` (HTTP 200, as every GraphQL error here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
)
from graphql.pyutils import Undefined
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from conduit.core.pagination import MAX_LIMIT
from conduit.graphql.errors import LIMIT_EXCEEDED, PublicErrors
from conduit.settings import Settings


def _list_size(field: FieldNode, definition: GraphQLField, variables: Mapping[str, Any]) -> int:
    """How many items a field with a ``limit`` argument may return (1 for other fields)."""
    argument = definition.args.get("limit")
    if argument is None:
        return 1
    value: Any = argument.default_value
    for node in field.arguments or ():
        if node.name.value != "limit":
            continue
        if isinstance(node.value, IntValueNode):
            value = int(node.value.value)
        elif isinstance(node.value, VariableNode):
            value = variables.get(node.value.name.value, argument.default_value)
        else:
            value = None
    if not isinstance(value, int) or value is Undefined:
        return MAX_LIMIT
    return max(1, min(value, MAX_LIMIT))


class _Cost:
    def __init__(self, context: ValidationContext, variables: Mapping[str, Any]) -> None:
        self.context = context
        self.variables = variables

    def of(
        self,
        selections: SelectionSetNode,
        parent: GraphQLNamedType | None,
        multiplier: int,
        fragments: frozenset[str] = frozenset(),
    ) -> int:
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += multiplier
                name = selection.name.value
                if selection.selection_set is None or name.startswith("__"):
                    continue
                fields = (
                    parent.fields
                    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
                    else {}
                )
                definition = fields.get(name)
                if definition is None:
                    continue
                size = _list_size(selection, definition, self.variables)
                total += self.of(
                    selection.selection_set,
                    get_named_type(definition.type),
                    multiplier * size,
                    fragments,
                )
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.context.schema.get_type(condition.name.value) if condition else parent
                total += self.of(selection.selection_set, inner, multiplier, fragments)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.context.get_fragment(name)
                if fragment is None or name in fragments:
                    continue
                inner = self.context.schema.get_type(fragment.type_condition.name.value)
                total += self.of(fragment.selection_set, inner, multiplier, fragments | {name})
        return total


def cost_rule(max_cost: int, variables: Mapping[str, Any]) -> type[ValidationRule]:
    class CostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            root = self.context.schema.get_root_type(node.operation)
            cost = _Cost(self.context, variables).of(node.selection_set, root, 1)
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"Query cost {cost} exceeds the maximum cost of {max_cost} "
                        "(each field counts once per item of the lists above it)",
                        node,
                        extensions={"code": LIMIT_EXCEEDED, "cost": cost, "maxCost": max_cost},
                    )
                )

    return CostRule


class CostLimiter(SchemaExtension):
    """Refuses documents whose cost (see the module) is over ``max_cost``."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        rule = cost_rule(self.max_cost, context.variables or {})
        context.validation_rules = (*context.validation_rules, rule)
        yield


ExtensionFactory = Callable[[], SchemaExtension]


def extensions(settings: Settings) -> list[ExtensionFactory]:
    """The schema's extensions, each built afresh for every operation."""
    chosen: list[ExtensionFactory] = [
        PublicErrors,
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        partial(QueryDepthLimiter, max_depth=settings.graphql_max_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.graphql_max_aliases),
        partial(CostLimiter, settings.graphql_max_cost),
    ]
    if not settings.graphql_introspection_enabled:
        chosen.append(DisableIntrospection)
    return chosen
