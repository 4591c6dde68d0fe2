"""Territory rows from the city's boundary files (GeoJSON features of arrondissements and quartiers)."""

from __future__ import annotations

from typing import Any

from schema.ingest.geo import Feature
from schema.ingest.text import RowError, check_position


def district_code(feature: Feature) -> str:
    """INSEE code of an arrondissement feature ("75101"), from its integer `c_arinsee`."""
    code = feature.integer("c_arinsee")
    if not 75101 <= code <= 75120:
        raise RowError("c_arinsee is not an arrondissement code 75101-75120")
    return str(code)


def _centroid(feature: Feature) -> tuple[float, float]:
    point = feature.value("geom_x_y")
    try:
        latitude, longitude = float(point["lat"]), float(point["lon"])
        check_position(latitude=latitude, longitude=longitude)
    except (TypeError, KeyError, ValueError):
        raise RowError("bad geom_x_y centroid") from None
    return latitude, longitude


def district_row(*, feature: Feature, population: int) -> dict[str, Any]:
    """A District row; the population is not in the file and comes from the caller."""
    latitude, longitude = _centroid(feature)
    return {
        "code": district_code(feature),
        "number": feature.integer("c_ar"),
        "name": str(feature.value("l_aroff")).strip(),
        "label": str(feature.value("l_ar")).strip(),
        "area_m2": feature.number("surface"),
        "perimeter_m": feature.number("perimetre"),
        "population": population,
        "latitude": latitude,
        "longitude": longitude,
        "geometry": feature.boundary(),
    }


def quartier_row(*, feature: Feature) -> dict[str, Any]:
    """A Quartier row; its codes are strings in this file while the arrondissement's is an int."""
    latitude, longitude = _centroid(feature)
    arrondissement = feature.integer("c_ar")
    if not 1 <= arrondissement <= 20:
        raise RowError("c_ar is not an arrondissement number 1-20")
    return {
        "code": str(feature.value("c_quinsee")).strip(),
        "number": feature.integer("c_qu"),
        "name": str(feature.value("l_qu")).strip(),
        "district_code": f"751{arrondissement:02d}",
        "area_m2": feature.number("surface"),
        "perimeter_m": feature.number("perimetre"),
        "latitude": latitude,
        "longitude": longitude,
        "geometry": feature.boundary(),
    }
