"""Environment rows from the OpenAQ exports (pandas' air-quality example files)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schema.ingest.geo import DistrictLocator
from schema.ingest.text import Record, RowError, check_position

STATION_COLUMNS = ("location", "coordinates.latitude", "coordinates.longitude")
MEASUREMENT_COLUMNS = ("city", "country", "date.utc", "location", "parameter", "value", "unit")


def station_row(*, record: Record, districts: DistrictLocator) -> dict[str, Any]:
    """An AirQualityStation row, placed in an arrondissement when one contains it."""
    latitude = record.number("coordinates.latitude")
    longitude = record.number("coordinates.longitude")
    try:
        check_position(latitude=latitude, longitude=longitude)
    except ValueError:
        raise RowError("coordinates out of range") from None
    return {
        "id": record.text("location"),
        "latitude": latitude,
        "longitude": longitude,
        "district_code": districts.locate(latitude=latitude, longitude=longitude),
    }


def measured_at(record: Record) -> datetime:
    """The measurement hour as an aware UTC datetime ("2019-06-21 00:00:00+00:00")."""
    try:
        moment = datetime.fromisoformat(record.text("date.utc"))
    except ValueError:
        raise RowError("bad date in date.utc") from None
    # The column is named date.utc: a time without an offset is UTC by the publisher's word.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def measurement_row(*, record: Record) -> dict[str, Any]:
    """An AirQualityMeasurement row (its station may be absent from the stations file)."""
    return {
        "station_id": record.text("location"),
        "parameter": record.text("parameter"),
        "measured_at": measured_at(record),
        "city": record.text("city"),
        "country": record.text("country"),
        "value": record.number("value"),
        "unit": record.text("unit"),
    }
