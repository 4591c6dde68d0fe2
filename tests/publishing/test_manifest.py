"""Manifest validation: every problem, at its key path, all at once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from schema.city import builtin_specs
from schema.manifest import ManifestError
from schema.manifest_names import catalog_problems
from schema.manifest_reading import load_manifest, parse_manifest
from tests.publishing.conftest import BENCHES_CSV, Workspace, manifest_data

Edit = Callable[[dict[str, Any]], object]


def parse(data: dict[str, Any]) -> Any:
    return parse_manifest(data, base_dir=Path("/srv/manifests"), source="benches.toml")


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        parse(data)
    return [str(p) for p in caught.value.problems]


def col(i: int, **changes: Any) -> Edit:
    return lambda m: m["columns"][i].update(changes)


def drop(section: str, key: str) -> Edit:
    return lambda m: m[section].pop(key)


def put(section: str, **changes: Any) -> Edit:
    return lambda m: m[section].update(changes)


CASES: list[tuple[str, Edit, str]] = [
    (
        "district source",
        put("dataset", district_from="both"),
        "dataset.district_from: unknown source of the district 'both' (expected one of label, coordinates)",
    ),
    (
        "NUL in a text",
        put("dataset", title="Bench\x00es"),
        "dataset.title: the text holds the control character U+0000 (NUL)",
    ),
    (
        "escape in a column",
        col(1, description="Kind\x1b[31m"),
        "columns[1].description: the text holds the control character U+001B",
    ),
    (
        "C1 in a list",
        put("dataset", keywords=["ok", "caf\x92e"]),
        "dataset.keywords[1]: the text holds the control character U+0092",
    ),
    (
        "unknown type",
        col(2, type="int64"),
        "columns[2].type: unknown type 'int64' (expected one of string, integer, float, boolean, date, datetime)",
    ),
    (
        "snake name",
        put("dataset", name="street_benches"),
        "dataset.name: 'street_benches' is not a camelCase",
    ),
    (
        "capitalised name",
        put("dataset", name="Benches"),
        "dataset.name: 'Benches' is not a camelCase",
    ),
    (
        "no plural",
        put("dataset", name="data", singular=None),
        "dataset.name: 'data' does not end like an English plural",
    ),
    (
        "singular is name",
        put("dataset", singular="benches"),
        "dataset.singular: must differ from the name",
    ),
    ("missing title", drop("dataset", "title"), "dataset.title: missing (required)"),
    ("empty publisher", put("dataset", publisher="  "), "dataset.publisher: must not be empty"),
    (
        "licence URL",
        put("dataset", license_url="ftp://example.org/l"),
        "dataset.license_url: must be an http(s) URL",
    ),
    (
        "source URL",
        put("dataset", source_url="opendata.paris.fr"),
        "dataset.source_url: must be an http(s) URL",
    ),
    (
        "frequency",
        put("dataset", frequency="sometimes"),
        "dataset.frequency: unknown frequency 'sometimes'",
    ),
    (
        "dataset access",
        put("dataset", access="staff"),
        "dataset.access: unknown access level 'staff'",
    ),
    (
        "department",
        put("dataset", department="Green Spaces"),
        "dataset.department: 'Green Spaces' is not a department",
    ),
    (
        "keywords",
        put("dataset", keywords="trees"),
        "dataset.keywords: must be a list of strings, not str 'trees'",
    ),
    (
        "temporal order",
        put("dataset", temporal={"start": "2024-01-01", "end": "2020-01-01"}),
        "dataset.temporal: start is after end",
    ),
    (
        "temporal date",
        put("dataset", temporal={"start": "last year"}),
        "dataset.temporal.start: must be a date (2010-01-01), not 'last year'",
    ),
    (
        "connection name",
        put("dataset", district_connection="bench_list"),
        "dataset.district_connection: 'bench_list' is not a camelCase GraphQL name",
    ),
    (
        "unknown dataset key",
        put("dataset", licence_ur="x"),
        "dataset.licence_ur: unknown key (did you mean 'license_url'?)",
    ),
    ("both spellings", put("dataset", licence="CC-BY-4.0"), "dataset.licence: given twice"),
    (
        "unknown column key",
        col(1, descripton="x"),
        "columns[1].descripton: unknown key (did you mean 'description'?)",
    ),
    (
        "column access",
        col(1, access="admin"),
        "columns[1].access: unknown access level 'admin' (expected one of public, open-data",
    ),
    (
        "restricted key",
        col(0, access="registry:read"),
        "columns[0].access: a primary key must be public",
    ),
    (
        "nullable key",
        col(0, nullable=True),
        "columns[0].nullable: a primary key cannot be nullable",
    ),
    ("no key", col(0, primary_key=False), "columns: no column has primary_key = true"),
    ("duplicate name", col(2, name="kind"), "columns[2].name: 'kind' is also columns[1]"),
    ("reserved name", col(1, name="and"), "columns[1].name: 'and' is reserved"),
    ("keyword name", col(1, name="class"), "columns[1].name: 'class' is reserved"),
    (
        "camel column",
        col(1, name="benchKind"),
        "columns[1].name: 'benchKind' is not a snake_case column name",
    ),
    ("missing header", col(1, header=None), "columns[1].header: missing (required)"),
    ("missing description", col(1, description=None), "columns[1].description: missing (required)"),
    (
        "flag type",
        col(1, nullable="yes"),
        "columns[1].nullable: must be true or false, not str 'yes'",
    ),
    (
        "unknown role",
        col(4, role="altitude"),
        "columns[4].role: unknown role 'altitude' (expected one of latitude, longitude, district)",
    ),
    ("lone latitude", col(5, role=None), "columns[4].role: latitude and longitude go together"),
    (
        "latitude type",
        col(4, type="string"),
        "columns[4].type: a latitude column must be of type float, not string",
    ),
    (
        "district type",
        col(2, role="district"),
        "columns[2].type: a district column must be of type string, not integer",
    ),
    (
        "two districts",
        lambda m: [m["columns"][i].update(role="district") for i in (0, 1)],
        "columns[1].role: 'district' is also columns[0]",
    ),
    (
        "located name",
        col(1, name="district_code"),
        "columns[1].name: 'district_code' is the column added from the coordinates",
    ),
    (
        "relation name",
        col(1, name="district"),
        "columns[1].name: 'district' is the field that links a row to its District",
    ),
    (
        "format on text",
        col(1, format="%d/%m/%Y"),
        "columns[1].format: only date and datetime columns take a format",
    ),
    (
        "format without %",
        col(3, format="DD/MM/YYYY"),
        "columns[3].format: 'DD/MM/YYYY' is not a strptime format",
    ),
    (
        "timezone on date",
        col(3, timezone="Europe/Paris"),
        "columns[3].timezone: only datetime columns take a timezone",
    ),
    (
        "unknown timezone",
        col(3, type="datetime", timezone="Mars/Olympus_Mons"),
        "columns[3].timezone: unknown time zone 'Mars/Olympus_Mons'",
    ),
    ("split without part", col(1, split=","), "columns[1].part: missing: `split` needs the `part`"),
    ("negative part", col(1, split=",", part=-1), "columns[1].part: must be 0 or more"),
    ("delimiter", put("csv", delimiter=";;"), "csv.delimiter: must be one character, not ';;'"),
    ("encoding", put("csv", encoding="klingon"), "csv.encoding: unknown encoding 'klingon'"),
    (
        "decimal",
        put("csv", delimiter=",", decimal=","),
        "csv.decimal: must differ from the delimiter",
    ),
    ("decimal choice", put("csv", decimal="·"), "csv.decimal: unknown decimal separator '·'"),
    ("null values", put("csv", null_values=["", 0]), "csv.null_values: must be a list of strings"),
    ("csv file", drop("csv", "file"), "csv.file: missing (required)"),
    ("csv section", lambda m: m.pop("csv"), "csv: missing (required)"),
    (
        "no columns",
        lambda m: m.pop("columns"),
        "columns: missing: declare each column as a [[columns]] table",
    ),
    ("empty columns", lambda m: m.update(columns=[]), "columns: must be a non-empty array"),
    ("column not a table", lambda m: m["columns"].append("seats"), "columns[6]: must be a table"),
    ("version", lambda m: m.update(version=2), "version: unknown manifest version 2"),
    ("unknown section", lambda m: m.update(source={"file": "x.csv"}), "source: unknown key"),
    (
        "published outside store",
        lambda m: m.update(published={"rows": 1}),
        "published: unknown key",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_problem_is_reported_at_its_key_path(edit: Edit, expected: str) -> None:
    data = manifest_data()
    edit(data)
    problems = problems_of(data)
    assert any(p.startswith(expected) for p in problems), problems


def test_the_valid_manifest_parses_with_its_defaults() -> None:
    m = parse(manifest_data())
    assert (m.name, m.singular, m.table_name) == ("benches", "bench", "published_benches")
    assert m.csv.file == Path("/srv/manifests/benches.csv")
    assert (m.csv.encoding, m.csv.decimal, m.csv.null_values) == ("utf-8", ".", ("",))
    assert m.columns[0].nullable is False
    assert m.columns[1].nullable is True
    assert m.locates_districts
    assert (m.frequency, m.access, m.spatial) == ("irregular", "public", "Paris, France")
    assert m.district_from == "label"


def test_the_british_spelling_of_licence_is_accepted() -> None:
    data = manifest_data()
    data["dataset"]["licence"] = data["dataset"].pop("license")
    data["dataset"]["licence_url"] = data["dataset"].pop("license_url")
    assert parse(data).license == "ODbL-1.0"


def test_every_problem_is_listed_in_one_error() -> None:
    data = manifest_data(name="Benches", frequency="sometimes")
    data["columns"][2]["type"] = "int64"
    data["csv"]["encoding"] = "klingon"
    with pytest.raises(ManifestError) as caught:
        parse(data)
    paths = [p.path for p in caught.value.problems]
    assert paths == ["dataset.name", "dataset.frequency", "csv.encoding", "columns[2].type"]
    message = str(caught.value)
    assert message.startswith("manifest benches.toml is invalid:\n")
    assert "  columns[2].type: unknown type 'int64'" in message


def test_a_normalised_manifest_reads_back_the_same() -> None:
    m = parse(manifest_data(keywords=["a"], temporal={"start": "2020-01-01"}))
    again = parse_manifest(
        m.to_dict()
        | {
            "published": {
                "sha256": "0" * 64,
                "published_at": "2025-01-01T00:00:00+00:00",
                "manifest": "/m.toml",
                "rows": 3,
            }
        },
        base_dir=Path("/elsewhere"),
        source="stored.json",
        stored=True,
    )
    assert again == m
    assert again.publication is not None
    assert again.publication.rows == 3


def test_toml_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[dataset]\nname = "benches"\ntitle = "unclosed\n', encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert str(path) in str(caught.value)
    assert "not valid TOML" in str(caught.value)
    assert "line 3" in str(caught.value)


def test_a_missing_manifest_file_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read the file"):
        load_manifest(tmp_path / "nowhere.toml")


CLASHES: list[tuple[str, dict[str, Any], str]] = [
    (
        "list name",
        {"name": "districts"},
        "dataset.name: the root field 'districts' already belongs to dataset 'districts'",
    ),
    (
        "singular",
        {"name": "districtThings", "singular": "district"},
        "dataset.singular: the root field 'district' already",
    ),
    (
        "aggregate",
        {"name": "bikeStationsAggregates", "singular": "bikeStationsAggregate"},
        "dataset.singular: the root field 'bikeStationsAggregate' already belongs to dataset 'bikeStations'",
    ),
    (
        "catalog field",
        {"name": "datasets"},
        "dataset.name: the root field 'datasets' is already in the schema (The catalog",
    ),
    (
        "type name",
        {"name": "districtGroups", "singular": None},
        "dataset.singular: the type names it generates (DistrictGroup) already belong to dataset 'districts'",
    ),
    (
        "fixed type",
        {"name": "pageInfos", "singular": None},
        "dataset.singular: the type names it generates (PageInfo)",
    ),
    (
        "district field",
        {"name": "quartiers2", "singular": "quartier2", "district_connection": "quartiers"},
        "dataset.district_connection: District already has a field 'quartiers'",
    ),
    (
        "district column",
        {"district_connection": "population"},
        "dataset.district_connection: District already has a field 'population'",
    ),
    (
        "dataset name on District",
        {"name": "streetLabels", "singular": "streetLabel", "district_connection": "label"},
        "dataset.district_connection: District already has a field 'label'",
    ),
]


@pytest.mark.parametrize(
    ("dataset", "expected"), [c[1:] for c in CLASHES], ids=[c[0] for c in CLASHES]
)
def test_names_already_in_the_schema_are_refused(dataset: dict[str, Any], expected: str) -> None:
    problems = [str(p) for p in catalog_problems(parse(manifest_data(**dataset)), builtin_specs())]
    assert any(p.startswith(expected) for p in problems), problems


def test_free_names_pass_the_catalog_check() -> None:
    assert catalog_problems(parse(manifest_data()), builtin_specs()) == []


async def test_headers_missing_from_the_csv_are_reported_with_a_suggestion(
    workspace: Workspace,
) -> None:
    data = manifest_data()
    data["columns"][1]["header"] = "KINDS"
    data["columns"][2]["header"] = "PLACES"
    path = workspace.write(data, BENCHES_CSV)
    with pytest.raises(ManifestError) as caught:
        await workspace.publish(path)
    problems = [str(p) for p in caught.value.problems]
    assert problems[0].startswith(
        "columns[1].header: no column 'KINDS' in the header of benches.csv (did you mean 'KIND'?"
    )
    assert problems[1].startswith(
        "columns[2].header: no column 'PLACES' in the header of benches.csv (delimiter ';'"
    )
    assert not (workspace.data_dir / "published").exists()


async def test_a_missing_csv_is_reported_at_csv_file(workspace: Workspace) -> None:
    path = workspace.write(manifest_data())
    with pytest.raises(ManifestError, match=r"csv\.file: no such file: .*benches\.csv"):
        await workspace.publish(path)


async def test_the_wrong_encoding_is_reported_with_its_line(workspace: Workspace) -> None:
    text = BENCHES_CSV + "B6;forêt;3;2020-01-01;48.87;2.32\n"
    path = workspace.write(manifest_data(), text, encoding="latin-1")
    with pytest.raises(
        ManifestError,
        match=r"csv\.encoding: line 7 is not utf-8 text \(invalid continuation byte\)",
    ):
        await workspace.publish(path)


async def test_the_declared_encoding_reads_the_file(workspace: Workspace) -> None:
    data = copy.deepcopy(manifest_data())
    data["csv"]["encoding"] = "latin-1"
    path = workspace.write(
        data, BENCHES_CSV + "B6;forêt;3;2020-01-01;48.87;2.32\n", encoding="latin-1"
    )
    report = await workspace.publish(path)
    assert report.loaded["benches"] == 6
    result = await workspace.query('{ bench(id: "B6") { kind } }')
    assert result["data"]["bench"] == {"kind": "forêt"}
