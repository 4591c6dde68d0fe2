"""Mobility rows from the Vélib' stations export and from GTFS feeds."""

from __future__ import annotations

import re
from typing import Any

from schema.ingest.geo import DistrictLocator
from schema.ingest.text import Record, RowError, check_position, parse_lat_lon

VELIB_ID = "Identifiant station"
VELIB_NAME = "Nom de la station"
VELIB_CAPACITY = "Capacité de la station"
VELIB_POSITION = "Coordonnées géographiques"
VELIB_COLUMNS = (VELIB_ID, VELIB_NAME, VELIB_CAPACITY, VELIB_POSITION)


def bike_station_row(*, record: Record, districts: DistrictLocator) -> dict[str, Any]:
    """A BikeStation row; stations outside the arrondissements get no district (they are kept)."""
    try:
        latitude, longitude = parse_lat_lon(record.text(VELIB_POSITION))
    except ValueError:
        raise RowError(f"bad position in {VELIB_POSITION}") from None
    capacity = record.integer(VELIB_CAPACITY)
    if capacity < 0:
        raise RowError(f"bad number in {VELIB_CAPACITY}")
    return {
        "id": record.text(VELIB_ID),
        "name": record.text(VELIB_NAME),
        "capacity": capacity,
        "latitude": latitude,
        "longitude": longitude,
        "district_code": districts.locate(latitude=latitude, longitude=longitude),
    }


# GTFS: the columns each table must have (https://gtfs.org/documentation/schedule/reference/).
ROUTE_COLUMNS = ("route_id", "route_type")
STOP_COLUMNS = ("stop_id", "stop_lat", "stop_lon")
TRIP_COLUMNS = ("route_id", "service_id", "trip_id")
STOP_TIME_COLUMNS = ("trip_id", "stop_id", "stop_sequence")

# GTFS times may pass 24:00:00 for trips that run after midnight, and may omit the leading zero.
_TIME = re.compile(r"(\d{1,3}):([0-5]\d):([0-5]\d)")


def route_row(*, record: Record) -> dict[str, Any]:
    """A TransitRoute row."""
    short_name = record.optional("route_short_name")
    long_name = record.optional("route_long_name")
    if short_name is None and long_name is None:
        raise RowError("route has neither route_short_name nor route_long_name")
    return {
        "id": record.text("route_id"),
        "short_name": short_name,
        "long_name": long_name,
        "route_type": record.integer("route_type"),
        "color": (record.optional("route_color") or "").removeprefix("#") or None,
    }


def stop_row(*, record: Record, districts: DistrictLocator) -> dict[str, Any]:
    """A TransitStop row, placed in a district when one contains it."""
    latitude, longitude = record.number("stop_lat"), record.number("stop_lon")
    try:
        check_position(latitude=latitude, longitude=longitude)
    except ValueError:
        raise RowError("stop_lat/stop_lon out of range") from None
    return {
        "id": record.text("stop_id"),
        "code": record.optional("stop_code"),
        "name": record.text("stop_name"),
        "latitude": latitude,
        "longitude": longitude,
        "district_code": districts.locate(latitude=latitude, longitude=longitude),
    }


def trip_row(*, record: Record) -> dict[str, Any]:
    """A TransitTrip row (the caller checks that its route exists)."""
    direction = record.optional_integer("direction_id")
    if direction not in (None, 0, 1):
        raise RowError("direction_id is neither 0 nor 1")
    return {
        "id": record.text("trip_id"),
        "route_id": record.text("route_id"),
        "service_id": record.text("service_id"),
        "headsign": record.optional("trip_headsign"),
        "direction_id": direction,
        "shape_id": record.optional("shape_id"),
    }


def gtfs_time(record: Record, column: str) -> str | None:
    """A GTFS time as HH:MM:SS ("5:50:00" -> "05:50:00", so that text order is time order)."""
    value = record.optional(column)
    if value is None:
        return None
    match = _TIME.fullmatch(value)
    if match is None:
        raise RowError(f"bad time in {column}")
    hours, minutes, seconds = match.groups()
    return f"{int(hours):02d}:{minutes}:{seconds}"


def stop_time_row(*, record: Record) -> dict[str, Any]:
    """A TransitStopTime row (the caller checks that its trip and stop exist)."""
    sequence = record.integer("stop_sequence")
    if sequence < 0:
        raise RowError("bad number in stop_sequence")
    return {
        "trip_id": record.text("trip_id"),
        "stop_sequence": sequence,
        "stop_id": record.text("stop_id"),
        "arrival_time": gtfs_time(record, "arrival_time"),
        "departure_time": gtfs_time(record, "departure_time"),
    }
