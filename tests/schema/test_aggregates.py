"""Aggregates with group-by: one statement, correct measures, access respected."""

from __future__ import annotations

from collections import defaultdict
from statistics import mean

from tests.schema.conftest import Backend, bike_stations

BY_DISTRICT = """
{ bikeStationsAggregate(groupBy: [DISTRICT_CODE]) {
    key { districtCode } count
    sum { capacity } avg { capacity } min { capacity } max { capacity } } }
"""


async def test_group_by_district(backend: Backend) -> None:
    result = await backend.run(BY_DISTRICT)
    assert result["errors"] == []
    groups: dict[str | None, list[int]] = defaultdict(list)
    for r in bike_stations():
        groups[r["district_code"]].append(r["capacity"])
    got = {g["key"]["districtCode"]: g for g in result["data"]["bikeStationsAggregate"]}
    assert set(got) == set(groups)
    for code, capacities in groups.items():
        g = got[code]
        assert g["count"] == len(capacities)
        assert g["sum"]["capacity"] == sum(capacities)
        assert abs(g["avg"]["capacity"] - mean(capacities)) < 1e-6
        assert g["min"]["capacity"] == min(capacities)
        assert g["max"]["capacity"] == max(capacities)
    # groups come ordered by key, nulls last
    assert [g["key"]["districtCode"] for g in result["data"]["bikeStationsAggregate"]][-1] is None


async def test_without_group_by_one_group_of_everything_filtered(backend: Backend) -> None:
    query = "{ bikeStationsAggregate(where: {capacity: {gt: 20}}) { key { districtCode } count sum { capacity } } }"
    result = await backend.run(query)
    expected = [r["capacity"] for r in bike_stations() if r["capacity"] > 20]
    assert result["data"]["bikeStationsAggregate"] == [
        {
            "key": {"districtCode": None},
            "count": len(expected),
            "sum": {"capacity": float(sum(expected))},
        }
    ]


async def test_restricted_dataset_aggregates_are_closed(backend: Backend) -> None:
    result = await backend.run("{ residentsAggregate(groupBy: [DISTRICT_CODE]) { count } }")
    assert result["data"]["residentsAggregate"] is None
    assert [e["code"] for e in result["errors"]] == ["UNAUTHENTICATED"]


async def test_grouping_by_a_restricted_column_of_a_public_dataset_is_refused(
    backend: Backend,
) -> None:
    result = await backend.run("{ buildingPermitsAggregate(groupBy: [APPLICANT_NAME]) { count } }")
    assert [e["code"] for e in result["errors"]] == ["UNAUTHENTICATED"]


async def test_public_measures_of_a_dataset_with_restricted_columns_are_served(
    backend: Backend,
) -> None:
    result = await backend.run("{ buildingPermitsAggregate { count sum { floorAreaM2 } } }")
    assert result["errors"] == []
    assert result["data"]["buildingPermitsAggregate"][0]["sum"] == {"floorAreaM2": 63.0}
    assert result["data"]["buildingPermitsAggregate"][0]["count"] == 3
