"""Relations and lists nested at any depth compile into the root field's one statement.

Given the fixture city (one air-quality station, in the Temple; every fourth bike station
outside the city), when a root field nests lists and relations two or more levels deep, then the
compiled path answers it in one statement with the bytes today's path answers, and notes the
datasets today's resolvers note: a dataset beneath a level only when that level gave rows (a
relation: a row found; a list: a row on its page) and the field ran for one of them.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from auth.principal import ANONYMOUS
from schema.context import CityContext
from storage.engines import StatementCounter
from tests.schema.conftest import GATEWAY, Backend
from tests.schema.test_compiled_differential import TIERS, answer, both_paths_agree, noted_reads

LISTS = """
query Lists($code: String, $first: Int) {
  districts(where: {code: {eq: $code}}) {
    nodes {
      code
      airQualityStations(first: $first) {
        totalCount
        nodes { id measurements(first: 2) { nodes { stationId parameter unit } } }
      }
    }
  }
}
"""

RELATIONS = """
query Relations($id: String!) {
  bikeStation(id: $id) {
    id
    district {
      name
      airQualityStations {
        edges { node { id measurements(first: 1) { nodes { unit } } } }
      }
    }
  }
}
"""

ALL = {"districts", "airQualityStations", "airQualityMeasurements"}

CASES = [
    # every level gives rows: every dataset is read
    (LISTS, {"first": 5}, ALL),
    # the middle level is an empty page: the measurements are never asked for
    (LISTS, {"first": 0}, {"districts", "airQualityStations"}),
    # the Louvre has no air-quality station: its list runs, and finds nothing to go deeper
    (LISTS, {"code": "75101"}, {"districts", "airQualityStations"}),
    # no district at all: nothing beneath the root runs
    (LISTS, {"code": "75199"}, {"districts"}),
    # a station in the Temple: three levels down
    (RELATIONS, {"id": "S002"}, {"bikeStations", *ALL}),
    # in the Louvre: its district's stations run and find none
    (RELATIONS, {"id": "S000"}, {"bikeStations", "districts", "airQualityStations"}),
    # outside the city: the relation finds no row, and nothing under it runs
    (RELATIONS, {"id": "S003"}, {"bikeStations"}),
]


async def run(
    backend: Backend, query: str, variables: dict[str, Any], *, compiled: bool
) -> tuple[bytes, CityContext, int]:
    """The answer's bytes as the view writes them, the context, and how many statements ran."""
    context = CityContext(loaders=backend.city.loaders(), principal=ANONYMOUS, compiled=compiled)
    with StatementCounter(iter(list(backend.city.databases.engines()))) as counted:
        result = await GATEWAY.execute(query, variable_values=variables, context_value=context)
    assert not result.errors, result.errors
    assert result.data is not None
    if compiled:
        assert all(isinstance(v, orjson.Fragment) for v in result.data.values()), result.data
    return orjson.dumps(result.data), context, len(counted.statements)


@pytest.mark.parametrize(("query", "variables", "read"), CASES)
async def test_nesting_at_any_depth_compiles_into_one_statement(
    backend: Backend, query: str, variables: dict[str, Any], read: set[str]
) -> None:
    today, today_context, _ = await run(backend, query, variables, compiled=False)
    answer, context, statements = await run(backend, query, variables, compiled=True)
    assert statements == 1
    assert answer == today
    assert context.datasets_read == today_context.datasets_read == read
    assert noted_reads(context) == noted_reads(today_context)
    await both_paths_agree(backend, query, variables, ANONYMOUS)


DEEP = """
query Deep($id: String!) {
  bikeStation(id: $id) {
    district {
      airQualityStations {
        edges { node { measurements(first: 1) { nodes { unit station { id district { name } } } } } }
      }
    }
  }
}
"""


async def test_nesting_deeper_than_sqlite_parses_is_left_to_today_s_path_there(
    backend: Backend,
) -> None:
    """Six levels: PostgreSQL compiles them; SQLite's parser stack cannot hold the statement
    (storage.compiled.dialect), so the field goes to today's path without sending it."""
    variables = {"id": "S002"}
    today, today_context, sent_today = await run(backend, DEEP, variables, compiled=False)
    if backend.name == "postgres":
        answer, context, statements = await run(backend, DEEP, variables, compiled=True)
        assert statements == 1
        assert answer == today
        assert context.datasets_read == today_context.datasets_read
    else:
        context = CityContext(loaders=backend.city.loaders(), principal=ANONYMOUS, compiled=True)
        with StatementCounter(iter(list(backend.city.databases.engines()))) as counted:
            result = await GATEWAY.execute(DEEP, variable_values=variables, context_value=context)
        assert not isinstance((result.data or {}).get("bikeStation"), orjson.Fragment)
        assert len(counted.statements) == sent_today  # no statement tried and failed
        assert orjson.dumps(result.data) == today
    assert today_context.datasets_read == {"bikeStations", *ALL}
    await both_paths_agree(backend, DEEP, variables, ANONYMOUS)


PERMITS = """
query Permits($first: Int) {
  districts(first: $first) {
    nodes { code buildingPermits(where: {applicantName: {eq: "SCI Rivoli"}}) { totalCount } }
  }
}
"""


@pytest.mark.parametrize("first", [0, 3])
async def test_a_nested_list_filtered_on_a_restricted_column_notes_it_only_when_it_runs(
    backend: Backend, first: int
) -> None:
    """Today's resolver checks a nested list's `where` when it runs, for some parent row: the
    restricted read is noted then, and not under an empty page. The compiled path cannot say
    whether it ran, so it leaves such a list to today's path."""
    staff = TIERS["staff_purpose"]
    today = await answer(backend, PERMITS, {"first": first}, staff, compiled=False)
    assert today["restricted"] is (first > 0)
    await both_paths_agree(backend, PERMITS, {"first": first}, staff)
