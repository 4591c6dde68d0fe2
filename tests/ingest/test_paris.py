"""The Paris import against the real files: the counts SOURCES.md states, quirks, idempotence."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schema.city import City
from schema.ingest import ImportReport
from schema.ingest.geo import DistrictLocator
from schema.ingest.paris import import_paris
from schema.ingest.text import MissingSourceError, SourceError
from tests.ingest.conftest import count_of, open_city, rows_of, sqlite_url

PARIS_DATASETS = (
    "districts",
    "quartiers",
    "bikeStations",
    "publicToilets",
    "airQualityStations",
    "airQualityMeasurements",
)


@dataclass
class Imported:
    url: str
    report: ImportReport


@pytest.fixture(scope="module")
def imported(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Imported:
    """The real Paris files imported once into a SQLite city that the module's tests read."""
    url = sqlite_url(tmp_path_factory.mktemp("paris"))

    async def run() -> ImportReport:
        city = await open_city(url)
        try:
            return await import_paris(city, shared_data)
        finally:
            await city.close()

    return Imported(url, asyncio.run(run()))


@pytest.fixture
async def paris(imported: Imported) -> AsyncIterator[City]:
    city = await open_city(imported.url)
    yield city
    await city.close()


def skipped(report: ImportReport, dataset: str) -> Counter[str]:
    return Counter(s.reason for s in report.skipped if s.dataset == dataset)


def noted(report: ImportReport, pattern: str) -> int:
    """The count a note matching `pattern` (with one number group) gives; 0 without such a note."""
    matches = [m for note in report.notes if (m := re.search(pattern, note))]
    assert len(matches) <= 1, report.notes
    return int(matches[0].group(1)) if matches else 0


async def test_every_row_lands_or_is_reported(imported: Imported, paris: City) -> None:
    report = imported.report
    toilet_duplicates = skipped(report, "publicToilets")
    assert report.loaded == {
        "districts": 20,
        "quartiers": 80,
        "bikeStations": 1468,
        "publicToilets": 644 - toilet_duplicates.total(),
        "airQualityStations": 58,
        "airQualityMeasurements": 2068 - skipped(report, "airQualityMeasurements").total(),
    }
    assert set(toilet_duplicates) <= {
        "exact duplicate row",
        "same kind, address and position as an earlier row",
    }
    assert skipped(report, "airQualityStations") == {"duplicate station code": 8}
    for dataset in ("districts", "quartiers", "bikeStations"):
        assert skipped(report, dataset) == {}
    for dataset in PARIS_DATASETS:
        assert await count_of(paris, dataset) == report.loaded[dataset]


async def test_districts_carry_the_files_attributes(paris: City) -> None:
    districts = {row["code"]: row for row in await rows_of(paris, "districts")}
    assert sorted(districts) == [f"751{n:02d}" for n in range(1, 21)]
    louvre = districts["75101"]
    assert (louvre["number"], louvre["name"], louvre["label"]) == (1, "Louvre", "1er Ardt")
    assert louvre["population"] == 0  # no registry in this city yet
    assert louvre["area_m2"] == pytest.approx(1_824_612, rel=1e-3)
    assert 48.85 < louvre["latitude"] < 48.87
    assert 2.33 < louvre["longitude"] < 2.35
    geometry = json.loads(louvre["geometry"])
    assert geometry["type"] == "Polygon"
    assert louvre["geometry"] == json.dumps(geometry, separators=(",", ":"))  # compact


async def test_quartiers_four_per_district(paris: City) -> None:
    quartiers = await rows_of(paris, "quartiers")
    assert Counter(q["district_code"] for q in quartiers) == {
        f"751{n:02d}": 4 for n in range(1, 21)
    }
    first = next(q for q in quartiers if q["code"] == "7510101")
    assert (first["number"], first["district_code"]) == (1, "75101")
    assert sorted(q["number"] for q in quartiers) == list(range(1, 81))


async def test_bike_stations_are_placed_by_polygon(imported: Imported, paris: City) -> None:
    stations = await rows_of(paris, "bikeStations")
    per_district = Counter(s["district_code"] for s in stations)
    assert per_district.pop(None) == 473  # suburban Vélib' Métropole stations, loaded all the same
    assert sum(per_district.values()) == 995
    assert len(per_district) == 20
    assert all(15 <= n <= 90 for n in per_district.values()), per_district
    pyrenees = next(s for s in stations if s["id"] == "20016")
    assert (pyrenees["name"], pyrenees["capacity"]) == ("Pyrénées - Maraîchers", 19)
    assert pyrenees["latitude"] == pytest.approx(48.85714001395299)
    assert pyrenees["district_code"] == "75120"
    assert noted(imported.report, r"bikeStations: (\d+) stations lie outside") == 473


async def test_toilets_follow_the_polygon_and_report_label_disagreements(
    imported: Imported, paris: City
) -> None:
    toilets = await rows_of(paris, "publicToilets")
    assert (
        noted(
            imported.report,
            r"publicToilets: (\d+) rows have an ARRONDISSEMENT label that disagrees",
        )
        == 14
    )
    assert (
        noted(
            imported.report, r"publicToilets: (\d+) rows have an ARRONDISSEMENT label that names no"
        )
        == 0
    )
    assert all(re.fullmatch(r"[0-9a-f]{16}", t["id"]) for t in toilets)
    assert all(t["district_code"] is not None for t in toilets)  # every toilet is inside Paris
    assert Counter(t["wheelchair_accessible"] for t in toilets) == {True: 519, False: 105, None: 20}
    assert Counter(t["baby_changing"] for t in toilets) == {None: 474, False: 158, True: 12}
    assert Counter(t["status"] for t in toilets) == {"Fermé": 298, None: 176, "Ouvert": 170}
    # Mobile units hold "1 cabine" where the link should be: not a link, so no url.
    mobile = [t for t in toilets if t["kind"] in ("URINOIR MOBILE", "CABINE MOBILE")]
    assert len(mobile) == 22
    assert all(t["url"] is None for t in mobile)
    assert all(t["url"] is None or t["url"].startswith("https://") for t in toilets)
    chevaleret = next(t for t in toilets if t["address"] == "face 97 RUE DU CHEVALERET")
    assert (chevaleret["kind"], chevaleret["district_code"], chevaleret["hours"]) == (
        "SANISETTES",
        "75113",
        "24 h / 24",
    )


async def test_air_quality_stations_keep_the_first_of_a_duplicated_code(paris: City) -> None:
    stations = {s["id"]: s for s in await rows_of(paris, "airQualityStations")}
    assert len(stations) == 58
    fr04014 = stations["FR04014"]
    assert (fr04014["latitude"], fr04014["longitude"]) == (48.83724, 2.3939)  # the first line's
    assert fr04014["district_code"] == "75112"
    assert stations["BETR801"]["district_code"] is None  # Antwerp
    paris_codes = {s["district_code"] for s in stations.values() if s["id"].startswith("FR04")}
    assert {"75102", "75104", "75112", "75113", "75118"} <= paris_codes
    # The quartier boundaries in the database place it too: Picpus, in the 12th.
    quartiers = await DistrictLocator.load(city=paris, dataset="quartiers")
    code = quartiers.locate(latitude=fr04014["latitude"], longitude=fr04014["longitude"])
    names = {q["code"]: q["name"] for q in await rows_of(paris, "quartiers")}
    assert code is not None
    assert names[code] == "Picpus"


async def test_measurements_are_aware_utc_hours(imported: Imported, paris: City) -> None:
    measurements = await rows_of(paris, "airQualityMeasurements")
    assert Counter(m["station_id"] for m in measurements) == {
        "FR04014": 1004,
        "London Westminster": 969,
        "BETR801": 95,
    }
    assert all(m["measured_at"].utcoffset().total_seconds() == 0 for m in measurements)
    last = next(
        m
        for m in measurements
        if m["station_id"] == "FR04014" and m["measured_at"] == datetime(2019, 6, 21, tzinfo=UTC)
    )
    assert (last["value"], last["unit"], last["city"], last["country"]) == (
        20.0,
        "µg/m³",
        "Paris",
        "FR",
    )
    assert noted(imported.report, r"(\d+) measurements come from stations absent") == 0


async def test_import_is_idempotent_and_keeps_populations(shared_data: Path, city: City) -> None:
    first = await import_paris(city, shared_data)
    before = {d: await rows_of(city, d) for d in PARIS_DATASETS}
    # The demo's registry fills populations in; a new import must not reset them.
    district = before["districts"][4]
    await city.repository("districts").upsert([{**district, "population": 4242}])

    second = await import_paris(city, shared_data)

    assert second.loaded == first.loaded
    assert second.skipped_by_reason() == first.skipped_by_reason()
    after = {d: await rows_of(city, d) for d in PARIS_DATASETS}
    assert after["districts"][4]["population"] == 4242
    after["districts"][4]["population"] = 0
    assert after == before


async def test_rows_gone_from_a_file_are_deleted_but_measurements_accumulate(
    paris_copy: Path, city: City
) -> None:
    await import_paris(city, paris_copy)
    velib = paris_copy / "paris_velib_stations.csv"
    lines = velib.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    velib.write_text("".join(lines[:2] + lines[3:]), encoding="utf-8-sig")  # drop station 6032
    no2 = paris_copy / "air_quality_no2_long.csv"
    lines = no2.read_text(encoding="utf-8").splitlines(keepends=True)
    no2.write_text("".join(lines[:1] + lines[2:]), encoding="utf-8")  # drop the 2019-06-21 hour

    report = await import_paris(city, paris_copy)

    assert report.loaded["bikeStations"] == 1467
    ids = {s["id"] for s in await rows_of(city, "bikeStations")}
    assert len(ids) == 1467
    assert "6032" not in ids
    assert report.loaded["airQualityMeasurements"] == 2067
    assert await count_of(city, "airQualityMeasurements") == 2068  # the past hour stays


async def test_quirks_cost_only_the_rows_they_touch(paris_copy: Path, city: City) -> None:
    toilets = paris_copy / "paris_sanisettes.csv"
    with toilets.open("a", encoding="utf-8", newline="") as out:
        lines = toilets.read_text(encoding="utf-8").splitlines(keepends=True)
        out.write(lines[1])  # an exact duplicate
        out.write(lines[2].replace("Fermé", "Ouvert"))  # same place, other status
        out.write("SANISETTES;Ouvert;1 RUE X;13;24 h / 24;Peut-être;;;;48.83,2.37\r\n")
    with (paris_copy / "air_quality_no2_long.csv").open("a", encoding="utf-8") as out:
        out.write("Paris,FR,2019-06-21 00:00:00+00:00,FR04014,no2,99.0,µg/m³\n")  # same hour
        out.write("Paris,FR,2019-06-21 01:00:00,FR09999,no2,12.0,µg/m³\n")  # unlisted, naive
        out.write("Paris,FR,not a date,FR04014,no2,12.0,µg/m³\n")
        out.write("Paris,FR,2019-06-21 02:00:00+00:00,FR04014,no2,n/a,µg/m³\n")
    with (paris_copy / "paris_velib_stations.csv").open("a", encoding="utf-8") as out:
        out.write("99999;Nulle part;douze;48.85, 2.35\n")
        out.write("99998;Ailleurs;12;48.85 2.35\n")

    report = await import_paris(city, paris_copy)

    assert skipped(report, "publicToilets") == {
        "exact duplicate row": 1,
        "same kind, address and position as an earlier row": 1,
        "bad yes/no in ACCES_PMR": 1,
    }
    assert skipped(report, "airQualityMeasurements") == {
        "duplicate measurement (same station, parameter and hour)": 1,
        "bad date in date.utc": 1,
        "bad number in value": 1,
    }
    assert skipped(report, "bikeStations") == {
        "bad number in Capacité de la station": 1,
        "bad position in Coordonnées géographiques": 1,
    }
    assert report.loaded["publicToilets"] == 644
    assert report.loaded["airQualityMeasurements"] == 2069
    assert noted(report, r"(\d+) measurements come from stations absent") == 1
    unlisted = await city.repository("airQualityMeasurements").by_primary_keys(
        [("FR09999", "no2", datetime(2019, 6, 21, 1, tzinfo=UTC))]
    )
    assert len(unlisted) == 1  # a time without offset in date.utc is UTC
    kept = await city.repository("airQualityMeasurements").by_primary_keys(
        [("FR04014", "no2", datetime(2019, 6, 21, tzinfo=UTC))]
    )
    assert [r.value for r in kept.values()] == [20.0]  # the first of a duplicated hour wins


async def test_a_missing_file_stops_before_anything_is_written(
    paris_copy: Path, city: City
) -> None:
    (paris_copy / "paris_velib_stations.csv").unlink()
    with pytest.raises(MissingSourceError, match=r"paris_velib_stations\.csv") as caught:
        await import_paris(city, paris_copy)
    assert caught.value.path == paris_copy / "paris_velib_stations.csv"
    assert await count_of(city, "districts") == 0
    with pytest.raises(MissingSourceError, match="no such folder"):
        await import_paris(city, paris_copy / "absent")


async def test_a_malformed_file_is_a_source_error(paris_copy: Path, city: City) -> None:
    (paris_copy / "paris_quartiers.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(SourceError, match=r"paris_quartiers\.geojson: not JSON"):
        await import_paris(city, paris_copy)
    assert await count_of(city, "districts") == 0


async def test_postgres_gives_the_same_rows(
    shared_data: Path, fresh_postgres_url: str, imported: Imported, paris: City
) -> None:
    # A database of its own: the import replaces whole tables, which a shared one must not see.
    city = await open_city(fresh_postgres_url)
    try:
        report = await import_paris(city, shared_data)
        assert report.loaded == imported.report.loaded
        assert report.skipped_by_reason() == imported.report.skipped_by_reason()
        for dataset in PARIS_DATASETS:
            assert await rows_of(city, dataset) == await rows_of(paris, dataset), dataset
    finally:
        await city.close()
