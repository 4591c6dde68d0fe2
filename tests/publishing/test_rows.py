"""Rows: conversion by type, bad rows skipped with their line, districts from labels or positions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schema.publishing import PublishError, district_code
from tests.publishing.conftest import BENCHES_CSV, Workspace, manifest_data

BAD_ROWS = (
    "ID;KIND;SEATS;INSTALLED;LAT;LON\n"
    "B1;wood;3;2020-05-01;48.87;2.32\n"  # 2
    "B2;stone;four;2019-01-15;48.88;2.37\n"  # 3
    "B3;wood;2;2020-13-45;48.84;2.31\n"  # 4
    "B1;metal;5;2021-07-30;48.87;2.33\n"  # 5
    ";wood;2;2020-01-01;48.87;2.32\n"  # 6
    "B7;wood;3\n"  # 7
    "B8;wood;3;2020-01-01;95.0;2.3\n"  # 8
    "\n"  # 9
    "B10;wood;99999999999;2020-01-01;48.87;2.32\n"  # 10
    'B11;"long\nkind";1;2020-01-01;48.87;2.32\n'  # 11-12
    "B13;wood;1,5;2020-01-01;48.87;2.32\n"  # 13
    "B14;wood;1;2020-01-01;48.87;2.32;\n"  # 14: a trailing delimiter is no field
    "B15;wood;1;2020-01-01;48.87;2.32;extra\n"  # 15
)


async def test_bad_rows_are_skipped_with_their_line_and_reason(workspace: Workspace) -> None:
    report = await workspace.publish(workspace.write(manifest_data(), BAD_ROWS))
    assert report.loaded == {"benches": 3}
    assert [(s.row, s.reason) for s in report.skipped] == [
        ("benches.csv:3", "seats: not an integer"),
        ("benches.csv:4", "installed: not a date (YYYY-MM-DD)"),
        ("benches.csv:5 (same key as line 2)", "duplicate primary key"),
        ("benches.csv:6", "id: empty, and the column is not nullable"),
        ("benches.csv:7", "too few fields (the header has 6)"),
        ("benches.csv:8", "lat: not a latitude (beyond ±90)"),
        (
            "benches.csv:10",
            "seats: outside GraphQL's Int range (±2^31): declare the column as float or string",
        ),
        ("benches.csv:13", "seats: not a number (the decimal separator is '.')"),
        ("benches.csv:15", "too many fields (the header has 6)"),
    ]
    assert {s.dataset for s in report.skipped} == {"benches"}
    result = await workspace.query(
        "{ benches(orderBy: [{field: ID}]) { nodes { id kind seats } } }"
    )
    assert result["data"]["benches"]["nodes"] == [
        {"id": "B1", "kind": "wood", "seats": 3},
        {"id": "B11", "kind": "long\nkind", "seats": 1},
        {"id": "B14", "kind": "wood", "seats": 1},
    ]


async def test_skip_reasons_never_quote_a_value(workspace: Workspace) -> None:
    data = manifest_data()
    data["columns"][2]["access"] = "urbanism:read"
    csv_text = BENCHES_CSV + "B9;wood;SECRET-4711;2020-01-01;48.87;2.32\n"
    report = await workspace.publish(workspace.write(data, csv_text))
    assert [(s.row, s.reason) for s in report.skipped] == [
        ("benches.csv:7", "seats: not an integer")
    ]
    assert "SECRET" not in repr(report)


async def test_a_file_without_any_loadable_row_changes_nothing(workspace: Workspace) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    stored = (workspace.data_dir / "published" / "benches.json").read_text()
    # a new column set too: the table would be dropped and recreated, inside the transaction
    data = manifest_data()
    data["columns"].append(
        {"header": "COLOUR", "name": "colour", "type": "string", "description": "Paint."}
    )
    broken = "ID;KIND;SEATS;INSTALLED;LAT;LON;COLOUR\nB1;wood;3,0;2020-05-01;48.87;2.32;red\nB2;wood;x;;;;red\n"
    path = workspace.write(data, broken)
    with pytest.raises(
        PublishError, match=r"no row of benches.csv can be loaded \(first: benches.csv:2: seats"
    ) as caught:
        await workspace.publish(path)
    assert len(caught.value.report.skipped) == 2
    assert (workspace.data_dir / "published" / "benches.json").read_text() == stored
    result = await workspace.query("{ benches { totalCount nodes { kind } } }")
    assert result["errors"] == []
    assert result["data"]["benches"]["totalCount"] == 5


READINGS_CSV = (
    "N°;OK;RELEVE;JOUR;VALEUR\n"
    "1;Oui;01/07/2024 12:00;01/07/2024;1 234,5\n"
    "2;non;15/01/2024 08:30;NA;-0,25\n"
    "3;VRAI;NA;31/12/2023;NA\n"
)


async def test_types_formats_time_zones_and_null_values(engine_workspace: Workspace) -> None:
    workspace = engine_workspace
    data = manifest_data(name="readings", singular="reading")
    data["csv"] = {
        "file": "readings.csv",
        "delimiter": ";",
        "decimal": ",",
        "null_values": ["", "NA"],
    }
    data["columns"] = [
        {
            "header": "N°",
            "name": "id",
            "type": "integer",
            "description": "Number.",
            "primary_key": True,
        },
        {
            "header": "OK",
            "name": "ok",
            "type": "boolean",
            "description": "Valid reading.",
            "nullable": False,
        },
        {
            "header": "RELEVE",
            "name": "read_at",
            "type": "datetime",
            "description": "Time of the reading.",
            "format": "%d/%m/%Y %H:%M",
            "timezone": "Europe/Paris",
        },
        {
            "header": "JOUR",
            "name": "day",
            "type": "date",
            "description": "Day.",
            "format": "%d/%m/%Y",
        },
        {"header": "VALEUR", "name": "value", "type": "float", "description": "Value."},
    ]
    report = await workspace.publish(workspace.write(data, READINGS_CSV))
    assert report.skipped == []
    result = await workspace.query("{ readings { nodes { id ok readAt day value } } }")
    nodes = result["data"]["readings"]["nodes"]
    assert [(n["id"], n["ok"], n["day"], n["value"]) for n in nodes] == [
        (1, True, "2024-07-01", 1234.5),
        (2, False, None, -0.25),
        (3, True, "2023-12-31", None),
    ]
    # Paris is UTC+2 in July and UTC+1 in January: times are stored in UTC, and answered with
    # their zone on either engine
    assert nodes[0]["readAt"] == "2024-07-01T10:00:00+00:00"
    assert nodes[1]["readAt"] == "2024-01-15T07:30:00+00:00"
    assert nodes[2]["readAt"] is None


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("13", "75113"),
        ("75013", "75113"),
        ("75113", "75113"),
        ("13e", "75113"),
        ("13E", "75113"),
        ("13ème", "75113"),
        ("13eme arr.", "75113"),
        ("PARIS 13E ARRDT", "75113"),
        ("Paris 13e Arrondissement", "75113"),
        ("1er Ardt", "75101"),
        ("1er", "75101"),
        ("1re", "75101"),
        ("75001", "75101"),
        ("IVe", "75104"),
        ("XIIIe", "75113"),
        ("xx", "75120"),
        ("75116", "75116"),
        ("16e", "75116"),
        ("BOIS DE VINCENNES", "75112"),
        ("Bois de Boulogne", "75116"),
        ("  7  ", "75107"),
    ],
)
def test_district_labels_become_insee_codes(label: str, code: str) -> None:
    assert district_code(label) == code


@pytest.mark.parametrize(
    "label", ["0", "21", "75021", "75121", "92100", "HAUTS-DE-SEINE", "13f", "", "treize"]
)
def test_other_labels_are_not_districts(label: str) -> None:
    assert district_code(label) is None


def with_district(data: dict[str, Any]) -> dict[str, Any]:
    data["columns"].append(
        {
            "header": "ARR",
            "name": "district_code",
            "type": "string",
            "role": "district",
            "description": "Arrondissement.",
        }
    )
    return data


# The case: the Paris trees file labels trees "PARIS 13E ARRDT", and those outside Paris
# with their département ("SEINE-SAINT-DENIS"...), every one of them with coordinates. In the
# fixture's map, 75101 and 75102 lie side by side in the north, 75113 below both.
TREES = (
    "ID;KIND;SEATS;INSTALLED;LAT;LON;ARR\n"
    "T1;plane;0;;48.84;2.35;PARIS 13E ARRDT\n"  # label and position agree
    "T2;plane;0;;48.88;2.32;SEINE-SAINT-DENIS\n"  # no arrondissement: the position places it
    "T3;plane;0;;48.95;2.36;VAL-DE-MARNE\n"  # no arrondissement, outside every district
    "T4;plane;0;;;;HAUTS-DE-SEINE\n"  # no arrondissement, no position: kept, no district
    "T5;plane;0;;48.88;2.37;PARIS 13E ARRDT\n"  # they disagree: the label lies in 75113
    "T6;plane;0;;;;1er Ardt\n"  # a label and no position
    "T7;plane;0;;48.87;2.33;\n"  # no label: the position places it
)
PLACED = "{ benches(orderBy: [{field: ID}]) { nodes { id districtCode } } }"


async def test_no_row_is_dropped_for_its_district_label(workspace: Workspace) -> None:
    await workspace.seed_districts()
    report = await workspace.publish(workspace.write(with_district(manifest_data()), TREES))
    assert report.skipped == []
    assert report.loaded["benches"] == 7
    result = await workspace.query(PLACED)
    placed = {n["id"]: n["districtCode"] for n in result["data"]["benches"]["nodes"]}
    assert placed == {
        "T1": "75113",
        "T2": "75101",
        "T3": None,
        "T4": None,
        "T5": "75113",  # the label decides by default
        "T6": "75101",
        "T7": "75101",
    }
    assert report.counts == {
        "benches: district from the label": 3,
        "benches: district from the coordinates": 2,
        "benches: without a district": 2,
        "benches: label naming no arrondissement": 3,
        "benches: label and coordinates disagree": 1,
    }
    assert (
        "district_code: 3 from their label, 2 from their coordinates, 2 without a district; "
        "3 labels name no arrondissement; label and coordinates disagree on 1 row "
        "(the label decided)"
    ) in report.notes


async def test_the_manifest_can_let_the_coordinates_decide(workspace: Workspace) -> None:
    await workspace.seed_districts()
    data = with_district(manifest_data(district_from="coordinates"))
    report = await workspace.publish(workspace.write(data, TREES))
    result = await workspace.query(PLACED)
    placed = {n["id"]: n["districtCode"] for n in result["data"]["benches"]["nodes"]}
    assert placed["T5"] == "75102"  # where the position lies
    assert placed["T6"] == "75101"  # no position: the label still places it
    assert report.counts["benches: label and coordinates disagree"] == 1
    assert report.counts["benches: district from the coordinates"] == 4
    stored = json.loads((workspace.data_dir / "published" / "benches.json").read_text())
    assert stored["dataset"]["district_from"] == "coordinates"


async def test_without_districts_loaded_labels_still_place_and_nothing_is_dropped(
    workspace: Workspace,
) -> None:
    report = await workspace.publish(workspace.write(with_district(manifest_data()), TREES))
    assert report.loaded["benches"] == 7
    assert report.counts["benches: district from the label"] == 3
    assert report.counts["benches: without a district"] == 4
    assert any(note.startswith("no districts are loaded") for note in report.notes)


async def test_a_cell_with_a_control_character_skips_its_row(workspace: Workspace) -> None:
    csv_text = "ID;KIND;SEATS;INSTALLED;LAT;LON\nB1;wo\x00od;3;;48.87;2.32\nB2;wood;3;;48.87;2.32\n"
    report = await workspace.publish(workspace.write(manifest_data(), csv_text))
    assert [(s.row, s.reason) for s in report.skipped] == [
        ("benches.csv:2", "kind: holds the control character U+0000 (NUL)")
    ]
    assert report.loaded["benches"] == 1


LOCATED = """
{ benches(orderBy: [{field: ID}]) { nodes { id districtCode district { name } } }
  district(code: "75113") { benches { totalCount nodes { id } } }
  inBourse: benches(where: {withinDistrict: "75102"}) { nodes { id } } }
"""


async def test_positions_without_a_district_column_are_placed_in_districts(
    workspace: Workspace,
) -> None:
    await workspace.seed_districts()
    report = await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    assert (
        "district_code from the coordinates: 3 rows in a district, 2 outside every district or without coordinates"
        in report.notes
    )
    result = await workspace.query(LOCATED)
    assert result["errors"] == []
    assert result["data"]["benches"]["nodes"] == [
        {"id": "B1", "districtCode": "75101", "district": {"name": "Louvre"}},
        {"id": "B2", "districtCode": "75102", "district": {"name": "Bourse"}},
        {"id": "B3", "districtCode": "75113", "district": {"name": "Gobelins"}},
        {"id": "B4", "districtCode": None, "district": None},
        {"id": "B5", "districtCode": None, "district": None},
    ]
    assert result["data"]["district"]["benches"] == {"totalCount": 1, "nodes": [{"id": "B3"}]}
    assert result["data"]["inBourse"]["nodes"] == [{"id": "B2"}]


async def test_without_districts_the_added_column_stays_empty_and_says_why(
    workspace: Workspace,
) -> None:
    report = await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    assert any(
        n.startswith("no districts are loaded: district_code is empty") for n in report.notes
    )
    result = await workspace.query(
        "{ benches(where: {districtCode: {isNull: false}}) { totalCount } }"
    )
    assert result["data"]["benches"]["totalCount"] == 0
