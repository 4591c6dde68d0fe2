"""Importing a GTFS feed (a zip of CSV tables) into the mobility department's transit datasets.

Read with the standard library: the four tables the city publishes (routes, stops, trips, stop
times) are read and checked before anything is written. A feed is the whole timetable, so each
import replaces the previous one; rows pointing at routes, trips or stops the feed lacks are
skipped and reported, as are rows whose numbers do not parse.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rich.progress import Progress

from schema.city import City
from schema.departments.mobility import sources as mobility
from schema.departments.mobility.models import (
    TransitRoute,
    TransitStop,
    TransitStopTime,
    TransitTrip,
)
from schema.ingest import ImportReport, store
from schema.ingest.geo import DistrictLocator
from schema.ingest.text import MissingSourceError, Record, RowError, SourceError, collect, parse_csv

ROUTES = TransitRoute.__dataset__.name
STOPS = TransitStop.__dataset__.name
TRIPS = TransitTrip.__dataset__.name
STOP_TIMES = TransitStopTime.__dataset__.name

TABLES = {
    "routes.txt": mobility.ROUTE_COLUMNS,
    "stops.txt": mobility.STOP_COLUMNS,
    "trips.txt": mobility.TRIP_COLUMNS,
    "stop_times.txt": mobility.STOP_TIME_COLUMNS,
}


@dataclass(frozen=True, slots=True)
class Feed:
    """The tables of a GTFS feed that the city loads, read and checked."""

    routes: list[Record]
    stops: list[Record]
    trips: list[Record]
    stop_times: list[Record]


def read_feed(path: Path) -> Feed:
    """Read a GTFS zip; SourceError (MissingSourceError) when it is absent or lacks a table."""
    if not path.exists():
        raise MissingSourceError(path, "no such file")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, IsADirectoryError):
        raise SourceError(path, "not a zip file (a GTFS feed is one)") from None
    with archive:
        # Some publishers zip a folder: take each table wherever it sits, top level first.
        members: dict[str, str] = {}
        for name in sorted(archive.namelist(), key=lambda n: n.count("/")):
            members.setdefault(PurePosixPath(name).name, name)
        absent = [table for table in TABLES if table not in members]
        if absent:
            raise SourceError(path, f"not a usable GTFS feed: missing {', '.join(absent)}")
        tables = {}
        for table, required in TABLES.items():
            try:
                text = archive.read(members[table]).decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise SourceError(path, f"{table} is not UTF-8 (byte {exc.start})") from None
            except (zipfile.BadZipFile, OSError) as exc:  # a corrupt member (bad CRC)
                raise SourceError(path, f"{table} cannot be read: {exc}") from None
            tables[table] = parse_csv(
                text,
                source=f"{path} ({table})",
                name=f"{path.name}/{table}",
                required=required,
                delimiter=",",  # the GTFS reference fixes the separator
            )
    return Feed(
        routes=tables["routes.txt"],
        stops=tables["stops.txt"],
        trips=tables["trips.txt"],
        stop_times=tables["stop_times.txt"],
    )


async def import_gtfs(city: City, feed: Path, *, progress: Progress | None = None) -> ImportReport:
    """Load a GTFS feed into the city's transit datasets; rerunning it gives the same rows."""
    tables = read_feed(feed)
    report = ImportReport(source=str(feed))
    districts = await DistrictLocator.load(city=city)
    if not districts:
        report.notes.append(f"{STOPS}: no districts loaded yet, so no stop is placed in one.")

    routes = collect(
        tables.routes,
        parse=lambda r: mobility.route_row(record=r),
        dataset=ROUTES,
        report=report,
        key=lambda row: row["id"],
        duplicate="duplicate route_id",
    )
    stops = collect(
        tables.stops,
        parse=lambda r: mobility.stop_row(record=r, districts=districts),
        dataset=STOPS,
        report=report,
        key=lambda row: row["id"],
        duplicate="duplicate stop_id",
    )
    route_ids = {row["id"] for row in routes}
    trips = collect(
        tables.trips,
        parse=lambda r: _known(mobility.trip_row(record=r), "route_id", route_ids, "unknown route"),
        dataset=TRIPS,
        report=report,
        key=lambda row: row["id"],
        duplicate="duplicate trip_id",
    )
    trip_ids = {row["id"] for row in trips}
    stop_ids = {row["id"] for row in stops}
    stop_times = collect(
        tables.stop_times,
        parse=lambda r: _known(
            _known(mobility.stop_time_row(record=r), "trip_id", trip_ids, "unknown trip"),
            "stop_id",
            stop_ids,
            "unknown stop",
        ),
        dataset=STOP_TIMES,
        report=report,
        key=lambda row: (row["trip_id"], row["stop_sequence"]),
        duplicate="duplicate (trip_id, stop_sequence)",
    )
    placed = sum(1 for row in stops if row["district_code"] is not None)
    if districts:
        report.notes.append(f"{STOPS}: {placed} of {len(stops)} stops lie in a district.")

    for dataset, rows in (
        (ROUTES, routes),
        (STOPS, stops),
        (TRIPS, trips),
        (STOP_TIMES, stop_times),
    ):
        await store(
            city=city, dataset=dataset, rows=rows, replace=True, report=report, progress=progress
        )
    report.notes.append(
        f"{ROUTES}, {STOPS}, {TRIPS} and {STOP_TIMES} now hold exactly this feed "
        "(rows of a previous feed are deleted)."
    )
    await city.record_loads(dict(report.loaded), origin="imported", source=str(feed))
    return report


def _known(row: dict[str, Any], column: str, known: set[str], reason: str) -> dict[str, Any]:
    if row[column] not in known:
        raise RowError(reason)
    return row
