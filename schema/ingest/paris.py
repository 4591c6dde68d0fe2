"""Importing the real Paris open data (the files SOURCES.md describes) into the city.

Every file is read and checked before anything is written, so a missing or malformed file stops
the import with a `SourceError` and leaves the city as it was. Rows that cannot be taken are
skipped and reported; quirks that do not cost a row (labels that disagree with the polygons,
measurements of unlisted stations) are notes.

Files that are the whole truth of their dataset (boundaries, stations, toilets) replace the
table, so a station that closed disappears on the next import; measurements accumulate, since a
later export of the series may start after earlier hours that are still true.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from schema.city import City
from schema.departments.environment import sources as environment
from schema.departments.environment.models import AirQualityMeasurement, AirQualityStation
from schema.departments.facilities import sources as facilities
from schema.departments.facilities.models import PublicToilet
from schema.departments.mobility import sources as mobility
from schema.departments.mobility.models import BikeStation
from schema.departments.territory import sources as territory
from schema.departments.territory.models import District, Quartier
from schema.ingest import ImportReport, store
from schema.ingest.geo import DistrictLocator, Feature, read_features
from schema.ingest.text import MissingSourceError, Record, collect, read_csv

DISTRICTS = District.__dataset__.name
QUARTIERS = Quartier.__dataset__.name
BIKE_STATIONS = BikeStation.__dataset__.name
TOILETS = PublicToilet.__dataset__.name
AIR_STATIONS = AirQualityStation.__dataset__.name
MEASUREMENTS = AirQualityMeasurement.__dataset__.name

ARRONDISSEMENTS_FILE = "paris_arrondissements.geojson"
QUARTIERS_FILE = "paris_quartiers.geojson"
VELIB_FILE = "paris_velib_stations.csv"
TOILETS_FILE = "paris_sanisettes.csv"
AIR_STATIONS_FILE = "air_quality_stations.csv"
MEASUREMENTS_FILE = "air_quality_no2_long.csv"
FILES = (
    ARRONDISSEMENTS_FILE, QUARTIERS_FILE, VELIB_FILE, TOILETS_FILE, AIR_STATIONS_FILE, MEASUREMENTS_FILE,
)  # fmt: skip

EXAMPLES = 10
"""Row places a note lists before it says "and N more"."""


@dataclass(frozen=True, slots=True)
class ParisSources:
    """The Paris files, read and checked."""

    arrondissements: list[Feature]
    quartiers: list[Feature]
    velib: list[Record]
    toilets: list[Record]
    air_stations: list[Record]
    measurements: list[Record]


def read_sources(folder: Path) -> ParisSources:
    """Read every Paris file in `folder`; SourceError (MissingSourceError) when one is unusable."""
    if not folder.is_dir():
        raise MissingSourceError(folder, "no such folder")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise MissingSourceError(
            folder / missing[0], f"missing; the Paris import needs {', '.join(missing)} in {folder}"
        )
    return ParisSources(
        arrondissements=read_features(folder / ARRONDISSEMENTS_FILE),
        quartiers=read_features(folder / QUARTIERS_FILE),
        velib=read_csv(folder / VELIB_FILE, required=mobility.VELIB_COLUMNS),
        toilets=read_csv(folder / TOILETS_FILE, required=facilities.TOILET_COLUMNS),
        air_stations=read_csv(folder / AIR_STATIONS_FILE, required=environment.STATION_COLUMNS),
        measurements=read_csv(folder / MEASUREMENTS_FILE, required=environment.MEASUREMENT_COLUMNS),
    )


async def import_paris(
    city: City, folder: Path, *, progress: Progress | None = None
) -> ImportReport:
    """Load the Paris files of `folder` into the city; rerunning it gives the same rows."""
    sources = read_sources(folder)
    report = ImportReport(source=str(folder))
    await _territory(city=city, sources=sources, report=report, progress=progress)
    # Placed against the boundaries now in the database, as any later import would be.
    districts = await DistrictLocator.load(city=city)
    await _bike_stations(
        city=city, sources=sources, districts=districts, report=report, progress=progress
    )
    await _toilets(
        city=city, sources=sources, districts=districts, report=report, progress=progress
    )
    await _air_quality(
        city=city, sources=sources, districts=districts, report=report, progress=progress
    )
    report.notes.append(
        f"{', '.join((DISTRICTS, QUARTIERS, BIKE_STATIONS, TOILETS, AIR_STATIONS))} now hold exactly "
        f"the files' rows (rows gone from a file are deleted); {MEASUREMENTS} are added to and "
        "updated, never deleted."
    )
    await city.record_loads(dict(report.loaded), origin="imported", source=str(folder))
    return report


def places(wheres: Sequence[str]) -> str:
    """Row places ("file.csv:12") for a note: "file.csv lines 12, 40 and 3 more"."""
    files = {where.rpartition(":")[0] for where in wheres}
    if len(files) == 1:
        prefix, shown = f"{files.pop()} lines ", [where.rpartition(":")[2] for where in wheres]
    else:
        prefix, shown = "", list(wheres)
    listed = ", ".join(shown[:EXAMPLES])
    more = f" and {len(shown) - EXAMPLES} more" if len(shown) > EXAMPLES else ""
    return f"{prefix}{listed}{more}"


async def _territory(
    *, city: City, sources: ParisSources, report: ImportReport, progress: Progress | None
) -> None:
    # The population is not in the file: keep what the city has (the demo's registry count).
    codes = []
    for feature in sources.arrondissements:
        try:
            codes.append(territory.district_code(feature))
        except ValueError:
            continue  # collect() below reports it
    existing = await city.repository(DISTRICTS).by_keys("code", codes)
    populations = {code: int(row.population) for code, row in existing.items()}
    districts = collect(
        sources.arrondissements,
        parse=lambda f: territory.district_row(
            feature=f, population=populations.get(territory.district_code(f), 0)
        ),
        dataset=DISTRICTS,
        report=report,
        key=lambda row: row["code"],
        duplicate="duplicate arrondissement code",
    )
    quartiers = collect(
        sources.quartiers,
        parse=lambda f: territory.quartier_row(feature=f),
        dataset=QUARTIERS,
        report=report,
        key=lambda row: row["code"],
        duplicate="duplicate quartier code",
    )
    await store(
        city=city, dataset=DISTRICTS, rows=districts, replace=True, report=report, progress=progress
    )
    await store(
        city=city, dataset=QUARTIERS, rows=quartiers, replace=True, report=report, progress=progress
    )


async def _bike_stations(
    *,
    city: City,
    sources: ParisSources,
    districts: DistrictLocator,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    rows = collect(
        sources.velib,
        parse=lambda r: mobility.bike_station_row(record=r, districts=districts),
        dataset=BIKE_STATIONS,
        report=report,
        key=lambda row: row["id"],
        duplicate="duplicate station id",
    )
    outside = sum(1 for row in rows if row["district_code"] is None)
    if outside:
        report.notes.append(
            f"{BIKE_STATIONS}: {outside} stations lie outside the 20 arrondissements "
            "(Vélib' Métropole's suburban communes); loaded with no district."
        )
    await store(
        city=city, dataset=BIKE_STATIONS, rows=rows, replace=True, report=report, progress=progress
    )


def _toilet_duplicate(first: tuple[str, dict[str, Any]], later: tuple[str, dict[str, Any]]) -> str:
    if first[1] == later[1]:
        return "exact duplicate row"
    return "same kind, address and position as an earlier row"


async def _toilets(
    *,
    city: City,
    sources: ParisSources,
    districts: DistrictLocator,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    parsed = collect(
        sources.toilets,
        parse=lambda r: (r.where, facilities.toilet_row(record=r, districts=districts)),
        dataset=TOILETS,
        report=report,
        key=lambda item: item[1]["id"],
        duplicate=_toilet_duplicate,
    )
    by_place = {record.where: record for record in sources.toilets}
    disagree, unreadable, not_links = [], [], []
    for where, row in parsed:
        record = by_place[where]
        label = facilities.published_district(record)
        if label is None and record.optional("ARRONDISSEMENT") is not None:
            unreadable.append(where)
        elif label is not None and label != row["district_code"]:
            disagree.append(where)
        if record.optional("URL_FICHE_EQUIPEMENT") is not None and row["url"] is None:
            not_links.append(where)
    if disagree:
        report.notes.append(
            f"{TOILETS}: {len(disagree)} rows have an ARRONDISSEMENT label that disagrees with the "
            f"arrondissement containing their position; district_code follows the position "
            f"({places(disagree)})."
        )
    if unreadable:
        report.notes.append(
            f"{TOILETS}: {len(unreadable)} rows have an ARRONDISSEMENT label that names no "
            f"arrondissement ({places(unreadable)})."
        )
    outside = [where for where, row in parsed if row["district_code"] is None]
    if outside:
        report.notes.append(
            f"{TOILETS}: {len(outside)} rows lie outside the arrondissements ({places(outside)})."
        )
    if not_links:
        report.notes.append(
            f"{TOILETS}: {len(not_links)} rows hold a description, not a link, in "
            f'URL_FICHE_EQUIPEMENT ("1 cabine"); their url is null ({places(not_links)}).'
        )
    rows = [row for _, row in parsed]
    await store(
        city=city, dataset=TOILETS, rows=rows, replace=True, report=report, progress=progress
    )


async def _air_quality(
    *,
    city: City,
    sources: ParisSources,
    districts: DistrictLocator,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    stations = collect(
        sources.air_stations,
        parse=lambda r: environment.station_row(record=r, districts=districts),
        dataset=AIR_STATIONS,
        report=report,
        key=lambda row: row["id"],
        duplicate="duplicate station code",
    )
    measurements = collect(
        sources.measurements,
        parse=lambda r: environment.measurement_row(record=r),
        dataset=MEASUREMENTS,
        report=report,
        key=lambda row: (row["station_id"], row["parameter"], row["measured_at"]),
        duplicate="duplicate measurement (same station, parameter and hour)",
    )
    known = {row["id"] for row in stations}
    unlisted = Counter(row["station_id"] for row in measurements if row["station_id"] not in known)
    if unlisted:
        report.notes.append(
            f"{MEASUREMENTS}: {unlisted.total()} measurements come from stations absent from "
            f"{AIR_STATIONS_FILE} ({', '.join(sorted(unlisted))}); loaded without a station."
        )
    await store(
        city=city,
        dataset=AIR_STATIONS,
        rows=stations,
        replace=True,
        report=report,
        progress=progress,
    )
    await store(
        city=city,
        dataset=MEASUREMENTS,
        rows=measurements,
        replace=False,
        report=report,
        progress=progress,
    )
