"""Facilities rows from the city's public-toilets export (sanisettesparis)."""

from __future__ import annotations

import hashlib
from typing import Any

from schema.ingest.geo import DistrictLocator
from schema.ingest.text import Record, RowError, normalise_district, parse_lat_lon, parse_yes_no

TOILET_COLUMNS = (
    "TYPE", "STATUT", "ADRESSE", "ARRONDISSEMENT", "HORAIRE",
    "ACCES_PMR", "RELAIS_BEBE", "URL_FICHE_EQUIPEMENT", "geo_point_2d",
)  # fmt: skip


def toilet_id(*, kind: str, address: str, latitude: float, longitude: float) -> str:
    """A short stable id: the file has none, and kind, address and position name a facility."""
    # Rounded to ~1 cm so that a re-export printing more or fewer digits keeps the same id.
    key = f"{kind}|{address}|{latitude:.7f}|{longitude:.7f}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _yes_no(record: Record, column: str) -> bool | None:
    try:
        return parse_yes_no(record.values.get(column, ""))
    except ValueError:
        raise RowError(f"bad yes/no in {column}") from None


def _link(value: str | None) -> str | None:
    # Mobile units carry a description ("1 cabine", "3 urinoirs") in the link column: not a page.
    return value if value is not None and value.startswith(("https://", "http://")) else None


def toilet_row(*, record: Record, districts: DistrictLocator) -> dict[str, Any]:
    """A PublicToilet row; its district is the polygon containing it, not the published label."""
    try:
        latitude, longitude = parse_lat_lon(record.text("geo_point_2d"))
    except ValueError:
        raise RowError("bad position in geo_point_2d") from None
    kind, address = record.text("TYPE"), record.text("ADRESSE")
    return {
        "id": toilet_id(kind=kind, address=address, latitude=latitude, longitude=longitude),
        "kind": kind,
        "status": record.optional("STATUT"),
        "address": address,
        "hours": record.optional("HORAIRE"),
        "wheelchair_accessible": _yes_no(record, "ACCES_PMR"),
        "baby_changing": _yes_no(record, "RELAIS_BEBE"),
        "url": _link(record.optional("URL_FICHE_EQUIPEMENT")),
        "latitude": latitude,
        "longitude": longitude,
        "district_code": districts.locate(latitude=latitude, longitude=longitude),
    }


def published_district(record: Record) -> str | None:
    """The INSEE code the ARRONDISSEMENT label names ("13", "75013"), None if empty or unreadable."""
    label = record.optional("ARRONDISSEMENT")
    if label is None:
        return None
    try:
        return normalise_district(label)
    except ValueError:
        return None
