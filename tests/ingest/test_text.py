"""Reading sources: district labels, positions, yes/no, CSV files as published, row collection."""

from __future__ import annotations

from pathlib import Path

import pytest

from schema.ingest import ImportReport
from schema.ingest.text import (
    MissingSourceError,
    Record,
    RowError,
    SourceError,
    collect,
    normalise_district,
    parse_csv,
    parse_lat_lon,
    parse_yes_no,
    read_csv,
    sniff_delimiter,
)


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("13", "75113"),
        ("07", "75107"),
        ("1", "75101"),
        ("75013", "75113"),  # postal code, as the toilets file writes half its rows
        ("75113", "75113"),  # INSEE code
        ("75116", "75116"),  # the 16th's second postal code is also its INSEE code
        ("13e", "75113"),
        ("13ème", "75113"),
        ("13eme", "75113"),
        ("1er Ardt", "75101"),
        ("10ème Ardt", "75110"),
        ("20e arrondissement", "75120"),
        ("Paris 13e", "75113"),
        (" 4 ", "75104"),
    ],
)
def test_district_labels_normalise_to_insee_codes(label: str, code: str) -> None:
    assert normalise_district(label) == code


@pytest.mark.parametrize(
    "label", ["", "0", "21", "75000", "75021", "75121", "92100", "abc", "13 rue de Rivoli", "1.5"]
)
def test_labels_naming_no_arrondissement_are_refused(label: str) -> None:
    with pytest.raises(ValueError, match="arrondissement"):
        normalise_district(label)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("48.85714001395299, 2.4043509364128113", (48.85714001395299, 2.4043509364128113)),
        ("48.8303257455,2.3752007184", (48.8303257455, 2.3752007184)),
        (" -16.74359 , 145.668217 ", (-16.74359, 145.668217)),
    ],
)
def test_lat_lon_pairs_parse_latitude_first(text: str, position: tuple[float, float]) -> None:
    assert parse_lat_lon(text) == position


@pytest.mark.parametrize(
    "text",
    ["", "48.85", "48.85; 2.35", "a, b", "48.8, 2.3, 10", "91, 2.3", "48.8, 181", "nan, 2.3"],
)
def test_bad_lat_lon_pairs_are_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each bad input has its own message
        parse_lat_lon(text)


def test_yes_no() -> None:
    assert [parse_yes_no(t) for t in ("Oui", "NON", "", " oui ")] == [True, False, None, True]
    with pytest.raises(ValueError, match="yes/no"):
        parse_yes_no("Peut-être")


def test_delimiter_is_sniffed_from_the_header() -> None:
    assert sniff_delimiter("a;b;c,d") == ";"
    assert sniff_delimiter("a,b,c") == ","
    assert sniff_delimiter("a\tb") == "\t"
    assert sniff_delimiter("single") == ","


def test_csv_with_bom_crlf_semicolons_and_spaced_headers(tmp_path: Path) -> None:
    path = tmp_path / "stations.csv"
    path.write_bytes(
        "\ufeff Identifiant ;Nom;Coordonnées\r\n"
        '1;"Gare; Est";48.8, 2.3\r\n'
        "2;Bastille\r\n"  # one field short
        "\r\n"
        "3; Opéra ;48.87, 2.33\r\n".encode()
    )
    records = read_csv(path, required=("Identifiant", "Coordonnées"))
    assert [r.where for r in records] == ["stations.csv:2", "stations.csv:3", "stations.csv:5"]
    assert records[0].values == {"Identifiant": "1", "Nom": "Gare; Est", "Coordonnées": "48.8, 2.3"}
    assert records[1].problem == "wrong number of fields"
    assert records[2].text("Nom") == "Opéra"


def test_missing_file_is_a_source_error_and_a_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(MissingSourceError) as caught:
        read_csv(path)
    assert isinstance(caught.value, FileNotFoundError)
    assert isinstance(caught.value, SourceError)
    assert caught.value.path == path
    assert str(path) in str(caught.value)


def test_missing_columns_and_bad_encoding_are_source_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("location;value\nX;1\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"missing column\(s\) unit"):
        read_csv(path, required=("location", "unit"))
    path.write_bytes("location;value\nMontréal;1\n".encode("latin-1"))
    with pytest.raises(SourceError, match="not UTF-8"):
        read_csv(path)


def test_record_accessors_raise_row_errors_naming_the_column() -> None:
    record = Record("f.csv:2", {"n": "12", "x": "1,5", "empty": "", "inf": "inf"})
    assert record.integer("n") == 12
    assert record.optional("empty") is None
    assert record.optional_integer("empty") is None
    with pytest.raises(RowError, match="bad number in x"):
        record.number("x")
    with pytest.raises(RowError, match="bad number in inf"):
        record.number("inf")
    with pytest.raises(RowError, match="missing empty"):
        record.text("empty")
    with pytest.raises(RowError, match="missing absent"):
        record.integer("absent")


def test_collect_reports_bad_rows_and_later_duplicates() -> None:
    records = [
        Record("f.csv:2", {"id": "a", "n": "1"}),
        Record("f.csv:3", {"id": "b", "n": "x"}),
        Record("f.csv:4", {}, problem="wrong number of fields"),
        Record("f.csv:5", {"id": "a", "n": "2"}),
        Record("f.csv:6", {"id": "c", "n": "3"}),
    ]
    report = ImportReport()
    rows = collect(
        records,
        parse=lambda r: {"id": r.text("id"), "n": r.integer("n")},
        dataset="things",
        report=report,
        key=lambda row: row["id"],
        duplicate="duplicate id",
    )
    assert rows == [{"id": "a", "n": 1}, {"id": "c", "n": 3}]  # the first of a key wins
    assert [(s.row, s.reason) for s in report.skipped] == [
        ("f.csv:3", "bad number in n"),
        ("f.csv:4", "wrong number of fields"),
        ("f.csv:5 (first at f.csv:2)", "duplicate id"),
    ]


def test_a_cell_with_a_control_character_costs_its_row_with_the_column_named() -> None:
    text = (
        "id;name;note\n"
        "1;Bastille;ok\n"
        "2;Zo\x00la;ok\n"
        "3;Opéra;caf\x92e\n"  # cp1252's apostrophe, read as Latin-1
        '4;"Gare\r\nde l\'Est";\ttabs and line breaks are text\n'
    )
    records = parse_csv(text, source="x.csv", name="x.csv")
    assert [r.problem for r in records] == [
        None,
        "name: holds the control character U+0000 (NUL)",
        "note: holds the control character U+0092 (is the file Windows-1252 read as Latin-1? "
        "declare its encoding)",
        None,
    ]
    assert records[3].values["name"] == "Gare\r\nde l'Est"
    report = ImportReport()
    kept = collect(records, parse=lambda r: r.text("id"), dataset="x", report=report)
    assert kept == ["1", "4"]
    assert [s.row for s in report.skipped] == ["x.csv:3", "x.csv:4"]
