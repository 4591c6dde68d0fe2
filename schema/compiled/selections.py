"""What the planner reads of a validated selection: field nodes, object types, their fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import FieldNode, GraphQLField, GraphQLObjectType, GraphQLOutputType, get_named_type
from graphql.execution.collect_fields import FieldDetailsList

from schema.compiled.plans import NotCompiled

CollectSubfields = Callable[[GraphQLObjectType, FieldDetailsList], Any]
"""graphql-core's executor's `collect_subfields`: fragments, `@skip`/`@include` applied."""


def only_node(details: FieldDetailsList) -> FieldNode:
    """The field node of a response key; fields merged from several nodes must agree, and do
    (validation), but deferred or fragment-variable fields are left to today's path."""
    for item in details:
        if item.defer_usage is not None or item.fragment_variable_values is not None:
            raise NotCompiled("deferred fields or fragment variables")
    return details[0].node


def object_type_of(kind: GraphQLOutputType) -> GraphQLObjectType:
    named = get_named_type(kind)
    if not isinstance(named, GraphQLObjectType):
        raise NotCompiled(f"{named}: not an object type")
    return named


def fields_of(
    collect: CollectSubfields, object_type: GraphQLObjectType, details: FieldDetailsList
) -> list[tuple[str, FieldDetailsList]]:
    collected = collect(object_type, details)
    if collected.new_defer_usages:
        raise NotCompiled("@defer")
    if not collected.grouped_field_set:
        raise NotCompiled("every field skipped")  # `{}`: not worth a dialect's empty object
    return list(collected.grouped_field_set.items())


def known_arguments(field: GraphQLField, known: frozenset[str]) -> bool:
    """Whether the compiler knows every argument of `field`."""
    return set(field.args) <= known
