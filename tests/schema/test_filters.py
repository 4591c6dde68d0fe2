"""`where` on every column type, logical combinations, geography; same rows on both engines."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.schema.conftest import Backend, bike_stations

IDS = """
query Ids($where: BikeStationFilter) {
  bikeStations(where: $where, first: 100) { totalCount nodes { id } }
}
"""


async def ids(backend: Backend, where: dict[str, Any]) -> list[str]:
    result = await backend.run(IDS, {"where": where})
    assert result["errors"] == [], result["errors"]
    conn = result["data"]["bikeStations"]
    assert conn["totalCount"] == len(conn["nodes"])
    return [n["id"] for n in conn["nodes"]]


def expect(predicate: Any) -> list[str]:
    return sorted(r["id"] for r in bike_stations() if predicate(r))


CASES: list[tuple[str, dict[str, Any], Any]] = [
    ("eq", {"capacity": {"eq": 12}}, lambda r: r["capacity"] == 12),
    ("ne keeps nulls", {"districtCode": {"ne": "75101"}}, lambda r: r["district_code"] != "75101"),
    ("in", {"id": {"in": ["S001", "S005", "nope"]}}, lambda r: r["id"] in ("S001", "S005")),
    (
        "not in keeps nulls",
        {"districtCode": {"notIn": ["75101", "75102"]}},
        lambda r: r["district_code"] not in ("75101", "75102"),
    ),
    ("range", {"capacity": {"gte": 10, "lt": 20}}, lambda r: 10 <= r["capacity"] < 20),
    ("float range", {"latitude": {"gt": 48.853}}, lambda r: r["latitude"] > 48.853),
    ("is null", {"districtCode": {"isNull": True}}, lambda r: r["district_code"] is None),
    ("is not null", {"districtCode": {"isNull": False}}, lambda r: r["district_code"] is not None),
    (
        "contains ignores case, accents kept",
        {"name": {"contains": "ÉLYSÉE"}},
        lambda r: "élysée" in r["name"].lower(),
    ),
    (
        "starts with",
        {"name": {"startsWith": "gare"}},
        lambda r: r["name"].lower().startswith("gare"),
    ),
    ("% is literal", {"name": {"contains": "100%"}}, lambda r: "100%" in r["name"]),
    ("_ is literal", {"name": {"contains": "a_b"}}, lambda r: "a_b" in r["name"]),
    ("injection is just text", {"name": {"contains": "' OR 1=1 --"}}, lambda r: False),
    (
        "and",
        {"and": [{"capacity": {"gt": 10}}, {"districtCode": {"eq": "75102"}}]},
        lambda r: r["capacity"] > 10 and r["district_code"] == "75102",
    ),
    (
        "or",
        {"or": [{"capacity": {"lt": 8}}, {"id": {"eq": "S029"}}]},
        lambda r: r["capacity"] < 8 or r["id"] == "S029",
    ),
    ("not", {"not": {"districtCode": {"isNull": True}}}, lambda r: r["district_code"] is not None),
    ("within district", {"withinDistrict": "75103"}, lambda r: r["district_code"] == "75103"),
    (
        "box",
        {"withinBox": {"south": 48.851, "west": 2.302, "north": 48.857, "east": 2.307}},
        lambda r: 48.851 <= r["latitude"] <= 48.857 and 2.302 <= r["longitude"] <= 2.307,
    ),
]


@pytest.mark.parametrize(("where", "predicate"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_filter(backend: Backend, where: dict[str, Any], predicate: Any) -> None:
    assert sorted(await ids(backend, where)) == expect(predicate)


async def test_near_uses_metres(backend: Backend) -> None:
    centre = (48.852, 2.303)

    def metres(r: dict[str, Any]) -> float:
        dy = (r["latitude"] - centre[0]) * 111_132.954
        dx = (r["longitude"] - centre[1]) * 111_132.954 * math.cos(math.radians(centre[0]))
        return math.hypot(dx, dy)

    where = {"near": {"latitude": centre[0], "longitude": centre[1], "radiusM": 400}}
    found = sorted(await ids(backend, where))
    assert found == expect(lambda r: metres(r) <= 400)
    assert 0 < len(found) < 30


@pytest.mark.parametrize(
    "where",
    [
        {"near": {"latitude": 95, "longitude": 2.3, "radiusM": 100}},
        {"near": {"latitude": 48.8, "longitude": 2.3, "radiusM": 0}},
        {"near": {"latitude": 48.8, "longitude": 2.3, "radiusM": 1e9}},
        {"withinBox": {"south": 49, "west": 2.3, "north": 48, "east": 2.4}},
        {"id": {"in": [str(i) for i in range(1001)]}},
    ],
)
async def test_impossible_filters_are_bad_input(backend: Backend, where: dict[str, Any]) -> None:
    result = await backend.run(IDS, {"where": where})
    assert [e["code"] for e in result["errors"]] == ["BAD_USER_INPUT"]
    assert result["data"] == {"bikeStations": None}


async def test_datetime_ranges_read_offsets(backend: Backend) -> None:
    query = """query($w: AirQualityMeasurementFilter) {
      airQualityMeasurements(where: $w, first: 100) { totalCount nodes { measuredAt } } }"""
    # 02:00 at +02:00 is midnight UTC: the first 24 hours of the fixture
    where = {"measuredAt": {"gte": "2019-06-01T02:00:00+02:00", "lt": "2019-06-02T00:00:00Z"}}
    result = await backend.run(query, {"w": where})
    assert result["errors"] == []
    conn = result["data"]["airQualityMeasurements"]
    assert conn["totalCount"] == 24
    assert conn["nodes"][0]["measuredAt"].startswith("2019-06-01T00:00:00")
