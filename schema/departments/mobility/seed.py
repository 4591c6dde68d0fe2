"""Mobility for the demo city when the real files are absent: bike-share stations and a small
GTFS-like bus and tram network, placed on whatever territory the city has (real or generated)."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schema.departments.registry.names import (
    STREETS,
    SUBURBAN_PLACES,
    commune_at,
    of_place,
    short_street,
)
from schema.departments.seedkit import rewriting
from schema.departments.territory.seed import Territory
from schema.ingest import ImportReport

if TYPE_CHECKING:
    from schema.city import City

BIKE_STATIONS = 1_000
OUTSIDE_SHARE = 0.15
"""Vélib' Métropole serves the neighbouring communes too: their stations are in no district."""

ROUTES: tuple[tuple[str, int, str], ...] = (
    ("20", 3, "E2231F"),
    ("26", 3, "0064B0"),
    ("38", 3, "9F9825"),
    ("42", 3, "C04191"),
    ("47", 3, "F28E42"),
    ("63", 3, "83C491"),
    ("91", 3, "F3A4BA"),
    ("T3", 0, "FFCE00"),
)
"""Short name, GTFS route_type (3 bus, 0 tram) and colour of each generated route."""

SERVICES: tuple[tuple[str, str, int, int, int], ...] = (
    ("weekday", "WD", 6 * 60, 21 * 60 + 30, 30),
    ("weekend", "WE", 7 * 60, 21 * 60, 60),
)
"""Service id, its tag in trip ids, first and last departure (minutes after midnight), headway."""

STOP_SPACING_M = 500.0
DWELL_S = 20
SPEED_M_S = {3: 15 / 3.6, 0: 20 / 3.6}


def _district_streets(territory: Territory, code: str) -> tuple[str, ...]:
    index = [d.code for d in territory.districts].index(code)
    return STREETS[index % len(STREETS)]


def _crossing(rng: random.Random, streets: tuple[str, ...]) -> str:
    first, second = rng.sample(streets, 2)
    return f"{short_street(first)} - {short_street(second)}"


def bike_stations(
    rng: random.Random, territory: Territory, *, count: int = BIKE_STATIONS
) -> Iterator[dict[str, Any]]:
    """Stations spread over the quartiers, and some in the communes around the city."""
    outside = round(count * OUTSIDE_SHARE)
    serials: Counter[str] = Counter()
    numbers = {d.code: n for n, d in enumerate(territory.districts, start=1)}
    for _ in range(count - outside):
        quartier = rng.choice(territory.quartiers)
        lat, lon = territory.point_in(rng, quartier)
        code = quartier.district_code
        serials[code] += 1
        yield {
            # Like Vélib's own ids: the arrondissement number, then a serial.
            "id": f"{numbers[code]}{serials[code]:03d}",
            "name": _crossing(rng, _district_streets(territory, code)),
            "capacity": int(rng.triangular(12, 70, 26)),
            "latitude": lat,
            "longitude": lon,
            "district_code": code,
        }
    for _ in range(outside):
        lat, lon = territory.point_outside(rng)
        index, commune = commune_at(territory.bearing_of(lat, lon))
        serials[commune] += 1
        first, second = rng.sample(SUBURBAN_PLACES, 2)
        yield {
            "id": f"{21 + index}{serials[commune]:03d}",
            "name": f"{first} - {second} ({commune})",
            "capacity": int(rng.triangular(12, 60, 22)),
            "latitude": lat,
            "longitude": lon,
            "district_code": None,
        }


@dataclass(frozen=True, slots=True)
class _Stop:
    id: str
    name: str
    lat: float
    lon: float


def _line(rng: random.Random, territory: Territory, serial: int) -> list[_Stop]:
    """Stops of one route: from a commune across the city to the opposite commune."""
    centre_lat, centre_lon = territory.centre()
    west, south, east, north = territory.bounds
    half_lon, half_lat = (east - west) / 2 * 1.06, (north - south) / 2 * 1.06

    def edge(bearing_deg: float) -> tuple[float, float]:
        angle = math.radians(bearing_deg)
        return centre_lat + half_lat * math.cos(angle), centre_lon + half_lon * math.sin(angle)

    bearing = serial * 180.0 / len(ROUTES) + rng.uniform(-8.0, 8.0)
    start = edge(bearing)
    end = edge(bearing + 180.0 + rng.uniform(-25.0, 25.0))
    via = (centre_lat + rng.uniform(-0.012, 0.012), centre_lon + rng.uniform(-0.018, 0.018))
    points: list[tuple[float, float]] = []
    for a, b in ((start, via), (via, end)):
        steps = max(1, round(territory.metres_between(a, b) / STOP_SPACING_M))
        points.extend(
            (a[0] + (b[0] - a[0]) * k / steps, a[1] + (b[1] - a[1]) * k / steps)
            for k in range(steps)
        )
    points.append(end)
    stops = []
    for k, (lat, lon) in enumerate(points, start=1):
        lat = round(lat + rng.uniform(-0.0003, 0.0003), 6)
        lon = round(lon + rng.uniform(-0.0004, 0.0004), 6)
        code = territory.district_at(lat, lon)
        if code is not None:
            name = _crossing(rng, _district_streets(territory, code))
        else:
            _, commune = commune_at(territory.bearing_of(lat, lon))
            terminus = k in (1, len(points))
            name = (
                f"Mairie {of_place(commune)}"
                if terminus
                else f"{commune} - {rng.choice(SUBURBAN_PLACES)}"
            )
        stops.append(_Stop(f"S{serial + 1:02d}{k:02d}", name, lat, lon))
    return stops


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def transit(
    rng: random.Random, territory: Territory
) -> tuple[
    list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], Iterator[dict[str, Any]]
]:
    """Routes, stops, trips and (lazily) stop times of the generated network."""
    routes: list[dict[str, Any]] = []
    stops: list[dict[str, Any]] = []
    trips: list[dict[str, Any]] = []
    timetables: list[tuple[str, int, list[_Stop], int]] = []
    for serial, (short_name, route_type, colour) in enumerate(ROUTES):
        line = _line(rng, territory, serial)
        route_id = f"R{short_name}"
        routes.append(
            {
                "id": route_id,
                "short_name": short_name,
                "long_name": f"{line[0].name} - {line[-1].name}",
                "route_type": route_type,
                "color": colour,
            }
        )
        stops.extend(
            {
                "id": s.id,
                "code": s.id[1:],
                "name": s.name,
                "latitude": s.lat,
                "longitude": s.lon,
                "district_code": territory.district_at(s.lat, s.lon),
            }
            for s in line
        )
        for direction, path in enumerate((line, line[::-1])):
            for service, tag, first, last, headway in SERVICES:
                for minute in range(first, last + 1, headway):
                    trip_id = f"{route_id}-{tag}-{direction}-{minute // 60:02d}{minute % 60:02d}"
                    trips.append(
                        {
                            "id": trip_id,
                            "route_id": route_id,
                            "service_id": service,
                            "headsign": path[-1].name,
                            "direction_id": direction,
                            "shape_id": None,
                        }
                    )
                    timetables.append((trip_id, route_type, path, minute * 60))

    def stop_times() -> Iterator[dict[str, Any]]:
        for trip_id, route_type, path, departure in timetables:
            rush = 7 * 3600 <= departure < 9 * 3600 or 17 * 3600 <= departure < 19 * 3600
            speed = SPEED_M_S[route_type] / (1.25 if rush else 1.0)
            clock = departure
            for sequence, stop in enumerate(path, start=1):
                if sequence > 1:
                    previous = path[sequence - 2]
                    clock += round(
                        territory.metres_between((previous.lat, previous.lon), (stop.lat, stop.lon))
                        / speed
                    )
                dwell = DWELL_S if 1 < sequence < len(path) else 0
                yield {
                    "trip_id": trip_id,
                    "stop_sequence": sequence,
                    "stop_id": stop.id,
                    "arrival_time": _clock(clock),
                    "departure_time": _clock(clock + dwell),
                }
                clock += dwell

    return routes, stops, trips, stop_times()


async def seed(
    *,
    city: City,
    rng: random.Random,
    territory: Territory,
    bike_stations_wanted: bool = True,
    transit_wanted: bool = True,
) -> ImportReport:
    """Replace the bike stations and/or the transit network with generated ones."""
    # One stream per dataset, drawn whether used or not: generating only the network (the real
    # bike stations being present) gives the same network as generating both.
    bike_rng = random.Random(rng.getrandbits(64))  # noqa: S311 - demo data, not secrets
    transit_rng = random.Random(rng.getrandbits(64))  # noqa: S311 - demo data, not secrets
    report = ImportReport()
    if bike_stations_wanted:
        async with rewriting(city, "bikeStations") as rewrite:
            await rewrite.insert_all("bikeStations", bike_stations(bike_rng, territory))
        report.loaded.update(rewrite.counts)
        report.notes.append("bikeStations: generated (no Vélib' file)")
    if transit_wanted:
        routes, stops, trips, stop_times = transit(transit_rng, territory)
        names = ("transitRoutes", "transitStops", "transitTrips", "transitStopTimes")
        async with rewriting(city, *names) as rewrite:
            await rewrite.insert("transitRoutes", routes)
            await rewrite.insert("transitStops", stops)
            await rewrite.insert_all("transitTrips", trips)
            await rewrite.insert_all("transitStopTimes", stop_times)
        report.loaded.update(rewrite.counts)
        report.notes.append("transit*: generated network (no GTFS feed)")
    return report
