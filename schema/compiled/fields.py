"""What each field of the generated schema is, for the planner: a column, a relation, a list."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from schema.datasets import ColumnSpec
from schema.objects import DatasetTypes
from storage.compiled.shapes import ValueKind

AS_OF = "asOf"
"""A root field's dataset version (schema.as_of), read by schema.compiled.versions."""
AGGREGATE_ARGUMENTS = frozenset({"where", "groupBy", AS_OF})
LIST_ARGUMENTS = frozenset({"where", "orderBy", "first", "after", "last", "before", AS_OF})
"""The arguments of a connection the binder knows; any other one keeps the field on today's path."""

_KINDS: dict[type, ValueKind] = {
    int: "int",
    str: "str",
    float: "float",
    bool: "bool",
    date: "date",
    datetime: "datetime",
}


def value_kind(column: ColumnSpec) -> ValueKind | None:
    """How a column's value is written as JSON; None when the compiler does not write it."""
    if column.role == "geometry":
        return "geojson"
    return _KINDS.get(column.python_type)


@dataclass(frozen=True, slots=True)
class RootField:
    kind: Literal["list", "one", "aggregate"]
    types: DatasetTypes


@dataclass
class FieldMap:
    """The root fields and node types of a gateway or subgraph schema, by GraphQL name."""

    roots: dict[str, RootField] = field(default_factory=dict)
    nodes: dict[str, DatasetTypes] = field(default_factory=dict)
    columns: dict[tuple[str, str], ColumnSpec] = field(default_factory=dict)
    entities: dict[str, DatasetTypes] = field(default_factory=dict)
    """The types `_entities` resolves (a subgraph's, stubs included), keyed on one column."""

    @classmethod
    def of(cls, types: dict[str, DatasetTypes]) -> FieldMap:
        """The map of a schema's dataset types (schema.objects.build_dataset_types); stubs
        (other departments' entities in a subgraph) are no root and no node: only their key is
        a column, the one they answer themselves (in `_entities`)."""
        found = cls()
        for t in types.values():
            if t.key_columns():
                found.entities[t.spec.type_name] = t
            if t.stub:
                for col in t.key_columns():
                    found.columns[(t.spec.type_name, col.field_name)] = col
                continue
            spec = t.spec
            found.roots[spec.name] = RootField("list", t)
            if len(spec.primary_key) == 1:
                found.roots[spec.singular] = RootField("one", t)
            if t.aggregate is not None:
                found.roots[f"{spec.name}Aggregate"] = RootField("aggregate", t)
            found.nodes[spec.type_name] = t
            for col in spec.columns:
                found.columns[(spec.type_name, col.field_name)] = col
        return found
