"""Placing points into districts with the locator built from the database's boundaries."""

from __future__ import annotations

import json

from shapely.geometry import Polygon, box, mapping

from schema.city import City
from schema.ingest.geo import DistrictLocator

# Two districts side by side, sharing the border at longitude 2.31.
WEST = box(2.30, 48.85, 2.31, 48.86)
EAST = box(2.31, 48.85, 2.32, 48.86)


def district(code: str, polygon: Polygon) -> dict[str, object]:
    return {
        "code": code,
        "number": int(code[-2:]),
        "name": code,
        "label": code,
        "area_m2": 1.0,
        "perimeter_m": 1.0,
        "population": 0,
        "latitude": 48.855,
        "longitude": 2.31,
        "geometry": json.dumps(mapping(polygon)),
    }


def test_points_inside_on_a_border_and_outside() -> None:
    locator = DistrictLocator({"75102": EAST, "75101": WEST})
    assert locator.locate(latitude=48.855, longitude=2.305) == "75101"
    assert locator.locate(latitude=48.855, longitude=2.315) == "75102"
    # On the shared border: both contain it; the smaller code wins, on every run.
    assert locator.locate(latitude=48.855, longitude=2.31) == "75101"
    assert locator.locate(latitude=48.80, longitude=2.305) is None


def test_an_empty_locator_places_nothing() -> None:
    locator = DistrictLocator({})
    assert len(locator) == 0
    assert locator.locate(latitude=48.855, longitude=2.305) is None


async def test_locator_loads_the_boundaries_held_in_the_database(city: City) -> None:
    assert len(await DistrictLocator.load(city=city)) == 0
    await city.repository("districts").upsert([district("75101", WEST), district("75102", EAST)])
    locator = await DistrictLocator.load(city=city)
    assert locator.codes == ["75101", "75102"]
    assert locator.locate(latitude=48.855, longitude=2.315) == "75102"
