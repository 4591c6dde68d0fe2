"""Reading a client's document: where its connection is, and which leaves become columns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    Undefined,
    get_nullable_type,
    value_from_ast,
)

from api.exports.refusals import bad
from schema.datasets import DatasetSpec

Fragments = dict[str, FragmentDefinitionNode]


@dataclass(frozen=True, slots=True)
class Column:
    """One output column: a leaf of the node selection, by response keys and by schema fields."""

    keys: tuple[str, ...]
    fields: tuple[str, ...]

    @property
    def name(self) -> str:
        return ".".join(self.keys)

    def value(self, node: Any) -> Any:
        for key in self.keys:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node


def fields(selection_set: SelectionSetNode | None, fragments: Fragments) -> Iterator[FieldNode]:
    """The fields of a selection set with fragments expanded (the schema has no abstract types)."""
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from fields(fragments[selection.name.value].selection_set, fragments)


def key(field: FieldNode) -> str:
    """The field's key in the response: its alias, else its name."""
    return field.alias.value if field.alias else field.name.value


def object_type(schema: GraphQLSchema, name: str) -> GraphQLObjectType:
    """The object type of that name (a TypeError if the schema has none)."""
    kind = schema.get_type(name)
    if not isinstance(kind, GraphQLObjectType):
        raise TypeError(f"{name} is not an object type of the schema")
    return kind


def connections(
    selection_set: SelectionSetNode | None,
    parent: GraphQLObjectType,
    fragments: Fragments,
    specs: dict[str, DatasetSpec],
    path: tuple[str, ...] = (),
) -> Iterator[tuple[FieldNode, tuple[str, ...], DatasetSpec]]:
    """Connection fields reachable from `parent` through objects (not lists), with their paths."""
    for field in fields(selection_set, fragments):
        definition = parent.fields.get(field.name.value)
        kind = get_nullable_type(definition.type) if definition else None
        if not isinstance(kind, GraphQLObjectType):  # leaves, and lists: one connection per item
            continue
        here = (*path, key(field))
        if kind.name in specs:
            yield field, here, specs[kind.name]
        else:
            yield from connections(field.selection_set, kind, fragments, specs, here)


def columns(
    selection_set: SelectionSetNode | None,
    parent: GraphQLObjectType,
    fragments: Fragments,
    keys: tuple[str, ...] = (),
    names: tuple[str, ...] = (),
) -> Iterator[Column]:
    """The leaves of a node selection; nested objects give dotted columns (`district.name`)."""
    for field in fields(selection_set, fragments):
        here = (*keys, key(field)), (*names, field.name.value)
        definition = parent.fields.get(field.name.value)
        kind = get_nullable_type(definition.type) if definition else None
        if isinstance(kind, GraphQLObjectType):
            yield from columns(field.selection_set, kind, fragments, *here)
        else:  # scalars, enums, __typename, and lists (a list is one cell, as JSON)
            yield Column(*here)


def argument(field: FieldNode, name: str, kind: Any, variables: dict[str, Any]) -> Any:
    """The value of one of the field's arguments, variables filled in (None when absent)."""
    for given in field.arguments or ():
        if given.name.value == name:
            value = value_from_ast(given.value, kind, variables)
            return None if value is Undefined else value
    return None


def rows(connection: FieldNode, fragments: Fragments) -> tuple[tuple[str, ...], FieldNode]:
    """Keys from the connection to its nodes, and the field that selects a node."""
    inside = {f.name.value: f for f in fields(connection.selection_set, fragments)}
    if "nodes" in inside:
        return (key(inside["nodes"]),), inside["nodes"]
    if "edges" in inside:
        for field in fields(inside["edges"].selection_set, fragments):
            if field.name.value == "node":
                return (key(inside["edges"]), key(field)), field
    raise bad("select the connection's `nodes` (or `edges { node }`) to export")
