"""The names a published dataset takes in the schema, checked against those already taken.

`catalog_problems` checks a valid manifest against the schema it would join: its root fields, type
names and the connection it adds to District must belong neither to another dataset nor to the
schema's own fields and types (the catalog, the statistics, the access log, shared types), which
`schema_names` reads from the built schema.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from graphql import GraphQLObjectType, specified_scalar_types

from schema.city import builtin_specs
from schema.datasets import Catalog, DatasetSpec, pascal
from schema.gateway import build_gateway_schema
from schema.manifest import Manifest, Problem

# The type names schema.objects generates for a dataset's type (tests/publishing checks them).
GENERATED_SUFFIXES = (
    "",
    "Connection",
    "Edge",
    "Field",
    "Filter",
    "OrderBy",
    "Group",
    "GroupBy",
    "GroupKey",
    "Numbers",
)
# GraphQL's own type names, reserved even where the schema does not use them: Federation treats a
# type named Query, Mutation or Subscription as a root, and any subgraph may use the built-in scalars.
GRAPHQL_TYPES = frozenset({"Query", "Mutation", "Subscription", *specified_scalar_types})


def _root_fields(spec: DatasetSpec) -> set[str]:
    return {spec.name, spec.singular, f"{spec.name}Aggregate"}


def _type_names(type_name: str) -> set[str]:
    return {type_name + suffix for suffix in GENERATED_SUFFIXES}


@dataclass(frozen=True, slots=True)
class SchemaNames:
    """The root fields (with their descriptions) and type names that are no dataset's."""

    root_fields: Mapping[str, str]
    types: frozenset[str]


@functools.cache
def schema_names() -> SchemaNames:
    """What the schema holds besides its datasets: the catalog, the statistics, the access log,
    and the types and scalars they and every dataset share (PageInfo, StringFilter...).

    Read from the gateway schema built with the built-in datasets, less the names those datasets
    generate, so a field added to the schema later is reserved without being listed anywhere.
    (A federation subgraph adds only names that start with `_`, which no dataset can take.)
    """
    specs = builtin_specs()
    type_map = build_gateway_schema(Catalog(specs))._schema.type_map
    query = type_map["Query"]
    if not isinstance(query, GraphQLObjectType):
        raise TypeError("the gateway schema's Query is not an object type")
    generated_roots = set().union(*(_root_fields(s) for s in specs))
    generated_types = set().union(*(_type_names(s.type_name) for s in specs))
    return SchemaNames(
        root_fields={
            name: field.description or ""
            for name, field in query.fields.items()
            if name not in generated_roots
        },
        types=GRAPHQL_TYPES
        | {n for n in type_map if n not in generated_types and not n.startswith("__")},
    )


def _first_sentence(text: str) -> str:
    head, stop, _rest = text.strip().partition(". ")
    return head + stop.strip()


def catalog_problems(manifest: Manifest, others: Iterable[DatasetSpec]) -> list[Problem]:
    """Names of `manifest` that the schema already uses, for `others` or itself, as problems."""
    problems: list[Problem] = []
    reserved = schema_names()
    roots: dict[str, str] = {
        name: f"is already in the schema ({_first_sentence(description) or 'Query.' + name})"
        for name, description in reserved.root_fields.items()
    }
    types: dict[str, str] = dict.fromkeys(reserved.types, "are already types of the schema")
    district: DatasetSpec | None = None
    for spec in others:
        roots.update(dict.fromkeys(_root_fields(spec), f"already belongs to dataset {spec.name!r}"))
        types.update(
            dict.fromkeys(_type_names(spec.type_name), f"already belong to dataset {spec.name!r}")
        )
        if spec.table.name == "district":
            district = spec
    for key, name in (
        ("name", manifest.name),
        ("singular", manifest.singular),
        ("name", f"{manifest.name}Aggregate"),
    ):
        if name in roots:
            problems.append(Problem(f"dataset.{key}", f"the root field {name!r} {roots[name]}"))
    type_name = pascal(manifest.singular)
    clashes: dict[str, list[str]] = {}
    for clash in sorted(_type_names(type_name) & set(types)):
        clashes.setdefault(types[clash], []).append(clash)
    for owner, names in clashes.items():
        problems.append(
            Problem(
                "dataset.singular",
                f"the type names it generates ({', '.join(names)}) {owner}; "
                "choose another name or singular",
            )
        )
    linked = manifest.role("district") is not None or manifest.locates_districts
    if linked and district is not None:
        taken = {c.field_name for c in district.columns} | {
            c.relation for c in district.columns if c.relation
        }
        for spec in others:
            taken.update(
                c.reverse or spec.name
                for c in spec.columns
                if c.references and c.references[0] == "district"
            )
        connection = manifest.district_connection or manifest.name
        if connection in taken:
            key = "dataset.district_connection" if manifest.district_connection else "dataset.name"
            problems.append(
                Problem(
                    key,
                    f"District already has a field {connection!r}; set `district_connection` "
                    "to name the connection listing this dataset's rows on a district",
                )
            )
    return problems
