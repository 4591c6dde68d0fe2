"""Relations and reverse connections, batched: statements per request bounded by depth (no N+1)."""

from __future__ import annotations

from collections import Counter

from storage.engines import StatementCounter
from tests.schema.conftest import DISTRICTS, Backend, bike_stations

NESTED = """
{ districts(first: 10) {
    nodes {
      code
      bikeStations(first: 3, orderBy: [{field: CAPACITY, direction: DESC}]) {
        totalCount
        nodes { id capacity district { code quartiers(first: 2) { nodes { code district { name } } } } }
      }
    }
} }
"""


async def test_nested_lists_are_one_statement_per_level(backend: Backend) -> None:
    with StatementCounter(backend.city.databases.engines()) as counter:
        result = await backend.run(NESTED)
    assert result["errors"] == []
    # levels: districts, their stations, each station's district, its quartiers, their district
    assert len(counter.statements) <= 5, counter.statements
    per_district = Counter(r["district_code"] for r in bike_stations())
    for node in result["data"]["districts"]["nodes"]:
        stations = node["bikeStations"]
        assert stations["totalCount"] == per_district[node["code"]]
        capacities = [s["capacity"] for s in stations["nodes"]]
        assert capacities == sorted(capacities, reverse=True)
        assert len(capacities) == 3
        for s in stations["nodes"]:
            assert s["district"]["code"] == node["code"]
            assert [q["district"]["name"] for q in s["district"]["quartiers"]["nodes"]] == [
                next(d["name"] for d in DISTRICTS if d["code"] == node["code"])
            ] * 2


async def test_statement_count_does_not_grow_with_rows(backend: Backend) -> None:
    query = "{ bikeStations(first: %d) { nodes { id district { name } } } }"
    counts = []
    for size in (2, 30):
        with StatementCounter(backend.city.databases.engines()) as counter:
            result = await backend.run(query % size)
        assert result["errors"] == []
        counts.append(len(counter.statements))
    assert counts[0] == counts[1] == 2


async def test_null_reference_gives_null_relation(backend: Backend) -> None:
    result = await backend.run('{ bikeStation(id: "S003") { districtCode district { code } } }')
    assert result["data"]["bikeStation"] == {"districtCode": None, "district": None}


async def test_lookup_by_key(backend: Backend) -> None:
    result = await backend.run(
        '{ district(code: "75102") { name number areaM2 geometry } missing: district(code: "99999") { name } }'
    )
    data = result["data"]
    assert data["district"]["name"] == "Bourse"
    assert data["district"]["geometry"]["type"] == "Polygon"
    assert data["missing"] is None


async def test_reverse_connection_pages_with_cursor(backend: Backend) -> None:
    query = """query($after: String) { district(code: "75101") {
        bikeStations(first: 2, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }"""
    expected = sorted(r["id"] for r in bike_stations() if r["district_code"] == "75101")
    seen: list[str] = []
    after = None
    while True:
        conn = (await backend.run(query, {"after": after}))["data"]["district"]["bikeStations"]
        seen += [n["id"] for n in conn["nodes"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == expected
