"""Each department as an Apollo Federation v2 subgraph, built by the same builder as the gateway.

`build_subgraph_schema(catalog, department)` runs the one-process builder (schema.objects) with a
department's `SchemaPlan`: full types for the department's datasets, each an entity keyed on its
primary key (`District @key(fields: "code")`, `Resident @key(fields: "id")`); stubs of the
other departments' entities it refers to, carrying the reverse connections it contributes; its
datasets' list, lookup and aggregate root fields. Restricted fields and types are marked with
Federation's `@authenticated` and `@requiresScopes` (schema.access.federation_marks) and guarded
by the same `AccessGuard` as in the gateway: a subgraph never relies on the router to guard it.

Fields that are not a dataset's, and where they live:
- the catalog (`datasets`, `dataset`) describes every department, so one subgraph answers it:
  territory's, the department every other one refers to (`CATALOG_DEPARTMENT`);
- each public statistics field counts one personal dataset, so it lives in that dataset's
  department (`residentStatistics` in registry, ...), next to the rows it reads;
- the access log (`accessLog`, `accessLogCounts`, `myAccessHistory`) is every department's and
  none's: it lives with the catalog (`AUDIT_DEPARTMENT`, see there why).

The subgraphs' document limits, error masking and error logging are the gateway's own
(`schema.gateway.schema_options`), so a query meets the same rules through either path.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import strawberry
from strawberry.federation import Schema as FederationSchema
from strawberry.federation.schema_directives import Shareable
from strawberry.types.base import get_object_definition

from schema.access import RequiresScopes, federation_marks
from schema.aggregates import DatasetAggregate
from schema.audit_fields import audit_fields
from schema.city import builtin_specs
from schema.compiled.compiler import Compiler
from schema.compiled.executor import CompiledExecutor
from schema.compiled.fields import FieldMap
from schema.connections import PageInfo
from schema.datasets import Catalog
from schema.gateway import CitySchema, QueryLimits, catalog_fields, schema_options
from schema.objects import DatasetTypes, PageLimits, SchemaPlan, build_dataset_types
from schema.statistics import TABLES, statistics_fields

CATALOG_DEPARTMENT = "territory"
"""The subgraph that serves the catalog of every dataset."""

# The access log records the reads of every department, so no department owns it, and it is kept
# in its own database rather than any department's. Its fields go with the other city-wide ones,
# the catalog's. Territory also keeps no personal data and nobody in it reads any: the log of
# the registry's, social services' or tax office's reads is not served by the very service
# whose reads it records.
AUDIT_DEPARTMENT = CATALOG_DEPARTMENT
"""The subgraph that serves the access log to auditors and citizens."""

SUBGRAPHS_DIR = Path(__file__).with_name("subgraphs")
SUPERGRAPH = Path(__file__).resolve().parent.parent / "supergraph.graphql"


class SubgraphSchema(CitySchema, FederationSchema):
    """A department's federation schema, logging errors as the gateway does (CitySchema)."""


SHARED_VALUE_TYPES: tuple[type, ...] = (PageInfo,)
"""Object types that every subgraph resolves alike: `@shareable` in each subgraph."""


@contextmanager
def shareable_value_types() -> Iterator[None]:
    """While a subgraph schema is converted, its shared value types carry `@shareable`.

    The classes are the gateway's (schema.connections); the subgraph schema keeps the marked
    definition it converted, and the gateway's schema never sees the mark.
    """
    originals = {cls: cls.__strawberry_definition__ for cls in SHARED_VALUE_TYPES}  # type: ignore[attr-defined]
    try:
        for cls, definition in originals.items():
            cls.__strawberry_definition__ = dataclasses.replace(  # type: ignore[attr-defined]
                definition, directives=[*definition.directives, Shareable()]
            )
        yield
    finally:
        for cls, definition in originals.items():
            cls.__strawberry_definition__ = definition  # type: ignore[attr-defined]


def _strip_input_marks(types: dict[str, DatasetTypes]) -> None:
    """Drop the gateway's `@requiresScopes` from filter input fields in a subgraph.

    Federation's `@requiresScopes` is not allowed on input fields, and the gateway's own directive
    of the same name cannot sit beside it; the filter itself checks access (schema.inputs).
    """
    for t in types.values():
        if t.stub:
            continue
        for field in get_object_definition(t.inputs.filter, strict=True).fields:
            field.directives = [d for d in field.directives if not isinstance(d, RequiresScopes)]


def root_fields(catalog: Catalog, department: str, limits: QueryLimits) -> dict[str, Any]:
    """The root fields of the one-process Query that are no dataset's, served by `department`.

    Every such field needs a home here, or the supergraph lacks it (tests/federation checks that
    the supergraph has every field of the one-process schema).
    """
    fields: dict[str, Any] = {}
    if department == CATALOG_DEPARTMENT:
        fields.update(catalog_fields(catalog))
    # each statistics field counts one dataset: it lives in that dataset's department
    owned = {s.name for s in catalog.datasets if s.department == department}
    for name, field in statistics_fields(limits.statistics_threshold).items():
        if TABLES[name].dataset in owned:
            fields[name] = field
    if department == AUDIT_DEPARTMENT:
        # called while the subgraph is built (federation_marks): the fields carry Federation's
        # `@authenticated @requiresScopes`, and the same AccessGuard as in the gateway
        fields.update(audit_fields())
    return fields


def build_subgraph_schema(
    catalog: Catalog,
    department: str,
    limits: QueryLimits | None = None,
    *,
    extensions: Sequence[Any] = (),
) -> SubgraphSchema:
    """The Federation v2 subgraph of one department; `extensions` run before the gateway's own."""
    if department not in catalog.departments():
        raise ValueError(
            f"no department {department!r}; the subgraphs are {', '.join(catalog.departments())}"
        )
    limits = limits or QueryLimits()
    plan = SchemaPlan(department)
    with federation_marks():
        types = build_dataset_types(catalog, PageLimits(limits.page_default, limits.page_max), plan)
        _strip_input_marks(types)
        ns = root_fields(catalog, department, limits)
        for spec in catalog.datasets:
            if spec.department != department:
                continue
            t = types[spec.name]
            ns[spec.name] = t.root_list()
            one = t.root_one()
            if one is not None:
                ns[spec.singular] = one
            ns[f"{spec.name}Aggregate"] = DatasetAggregate(spec, t.inputs).root_field()
        query = strawberry.type(
            type("Query", (), ns),
            # the gateway's description: the subgraphs' Query types merge into one
            description="Everything the city publishes or keeps.",
        )
    gateway_extensions, config = schema_options(limits)
    with shareable_value_types():
        subgraph = SubgraphSchema(
            query=query,
            extensions=[*extensions, *gateway_extensions],
            config=config,
            execution_context_class=CompiledExecutor,
        )
    # the department's own datasets compile as in the gateway; a relation to another
    # department's entity is its key (`district { code }`); `_entities` of one public type
    # compiles too (schema.compiled.entities)
    subgraph.compiler = Compiler(FieldMap.of(types))
    return subgraph


def subgraph_sdl(catalog: Catalog, department: str) -> str:
    """The SDL a subgraph answers in `_service { sdl }`, with a final newline."""
    return build_subgraph_schema(catalog, department).as_str() + "\n"


def write_builtin_subgraphs(folder: Path = SUBGRAPHS_DIR) -> list[Path]:
    """Write each built-in department's SDL to `folder/<department>.graphql` (for composition)."""
    return write_subgraphs(Catalog(builtin_specs()), folder)


def write_subgraphs(catalog: Catalog, folder: Path) -> list[Path]:
    """Write each department's SDL to `folder/<department>.graphql`, published datasets included."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for department in catalog.departments():
        path = folder / f"{department}.graphql"
        path.write_text(subgraph_sdl(catalog, department))
        written.append(path)
    return written


if __name__ == "__main__":
    # `python -m schema.federation [FOLDER]`: the built-in subgraphs' SDL, one file each
    for written_path in write_builtin_subgraphs(
        Path(sys.argv[1]) if len(sys.argv) > 1 else SUBGRAPHS_DIR
    ):
        sys.stdout.write(f"{written_path}\n")
