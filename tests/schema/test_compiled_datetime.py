"""Datetime columns on the compiled path: the air-quality measurements, keyed on `measured_at`.

Given the fixture's measurements, at whole hours (no fraction) and two with a fraction of a
second (tests/schema/conftest.FRACTIONS, one of them a microsecond), when a page of them is
read with its cursors, walked forwards and backwards past those cursors, filtered and ordered
on `measuredAt`, then each root field is answered by the compiled path in one statement, with the very bytes today's path answers, on
SQLite (its stored text: `2019-06-05 01:02:03.450000`) and PostgreSQL (a timestamptz, which
`to_json` would write `2019-06-05T01:02:03.45+00:00`).
"""

from __future__ import annotations

from typing import Any

import orjson

from auth.principal import ANONYMOUS
from schema.context import CityContext
from storage.engines import StatementCounter
from tests.schema.conftest import GATEWAY, Backend
from tests.schema.test_compiled_differential import both_paths_agree

PAGE = """
query Page($first: Int, $last: Int, $after: String, $before: String,
           $where: AirQualityMeasurementFilter, $order: [AirQualityMeasurementOrderBy!]) {
  airQualityMeasurements(first: $first, last: $last, after: $after, before: $before,
                         where: $where, orderBy: $order) {
    totalCount
    edges { cursor node { stationId parameter measuredAt city } }
    pageInfo { startCursor endCursor hasNextPage hasPreviousPage }
  }
}
"""
"""No float column: PostgreSQL's text of an integral float (`99`) is not Python's (`99.0`), so
the answers could not be compared byte for byte."""

NEWEST_FIRST = [{"field": "MEASURED_AT", "direction": "DESC"}]


async def both(backend: Backend, variables: dict[str, Any]) -> tuple[bytes, bytes, int]:
    """Today's bytes, the compiled path's bytes, and how many statements the compiled path sent
    (asserting that it answered the root field)."""
    today = await _run(backend, variables, compiled=False)
    engines = list(backend.city.databases.engines())
    with StatementCounter(iter(engines)) as counted:
        compiled = await _run(backend, variables, compiled=True)
    assert isinstance(compiled["airQualityMeasurements"], orjson.Fragment), "not compiled"
    return orjson.dumps(today), orjson.dumps(compiled), len(counted.statements)


async def _run(backend: Backend, variables: dict[str, Any], *, compiled: bool) -> Any:
    context = CityContext(loaders=backend.city.loaders(), principal=ANONYMOUS, compiled=compiled)
    result = await GATEWAY.execute(PAGE, variable_values=variables, context_value=context)
    assert result.errors is None, result.errors
    return result.data


def page_of(raw: bytes) -> dict[str, Any]:
    page: dict[str, Any] = orjson.loads(raw)["airQualityMeasurements"]
    return page


async def test_a_page_with_cursors_compiles_to_today_s_bytes(backend: Backend) -> None:
    today, compiled, statements = await both(backend, {"first": 3, "order": NEWEST_FIRST})
    assert compiled == today
    assert statements == 1
    times = [e["node"]["measuredAt"] for e in page_of(compiled)["edges"]]
    # six digits of fraction or none, and the zone: Python's isoformat() of the stored value
    assert times == [
        "2019-06-05T01:02:03.450000+00:00",
        "2019-06-05T01:02:03.000001+00:00",
        "2019-06-02T23:00:00+00:00",
    ]


async def test_walking_past_datetime_cursors_both_ways_compiles(backend: Backend) -> None:
    """Cursors hold `measured_at` (in the key order, and in an orderBy on it): each page after
    or before one is sought by the compiled statement, and gives today's bytes."""
    for order in (None, NEWEST_FIRST, [{"field": "CITY"}, {"field": "MEASURED_AT"}]):
        seen: list[str] = []
        variables: dict[str, Any] = {"first": 2, "order": order}
        for _ in range(3):  # forwards from the first page
            today, compiled, statements = await both(backend, variables)
            assert (compiled, statements) == (today, 1)
            page = page_of(compiled)
            seen += [e["node"]["measuredAt"] for e in page["edges"]]
            variables = {"first": 2, "order": order, "after": page["pageInfo"]["endCursor"]}
        assert len(set(seen)) == 6, seen  # each page moved on
        variables = {"last": 2, "order": order, "before": page["pageInfo"]["startCursor"]}
        today, compiled, statements = await both(backend, variables)  # and back
        assert (compiled, statements) == (today, 1)
        back = [e["node"]["measuredAt"] for e in page_of(compiled)["edges"]]
        assert back == seen[2:4]


async def test_the_fractions_are_sought_past_exactly(backend: Backend) -> None:
    """After the cursor of the microsecond, the row a microsecond before it comes next: the
    cursor's value is compared as the engine stores it, not as rounded text."""
    _today, first, _n = await both(backend, {"first": 1})
    _today, second, _n = await both(backend, {"first": 1, "order": NEWEST_FIRST})
    newest = page_of(second)["pageInfo"]["endCursor"]
    today, compiled, statements = await both(
        backend, {"first": 2, "order": NEWEST_FIRST, "after": newest}
    )
    assert (compiled, statements) == (today, 1)
    after = [e["node"]["measuredAt"] for e in page_of(compiled)["edges"]]
    assert after == ["2019-06-05T01:02:03.000001+00:00", "2019-06-02T23:00:00+00:00"]
    assert page_of(first)["edges"][0]["node"]["measuredAt"] == "2019-06-01T00:00:00+00:00"


async def test_filters_on_measured_at_compile(backend: Backend) -> None:
    """Ranges given with an offset, or without one (read as UTC), as today's filters read them."""
    for where in (
        {"measuredAt": {"gte": "2019-06-05T03:02:03.000001+02:00"}},
        {"measuredAt": {"gt": "2019-06-05T01:02:03.000001", "lt": "2019-06-06T00:00:00Z"}},
        {"measuredAt": {"in": ["2019-06-01T05:00:00+00:00", "2019-06-05T01:02:03.45Z"]}},
        {"not": {"measuredAt": {"lte": "2019-06-02T22:00:00+00:00"}}},
    ):
        today, compiled, statements = await both(backend, {"where": where, "first": 5})
        assert (compiled, statements) == (today, 1)
        assert page_of(compiled)["totalCount"] > 0


async def test_a_bad_datetime_still_gets_today_s_error(backend: Backend) -> None:
    """A cursor of another ordering, and a filter value that is no datetime: today's errors."""
    _today, compiled, _n = await both(backend, {"first": 1, "order": NEWEST_FIRST})
    cursor = page_of(compiled)["pageInfo"]["endCursor"]
    stale = {"first": 1, "after": cursor, "order": [{"field": "CITY"}]}
    await both_paths_agree(backend, PAGE, stale, ANONYMOUS)
    bad = {"first": 1, "where": {"measuredAt": {"gte": "yesterday"}}}
    await both_paths_agree(backend, PAGE, bad, ANONYMOUS)
