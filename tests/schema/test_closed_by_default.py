"""Closed by default: every field that reads restricted data is guarded, and denies anonymous."""

from __future__ import annotations

from typing import Any

from strawberry.types.base import StrawberryObjectDefinition

from schema.access import AccessGuard
from schema.datasets import camel
from tests.schema.conftest import CATALOG, GATEWAY, Backend


def guard_of(type_name: str, field_name: str) -> str | None:
    definition = GATEWAY.get_type_by_name(type_name)
    assert isinstance(definition, StrawberryObjectDefinition), type_name
    field = next(
        f
        for f in definition.fields
        if f.graphql_name == field_name or camel(f.python_name) == field_name
    )
    guards = [e for e in field.extensions if isinstance(e, AccessGuard)]
    return guards[0].access if guards else None


def restricted_reads() -> list[tuple[str, str, str]]:
    """(type, field, access) of every field that reads restricted data, derived from the catalog."""
    reads: list[tuple[str, str, str]] = []
    for spec in CATALOG.datasets:
        for col in spec.columns:
            if col.restricted:
                reads.append((spec.type_name, col.field_name, col.access))
                if col.relation:
                    reads.append((spec.type_name, col.relation, col.access))
        for source, col in spec.referenced_by:
            if source.restricted or col.restricted:
                reads.append(
                    (
                        spec.type_name,
                        col.reverse or source.name,
                        source.meta.access if source.restricted else col.access,
                    )
                )
        if spec.restricted:
            reads += [
                ("Query", spec.name, spec.meta.access),
                ("Query", f"{spec.name}Aggregate", spec.meta.access),
            ]
            if len(spec.primary_key) == 1:
                reads.append(("Query", spec.singular, spec.meta.access))
    return reads


def test_every_restricted_read_is_guarded_by_its_scope() -> None:
    reads = restricted_reads()
    assert len(reads) > 50  # the registry, social, tax and the permit applicant are all there
    unguarded = [(t, f, a) for t, f, a in reads if guard_of(t, f) != a]
    assert unguarded == []


def test_the_sdl_shows_what_each_restricted_field_requires() -> None:
    sdl = GATEWAY.as_str()
    assert 'applicantName: String @requiresScopes(scopes: [["urbanism:read"]])' in sdl
    assert 'type Resident @requiresScopes(scopes: [["registry:read"]])' in sdl


def test_public_fields_carry_no_guard() -> None:
    assert guard_of("BikeStation", "name") is None
    assert guard_of("Query", "bikeStations") is None


async def test_anonymous_reads_no_restricted_root(backend: Backend) -> None:
    for spec in CATALOG.datasets:
        if not spec.restricted:
            continue
        result: dict[str, Any] = await backend.run(f"{{ {spec.name} {{ totalCount }} }}")
        assert result["data"] == {spec.name: None}
        assert [e["code"] for e in result["errors"]] == ["UNAUTHENTICATED"]


async def test_a_restricted_column_of_a_public_dataset_is_null_with_a_code(
    backend: Backend,
) -> None:
    result = await backend.run(
        '{ buildingPermit(id: "PC0") { id applicantName applicant { id } } }'
    )
    assert result["data"]["buildingPermit"] == {
        "id": "PC0",
        "applicantName": None,
        "applicant": None,
    }
    assert sorted(e["code"] for e in result["errors"]) == ["UNAUTHENTICATED", "UNAUTHENTICATED"]
    assert "Jeanne" not in repr(result)
    filtered = await backend.run(
        '{ buildingPermits(where: {applicantName: {eq: "Jeanne Martin"}}) { totalCount } }'
    )
    assert filtered["data"] == {"buildingPermits": None}
    sorted_by = await backend.run(
        "{ buildingPermits(orderBy: [{field: APPLICANT_NAME}]) { totalCount } }"
    )
    assert sorted_by["data"] == {"buildingPermits": None}
