"""Names the schema keeps for itself: a published dataset may not take them.

The reserved root fields and types are read from a schema built with no dataset at all (the
catalog, the statistics, the access log), so a field added there later is tested here without
this file changing; the names a dataset generates are read from a schema built with one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLObjectType

from schema.city import builtin_specs
from schema.datasets import Catalog, DatasetSpec
from schema.gateway import build_gateway_schema
from schema.manifest import ManifestError
from schema.manifest_names import GENERATED_SUFFIXES, catalog_problems
from schema.manifest_reading import parse_manifest
from schema.publishing import load_catalog, spec_of_manifest
from tests.publishing.conftest import BENCHES_CSV, Workspace, manifest_data

BUILTINS = builtin_specs()


def parse(data: dict[str, Any]) -> Any:
    return parse_manifest(data, base_dir=Path("/srv/manifests"), source="benches.toml")


def type_map(specs: list[DatasetSpec]) -> dict[str, Any]:
    return dict(build_gateway_schema(Catalog(specs))._schema.type_map)


def query_fields(types: dict[str, Any]) -> set[str]:
    query = types["Query"]
    assert isinstance(query, GraphQLObjectType)
    return set(query.fields)


WITHOUT_DATASETS = type_map([])
OWN_ROOT_FIELDS = sorted(query_fields(WITHOUT_DATASETS))
OWN_TYPES = sorted(n for n in WITHOUT_DATASETS if not n.startswith("__"))


def problems(**dataset: Any) -> list[str]:
    return [str(p) for p in catalog_problems(parse(manifest_data(**dataset)), BUILTINS)]


def test_the_schema_has_the_fields_this_file_is_about() -> None:
    # without them the parametrized tests below would test nothing
    assert {"accessLog", "accessLogCounts", "myAccessHistory", "datasets", "dataset"} <= set(
        OWN_ROOT_FIELDS
    )
    assert {"AccessRecord", "AccessLogFilter", "AccessGrouping", "DatasetInfo"} <= set(OWN_TYPES)


@pytest.mark.parametrize("field", OWN_ROOT_FIELDS)
def test_a_root_field_of_the_schema_is_refused_as_a_dataset_name(field: str) -> None:
    found = problems(name=field, singular=f"{field}Row")
    assert any(
        p.startswith(f"dataset.name: the root field {field!r} is already in the schema (")
        for p in found
    ), found


@pytest.mark.parametrize("field", OWN_ROOT_FIELDS)
def test_a_root_field_of_the_schema_is_refused_as_a_singular(field: str) -> None:
    found = problems(name=f"{field}Rows", singular=field)
    assert any(
        p.startswith(f"dataset.singular: the root field {field!r} is already in the schema (")
        for p in found
    ), found


@pytest.mark.parametrize("type_name", OWN_TYPES)
def test_a_type_of_the_schema_is_refused_as_a_generated_type(type_name: str) -> None:
    singular = type_name[0].lower() + type_name[1:]
    found = problems(name=f"{singular}Rows", singular=singular)
    assert any(
        p.startswith("dataset.singular: the type names it generates (")
        and type_name in p.split(")")[0]
        and "are already types of the schema" in p
        for p in found
    ), found


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        (
            {"name": "accessLogs", "singular": "accessLog"},
            "dataset.singular: the root field 'accessLog' is already in the schema "
            "(The access log, newest first (auditors).)",
        ),
        (
            {"name": "accessLogs", "singular": "accessLog"},
            "dataset.singular: the type names it generates (AccessLogFilter) are already types "
            "of the schema; choose another name or singular",
        ),
        (
            {"name": "accessLogCounts", "singular": "accessLogCount"},
            "dataset.name: the root field 'accessLogCounts' is already in the schema",
        ),
        (
            {"name": "accessGroupings", "singular": "accessGrouping"},
            "dataset.singular: the type names it generates (AccessGrouping) are already types",
        ),
        (
            {"name": "benchStatistics", "singular": "pageInfo"},
            "dataset.singular: the type names it generates (PageInfo) are already types",
        ),
        (
            {"name": "districts", "singular": "districtRow"},
            "dataset.name: the root field 'districts' already belongs to dataset 'districts'",
        ),
        (
            {"name": "districtRows", "singular": "district"},
            "dataset.singular: the root field 'district' already belongs to dataset 'districts'",
        ),
        (
            {"name": "ids", "singular": "iD"},
            "dataset.singular: the type names it generates (ID) are already types",
        ),
    ],
    ids=[
        "accessLog",
        "AccessLogFilter",
        "accessLogCounts",
        "AccessGrouping",
        "PageInfo",
        "districts",
        "district",
        "ID scalar",
    ],
)
def test_the_problem_names_the_clash(dataset: dict[str, Any], expected: str) -> None:
    found = problems(**dataset)
    assert any(p.startswith(expected) for p in found), found


def test_the_generated_names_the_check_knows_are_those_the_schema_gets() -> None:
    # GENERATED_SUFFIXES is the one list kept by hand: it must match what the builder makes
    benches = spec_of_manifest(parse(manifest_data()))
    before = type_map(BUILTINS)
    after = type_map([*BUILTINS, benches])
    assert set(after) - set(before) == {"Bench" + suffix for suffix in GENERATED_SUFFIXES}
    assert query_fields(after) - query_fields(before) == {"benches", "bench", "benchesAggregate"}


async def test_publishing_refuses_a_reserved_name_and_writes_nothing(
    workspace: Workspace,
) -> None:
    path = workspace.write(
        manifest_data(name="myAccessHistories", singular="myAccessHistory"), BENCHES_CSV
    )
    with pytest.raises(ManifestError) as caught:
        await workspace.publish(path)
    assert [str(p) for p in caught.value.problems] == [
        "dataset.singular: the root field 'myAccessHistory' is already in the schema "
        "(Who consulted your records: when, which department, why (citizens).)"
    ]
    assert not (workspace.data_dir / "published").exists()


async def test_a_dataset_stored_before_a_schema_field_took_its_name_stops_the_start(
    workspace: Workspace,
) -> None:
    # a dataset published when `accessLog` was free, renamed here as if so published
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    folder = workspace.data_dir / "published"
    data = json.loads((folder / "benches.json").read_text(encoding="utf-8"))
    data["dataset"] |= {"name": "accessLogs", "singular": "accessLog"}
    (folder / "accessLogs.json").write_text(json.dumps(data), encoding="utf-8")
    (folder / "benches.json").unlink()
    with pytest.raises(ManifestError) as caught:
        load_catalog(workspace.data_dir)
    message = str(caught.value)
    assert "accessLogs.json is broken" in message
    assert "the root field 'accessLog' is already in the schema" in message
    assert "(AccessLogFilter) are already types of the schema" in message
