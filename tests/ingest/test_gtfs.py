"""The GTFS import: the real Cairns feed's counts, and hand-made feeds for each kind of bad row."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from shapely.geometry import box, mapping

from schema.city import City
from schema.ingest import ImportReport
from schema.ingest.gtfs import import_gtfs
from schema.ingest.paris import import_paris
from schema.ingest.text import MissingSourceError, SourceError
from tests.ingest.conftest import count_of, rows_of

GTFS_DATASETS = ("transitRoutes", "transitStops", "transitTrips", "transitStopTimes")
REAL_COUNTS = {
    "transitRoutes": 22,
    "transitStops": 416,
    "transitTrips": 1339,
    "transitStopTimes": 37790,
}


def cairns(shared_data: Path) -> Path:
    return shared_data / "gtfs" / "cairns_gtfs.zip"


def write_feed(path: Path, tables: dict[str, str], *, folder: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in tables.items():
            archive.writestr(folder + name, text)
    return path


SMALL = {
    # A BOM and spaces around header names, as some exporters write them.
    "routes.txt": "\ufeffroute_id, route_short_name ,route_long_name,route_type,route_color\r\n"
    "R1,1,Centre,3,#7BC142\r\n"
    "R2,,Gare,x,\r\n"  # bad route_type
    "R3,3,,3,\r\n"
    "R4,4,Four\r\n",  # fields missing
    "stops.txt": "stop_id,stop_code,stop_name,stop_lat,stop_lon\n"
    "S1,,In the square,48.855,2.305\n"
    "S2,22,Outside,-16.9,145.7\n"
    "S3,,Nowhere,abc,2.3\n",
    "trips.txt": "route_id,service_id,trip_id,trip_headsign,direction_id,shape_id\n"
    "R1,WK,T1,Centre,0,SH1\n"
    "R2,WK,T2,Gare,1,\n"  # its route was skipped
    "R9,WK,T9,Nowhere,0,\n"  # no such route
    "R3,WK,T3,,2,\n",  # direction 2
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    "T1,5:50:00,05:50:30,S1,1\n"
    "T1,24:10:00,24:10:00,S2,2\n"
    "T1,06:00:00,06:00:00,S2,2\n"  # same (trip, sequence)
    "T1,06:05:00,06:05:00,S3,3\n"  # its stop was skipped
    "T2,06:00:00,06:00:00,S1,1\n"  # its trip was skipped
    "T1,6h,06:00:00,S1,4\n"
    "T1,,,S1,x\n",
}


async def test_the_cairns_feed_loads_whole(shared_data: Path, city: City) -> None:
    await import_paris(city, shared_data)  # districts present: stops are still outside them
    report = await import_gtfs(city, cairns(shared_data))
    assert report.loaded == REAL_COUNTS
    assert report.skipped == []
    assert "transitStops: 0 of 416 stops lie in a district." in report.notes
    for dataset, count in REAL_COUNTS.items():
        assert await count_of(city, dataset) == count
    stops = await rows_of(city, "transitStops")
    assert all(s["district_code"] is None for s in stops)
    assert all(-17.5 < s["latitude"] < -16.5 and 145 < s["longitude"] < 146 for s in stops)
    routes = {r["id"]: r for r in await rows_of(city, "transitRoutes")}
    assert (routes["110-423"]["short_name"], routes["110-423"]["long_name"]) == (
        "110",
        "City - Palm Cove",
    )
    assert (routes["110-423"]["route_type"], routes["110-423"]["color"]) == (3, "7BC142")
    first = await city.repository("transitStopTimes").by_primary_keys(
        [("CNS2014-CNS_MUL-Weekday-00-4165878", 1)]
    )
    (row,) = first.values()
    assert (row.stop_id, row.arrival_time, row.departure_time) == ("750337", "05:50:00", "05:50:00")


async def test_importing_the_feed_twice_gives_the_same_rows(shared_data: Path, city: City) -> None:
    first = await import_gtfs(city, cairns(shared_data))
    before = {d: await rows_of(city, d) for d in GTFS_DATASETS}
    second = await import_gtfs(city, cairns(shared_data))
    assert second.loaded == first.loaded == REAL_COUNTS
    assert {d: await rows_of(city, d) for d in GTFS_DATASETS} == before


def reasons(report: ImportReport) -> Counter[tuple[str, str]]:
    return report.skipped_by_reason()


async def test_bad_rows_are_skipped_and_reported(tmp_path: Path, city: City) -> None:
    await city.repository("districts").upsert(
        [
            {
                "code": "75101", "number": 1, "name": "Louvre", "label": "1er Ardt",
                "area_m2": 1.0, "perimeter_m": 1.0, "population": 0,
                "latitude": 48.855, "longitude": 2.305,
                "geometry": json.dumps(mapping(box(2.30, 48.85, 2.31, 48.86))),
            }
        ]
    )  # fmt: skip
    feed = write_feed(tmp_path / "feed.zip", SMALL, folder="cairns/")  # tables inside a folder

    report = await import_gtfs(city, feed)

    assert reasons(report) == {
        ("transitRoutes", "bad number in route_type"): 1,
        ("transitRoutes", "wrong number of fields"): 1,
        ("transitStops", "bad number in stop_lat"): 1,
        ("transitTrips", "unknown route"): 2,
        ("transitTrips", "direction_id is neither 0 nor 1"): 1,
        ("transitStopTimes", "duplicate (trip_id, stop_sequence)"): 1,
        ("transitStopTimes", "unknown stop"): 1,
        ("transitStopTimes", "unknown trip"): 1,
        ("transitStopTimes", "bad time in arrival_time"): 1,
        ("transitStopTimes", "bad number in stop_sequence"): 1,
    }
    assert report.loaded == {
        "transitRoutes": 2, "transitStops": 2, "transitTrips": 1, "transitStopTimes": 2,
    }  # fmt: skip
    stops = {s["id"]: s["district_code"] for s in await rows_of(city, "transitStops")}
    assert stops == {"S1": "75101", "S2": None}
    routes = {r["id"]: r["color"] for r in await rows_of(city, "transitRoutes")}
    assert routes == {"R1": "7BC142", "R3": None}
    times = [
        (t["stop_sequence"], t["arrival_time"]) for t in await rows_of(city, "transitStopTimes")
    ]
    assert times == [(1, "05:50:00"), (2, "24:10:00")]  # zero-padded; past midnight kept


async def test_a_new_feed_replaces_the_previous_one(tmp_path: Path, city: City) -> None:
    await import_gtfs(city, write_feed(tmp_path / "a.zip", SMALL))
    smaller = {
        "routes.txt": "route_id,route_short_name,route_type\nR7,7,3\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nS7,Seven,1.0,2.0\n",
        "trips.txt": "route_id,service_id,trip_id\nR7,WK,T7\n",
        "stop_times.txt": "trip_id,stop_id,stop_sequence\nT7,S7,1\n",
    }
    report = await import_gtfs(city, write_feed(tmp_path / "b.zip", smaller))
    assert report.notes[0] == "transitStops: no districts loaded yet, so no stop is placed in one."
    for dataset, key in zip(GTFS_DATASETS, ("R7", "S7", "T7", "T7"), strict=True):
        rows = await rows_of(city, dataset)
        assert len(rows) == 1, dataset
        assert key in rows[0].values(), dataset


async def test_unusable_feeds_are_source_errors(tmp_path: Path, city: City) -> None:
    with pytest.raises(MissingSourceError, match=r"absent\.zip"):
        await import_gtfs(city, tmp_path / "absent.zip")
    not_zip = tmp_path / "feed.zip"
    not_zip.write_text("route_id\n", encoding="utf-8")
    with pytest.raises(SourceError, match="not a zip file"):
        await import_gtfs(city, not_zip)
    partial = write_feed(
        tmp_path / "partial.zip", {k: v for k, v in SMALL.items() if k != "stop_times.txt"}
    )
    with pytest.raises(SourceError, match=r"missing stop_times\.txt"):
        await import_gtfs(city, partial)
    no_column = write_feed(
        tmp_path / "cols.zip", {**SMALL, "stops.txt": "stop_id,stop_name\nS1,A\n"}
    )
    with pytest.raises(SourceError, match=r"stops\.txt.*missing column\(s\) stop_lat, stop_lon"):
        await import_gtfs(city, no_column)
    assert await count_of(city, "transitRoutes") == 0
