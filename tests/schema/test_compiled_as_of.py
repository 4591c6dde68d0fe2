"""Differential, with history: `asOf`, versioned cursors and pinned runs on both paths.

Given the fixture city with a history (every public dataset's first version, then the bike
stations re-imported twice and the districts once, with rows added, removed and edited), when
generated operations read it with `asOf` (version ids and times, good and bad), after cursors
that carry a version, or in a citation's run pinned to versions, then the compiled path and
today's path give the same data, errors, access facts and notes of the versions read
(tests/schema/test_compiled_differential.py compares them), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth.principal import ANONYMOUS
from schema.as_of import Snapshot
from schema.context import CityContext
from storage.engines import StatementCounter
from storage.paging import encode_cursor
from tests.schema.conftest import DISTRICTS, GATEWAY, Backend
from tests.schema.test_as_of import changed_stations, reimport
from tests.schema.test_compiled_differential import (
    AS_OF_TIMES,
    PROFILE,
    TIERS,
    answer,
    both_paths_agree,
    noted_reads,
    operations,
)

PUBLIC = ["bikeStations", "districts", "quartiers", "buildingPermits"]


@dataclass
class History:
    backend: Backend
    times: dict[str, str]
    """Each placeholder of AS_OF_TIMES, as an ISO 8601 time of this history."""

    def variables(self, variables: dict[str, Any]) -> dict[str, Any]:
        return {k: self.times.get(v, v) if isinstance(v, str) else v for k, v in variables.items()}


def changed_districts() -> list[dict[str, Any]]:
    """The districts with the Louvre renamed, the Temple gone and a fourth one new."""
    rows = [dict(d) for d in DISTRICTS if d["code"] != "75103"]
    rows[0]["name"] = "Louvre (renamed)"
    rows.append({**DISTRICTS[2], "code": "75104", "number": 4, "name": "Hôtel-de-Ville"})
    return rows


async def pause() -> datetime:
    """A time strictly between the version before and the version after."""
    await asyncio.sleep(0.01)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.01)
    return moment


@pytest.fixture
async def history(backend: Backend) -> History:
    """bikeStations@1..3, districts@1..2, quartiers@1 (and the other public datasets' @1)."""
    city = backend.city
    before = datetime.now(UTC) - timedelta(days=1)
    assert "bikeStations" in await city.version_unversioned()
    t1 = await pause()
    await reimport(city, changed_stations(1))
    finish = city.versioning("districts", origin="imported", source="test")
    await city.repository("districts").replace_all(changed_districts(), then=finish)
    t2 = await pause()
    await reimport(city, changed_stations(2))
    now = await pause()
    moments = [before, t1, t2, now]
    return History(backend, {p: m.isoformat() for p, m in zip(AS_OF_TIMES, moments, strict=True)})


@PROFILE
@given(
    case=operations(PUBLIC, versions=True),
    tier=st.sampled_from(["anonymous", "app"]),
)
async def test_public_operations_read_as_of_agree(
    history: History, case: tuple[str, dict[str, Any]], tier: str
) -> None:
    query, variables = case
    await both_paths_agree(history.backend, query, history.variables(variables), TIERS[tier])


@PROFILE
@given(case=operations(versions=True), tier=st.sampled_from(sorted(TIERS)))
async def test_every_dataset_and_tier_read_as_of_agrees(
    history: History, case: tuple[str, dict[str, Any]], tier: str
) -> None:
    query, variables = case
    await both_paths_agree(history.backend, query, history.variables(variables), TIERS[tier])


PINS = [
    {"bikeStations": 3, "districts": 2, "quartiers": 1},
    {"bikeStations": 1, "districts": 1, "quartiers": 1},
    {"bikeStations": 2, "districts": 1, "quartiers": 1},
    {"bikeStations": 2},  # the others have no pin: today's path refuses them
    {"bikeStations": 7, "districts": 2, "quartiers": 1},  # no such version: no rows
]


@PROFILE
@given(
    case=operations(PUBLIC, versions=True),
    pins=st.sampled_from(PINS),
    tier=st.sampled_from(["anonymous", "app", "staff_purpose"]),
)
async def test_pinned_runs_agree(
    history: History, case: tuple[str, dict[str, Any]], pins: dict[str, int], tier: str
) -> None:
    """A citation's re-run (api.citing, /cite/{id}): every dataset at its pin, `asOf` unread."""
    query, variables = case
    await both_paths_agree(
        history.backend, query, history.variables(variables), TIERS[tier], pins=pins
    )


STATIONS = """
query ($asOf: String, $after: String, $first: Int) {
  bikeStations(asOf: $asOf, after: $after, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name district { code name } } }
  }
}
"""


async def compiled(
    history: History, query: str, variables: dict[str, Any], *, pins: dict[str, int] | None = None
) -> tuple[Any, CityContext]:
    """The compiled path's answer and context; every root field must have taken it."""
    context = CityContext(
        loaders=history.backend.city.loaders(), principal=ANONYMOUS, compiled=True
    )
    if pins is not None:
        context.pins = Snapshot(pinned=pins)
    result = await GATEWAY.execute(query, variable_values=variables, context_value=context)
    assert not result.errors, result.errors
    assert result.data is not None
    assert all(isinstance(v, orjson.Fragment) for v in result.data.values()), result.data
    return orjson.loads(orjson.dumps(result.data)), context


async def test_a_version_id_compiles_and_reads_beneath_at_that_time(history: History) -> None:
    data, context = await compiled(history, STATIONS, {"asOf": "bikeStations@1", "first": 30})
    page = data["bikeStations"]
    assert page["totalCount"] == 30
    assert [e["node"]["id"] for e in page["edges"]][:2] == ["S000", "S001"]  # S001: gone since
    assert all(e["cursor"].endswith(".1") for e in page["edges"])
    names = {e["node"]["district"]["name"] for e in page["edges"] if e["node"]["district"]}
    assert names == {"Louvre", "Bourse", "Temple"}  # districts@1: current at bikeStations@1
    assert context.versions_read == {"bikeStations": 1, "districts": 1}
    assert context.as_of["bikeStations"].pinned == {"bikeStations": 1, "districts": 1}
    await both_paths_agree(history.backend, STATIONS, {"asOf": "bikeStations@1"}, ANONYMOUS)


async def test_a_time_compiles_and_reads_every_dataset_as_it_was(history: History) -> None:
    variables = {"asOf": history.times["<t2>"], "first": 40}
    data, context = await compiled(history, STATIONS, variables)
    nodes = [e["node"] for e in data["bikeStations"]["edges"]]
    assert "S901" in {n["id"] for n in nodes}  # bikeStations@2
    assert "S902" not in {n["id"] for n in nodes}
    assert {n["district"]["name"] for n in nodes if n["district"]} == {
        "Louvre (renamed)",
        "Bourse",
    }  # districts@2: the Temple was gone
    assert context.versions_read == {"bikeStations": 2, "districts": 2}
    assert all(e["cursor"].endswith(".2") for e in data["bikeStations"]["edges"])
    await both_paths_agree(history.backend, STATIONS, variables, ANONYMOUS)


async def test_a_walk_after_a_versioned_cursor_compiles_and_stays_in_its_version(
    history: History,
) -> None:
    data, _context = await compiled(history, STATIONS, {"asOf": "bikeStations@1", "first": 7})
    seen = [e["node"]["id"] for e in data["bikeStations"]["edges"]]
    cursor = data["bikeStations"]["pageInfo"]["endCursor"]
    while cursor is not None:
        variables = {"after": cursor, "first": 7}  # no asOf: the cursor's version
        page, context = await compiled(history, STATIONS, variables)
        await both_paths_agree(history.backend, STATIONS, variables, ANONYMOUS)
        assert noted_reads(context) == {"bikeStations": 1, "districts": 0}  # districts: live
        assert page["bikeStations"]["totalCount"] == 30
        seen += [e["node"]["id"] for e in page["bikeStations"]["edges"]]
        info = page["bikeStations"]["pageInfo"]
        cursor = info["endCursor"] if info["hasNextPage"] else None
    assert seen == [f"S{i:03d}" for i in range(30)]


async def test_a_pinned_run_compiles_and_its_cursors_name_no_version(history: History) -> None:
    pins = {"bikeStations": 2, "districts": 1}
    data, context = await compiled(history, STATIONS, {"first": 40}, pins=pins)
    ids = {e["node"]["id"] for e in data["bikeStations"]["edges"]}
    assert "S901" in ids
    assert "S001" not in ids
    assert not any("." in e["cursor"] for e in data["bikeStations"]["edges"])
    assert context.versions_read == {"bikeStations": 2, "districts": 1}
    assert context.as_of == {}
    await both_paths_agree(history.backend, STATIONS, {"first": 40}, ANONYMOUS, pins=pins)


@pytest.mark.parametrize(
    "as_of",
    ["bikeStations@9", "nowhere@1", "residents@1", "<before>", "yesterday", "2026-01-01T00:00:00"],
)
async def test_what_today_s_path_refuses_is_handed_to_it(history: History, as_of: str) -> None:
    variables = history.variables({"asOf": as_of})
    result = await answer(history.backend, STATIONS, variables, ANONYMOUS, compiled=True)
    assert result["data"] == {"bikeStations": None}
    assert [e["code"] for e in result["errors"]] == ["BAD_USER_INPUT"]
    await both_paths_agree(history.backend, STATIONS, variables, ANONYMOUS)


async def test_a_cursor_of_another_version_than_as_of_is_handed_back(history: History) -> None:
    variables = {"asOf": "bikeStations@2", "after": encode_cursor(["S003"]) + ".1"}
    result = await answer(history.backend, STATIONS, variables, ANONYMOUS, compiled=True)
    assert "a walk stays in the version it started in" in result["errors"][0]["message"]
    await both_paths_agree(history.backend, STATIONS, variables, ANONYMOUS)


NESTED = """
query ($asOf: String, $first: Int) {
  bikeStations(first: $first, asOf: $asOf) { edges { cursor node { id district { name } } } }
  districts(asOf: $asOf) { totalCount nodes { code bikeStations(first: 2) { totalCount nodes { id } } } }
  district(code: "75101", asOf: $asOf) { name quartiers { nodes { code } } }
  bikeStationsAggregate(asOf: $asOf, groupBy: [DISTRICT_CODE]) { count }
}
"""


@pytest.mark.parametrize("as_of", ["bikeStations@2", "<t1>"])
async def test_an_as_of_root_field_costs_one_statement_more(history: History, as_of: str) -> None:
    """The versions an `asOf` reads are resolved by one statement, then the field's own runs:
    two per root field, nested relations and lists included; a pinned run and a versioned
    cursor know their versions and cost one."""
    variables = history.variables({"asOf": as_of, "first": 5})
    engines = list(history.backend.city.databases.engines())
    with StatementCounter(iter(engines)) as counted:
        data, _context = await compiled(history, NESTED, variables)
    assert len(counted.statements) == 2 * 4
    assert sum(g["count"] for g in data["bikeStationsAggregate"]) == 30
    await both_paths_agree(history.backend, NESTED, variables, ANONYMOUS)

    pins = {"bikeStations": 2, "districts": 2, "quartiers": 1}
    with StatementCounter(iter(engines)) as counted:
        await compiled(history, NESTED, variables, pins=pins)
    assert len(counted.statements) == 4
    await both_paths_agree(history.backend, NESTED, variables, ANONYMOUS, pins=pins)

    after = {"after": encode_cursor(["S004"]) + ".1", "first": 5}
    with StatementCounter(iter(engines)) as counted:
        await compiled(history, STATIONS, after)
    assert len(counted.statements) == 1
