"""Relay connections over keyset pages: forward, backward, orderings with nulls, bad cursors."""

from __future__ import annotations

from typing import Any

from tests.schema.conftest import Backend, bike_stations

PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String, $order: [BikeStationOrderBy!]) {
  bikeStations(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
    totalCount
    edges { cursor node { id capacity districtCode } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def expected_order(key: str | None, descending: bool = False) -> list[str]:
    rows = bike_stations()
    if key is None:
        return sorted(r["id"] for r in rows)
    with_value = [r for r in rows if r[key] is not None]
    nulls = sorted((r for r in rows if r[key] is None), key=lambda r: r["id"])
    with_value.sort(key=lambda r: r["id"])
    with_value.sort(key=lambda r: r[key], reverse=descending)
    return [r["id"] for r in with_value + nulls]


async def walk_forward(
    backend: Backend, order: list[dict[str, str]] | None, size: int
) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(50):
        result = await backend.run(PAGE, {"first": size, "after": after, "order": order})
        assert result["errors"] == []
        conn = result["data"]["bikeStations"]
        assert conn["totalCount"] == 30
        seen += [e["node"]["id"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            return seen
        assert conn["pageInfo"]["endCursor"] == conn["edges"][-1]["cursor"]
        after = conn["pageInfo"]["endCursor"]
    raise AssertionError("pagination did not end")


async def test_forward_pages_visit_every_row_once_in_key_order(backend: Backend) -> None:
    assert await walk_forward(backend, None, 7) == expected_order(None)


async def test_ordering_by_a_column_with_ties_and_nulls_is_total(backend: Backend) -> None:
    order = [{"field": "DISTRICT_CODE", "direction": "DESC"}]
    assert await walk_forward(backend, order, 4) == expected_order("district_code", descending=True)
    order = [{"field": "DISTRICT_CODE", "direction": "ASC"}]
    assert await walk_forward(backend, order, 4) == expected_order("district_code")


async def test_capacity_descending(backend: Backend) -> None:
    order = [{"field": "CAPACITY", "direction": "DESC"}]
    assert await walk_forward(backend, order, 9) == expected_order("capacity", descending=True)


async def test_backward_pages_with_last_and_before(backend: Backend) -> None:
    order = [{"field": "DISTRICT_CODE"}]
    everything = expected_order("district_code")
    result = await backend.run(PAGE, {"last": 5, "order": order})
    conn = result["data"]["bikeStations"]
    assert [e["node"]["id"] for e in conn["edges"]] == everything[-5:]
    assert conn["pageInfo"]["hasPreviousPage"] is True
    before = conn["pageInfo"]["startCursor"]
    result = await backend.run(PAGE, {"last": 5, "before": before, "order": order})
    assert [e["node"]["id"] for e in result["data"]["bikeStations"]["edges"]] == everything[-10:-5]
    assert result["data"]["bikeStations"]["pageInfo"]["hasNextPage"] is True


async def test_page_past_the_end_is_empty_with_the_total(backend: Backend) -> None:
    first = await backend.run(PAGE, {"first": 30})
    last_cursor = first["data"]["bikeStations"]["pageInfo"]["endCursor"]
    result = await backend.run(PAGE, {"first": 5, "after": last_cursor})
    conn = result["data"]["bikeStations"]
    assert conn["edges"] == []
    assert conn["totalCount"] == 30
    assert conn["pageInfo"]["hasNextPage"] is False


async def test_default_page_size_applies(backend: Backend) -> None:
    result = await backend.run("{ bikeStations { edges { node { id } } } }")
    assert len(result["data"]["bikeStations"]["edges"]) == 10  # the fixture's page_default


def codes(result: dict[str, Any]) -> list[str]:
    return [e["code"] for e in result["errors"]]


async def test_a_forged_cursor_is_bad_input(backend: Backend) -> None:
    for cursor in ("not-base64!!", "WzEsMiwzXQ", "eyJhIjogMX0"):
        result = await backend.run(PAGE, {"first": 2, "after": cursor})
        assert codes(result) == ["BAD_USER_INPUT"], cursor


async def test_a_cursor_of_another_ordering_is_refused(backend: Backend) -> None:
    by_capacity = await backend.run(PAGE, {"first": 2, "order": [{"field": "CAPACITY"}]})
    cursor = by_capacity["data"]["bikeStations"]["pageInfo"]["endCursor"]
    result = await backend.run(PAGE, {"first": 2, "after": cursor})
    assert codes(result) == ["BAD_USER_INPUT"]


async def test_page_size_bounds(backend: Backend) -> None:
    assert codes(await backend.run(PAGE, {"first": 101})) == ["BAD_USER_INPUT"]
    assert codes(await backend.run(PAGE, {"first": -1})) == ["BAD_USER_INPUT"]
    assert codes(await backend.run(PAGE, {"first": 2, "last": 2})) == ["BAD_USER_INPUT"]
    assert (await backend.run(PAGE, {"first": 0}))["data"]["bikeStations"]["edges"] == []


async def test_ordering_twice_by_one_column_is_refused(backend: Backend) -> None:
    order = [{"field": "CAPACITY"}, {"field": "CAPACITY", "direction": "DESC"}]
    assert codes(await backend.run(PAGE, {"first": 2, "order": order})) == ["BAD_USER_INPUT"]
