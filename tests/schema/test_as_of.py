"""Asking the past: `asOf` on lists, lookups and aggregates, and cursors that keep their version.

Given the fixture city made its first versions, when the bike stations are re-imported with rows
added, removed and edited, then `asOf` still answers from the first version and plain queries
answer from the new one, on both engines.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from auth.principal import ANONYMOUS
from schema.as_of import CURRENT, observe, record
from schema.city import City
from schema.context import CityContext
from storage.versions import read_versions
from tests.schema.conftest import Backend, bike_stations

STATIONS = """
query ($asOf: String, $after: String, $first: Int) {
  bikeStations(asOf: $asOf, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id name capacity district { code name } }
  }
}
"""
ONE = """query ($id: String!, $asOf: String) { bikeStation(id: $id, asOf: $asOf) { id name } }"""
COUNT = """query ($asOf: String) { bikeStationsAggregate(asOf: $asOf) { count } }"""


def changed_stations(round_: int = 1) -> list[dict[str, Any]]:
    """The fixture stations with S000 edited, S001 removed and a new station added."""
    rows = [dict(r) for r in bike_stations() if r["id"] != "S001"]
    rows[0]["name"] = f"Élysée renamed {round_}"
    rows.append({**rows[1], "id": f"S9{round_:02d}", "name": f"New station {round_}"})
    return rows


async def reimport(city: City, rows: list[dict[str, Any]]) -> None:
    """Replace the bike stations as an importer does: the new version in the same transaction."""
    finish = city.versioning("bikeStations", origin="imported", source="test")
    await city.repository("bikeStations").replace_all(rows, then=finish)


async def versioned(backend: Backend) -> None:
    assert "bikeStations" in await backend.city.version_unversioned()


async def test_the_first_version_describes_the_rows_already_there(backend: Backend) -> None:
    await versioned(backend)
    versions = await read_versions(backend.city.repository("bikeStations").engine, "bikeStations")
    assert [(v.id, v.row_count, v.origin) for v in versions] == [("bikeStations@1", 30, "adopted")]
    assert len(versions[0].content_sha256) == 64
    # personal data keeps no history
    assert "residents" not in await backend.city.version_unversioned()


async def test_as_of_answers_from_the_version_and_without_it_from_the_new_rows(
    backend: Backend,
) -> None:
    await versioned(backend)
    before = await backend.run(STATIONS, {"first": 100})
    await reimport(backend.city, changed_stations())
    pinned = await backend.run(STATIONS, {"first": 100, "asOf": "bikeStations@1"})
    now = await backend.run(STATIONS, {"first": 100})
    assert before["errors"] == pinned["errors"] == now["errors"] == []
    strip = lambda answer: answer["data"]["bikeStations"]["nodes"]  # noqa: E731
    assert strip(pinned) == strip(before)
    assert pinned["data"]["bikeStations"]["totalCount"] == 30
    ids_now = {n["id"] for n in strip(now)}
    assert "S001" not in ids_now
    assert "S901" in ids_now
    assert {n["name"] for n in strip(now) if n["id"] == "S000"} == {"Élysée renamed 1"}

    gone = await backend.run(ONE, {"id": "S001", "asOf": "bikeStations@1"})
    assert gone["data"]["bikeStation"]["id"] == "S001"
    assert (await backend.run(ONE, {"id": "S001"}))["data"]["bikeStation"] is None
    edited = await backend.run(ONE, {"id": "S000", "asOf": "bikeStations@2"})
    assert edited["data"]["bikeStation"]["name"] == "Élysée renamed 1"


async def test_as_of_a_time_reads_the_version_current_then(backend: Backend) -> None:
    await versioned(backend)
    between = datetime.now(UTC)
    await asyncio.sleep(0.01)  # the next version's time must be later than `between`
    await reimport(backend.city, changed_stations())
    await reimport(backend.city, changed_stations(2))
    answer = await backend.run(COUNT, {"asOf": between.isoformat()})
    assert answer == {"data": {"bikeStationsAggregate": [{"count": 30}]}, "errors": []}
    latest = await backend.run(COUNT, {})
    assert latest["data"]["bikeStationsAggregate"] == [{"count": 30}]  # one gone, one new
    assert (await backend.run(ONE, {"id": "S901", "asOf": between.isoformat()}))["data"][
        "bikeStation"
    ] is None


async def test_unknown_versions_and_times_are_refused_clearly(backend: Backend) -> None:
    await versioned(backend)
    cases = {
        "bikeStations@99": "bikeStations@99 is not a version of bikeStations",
        "nowhere@1": "no dataset",
        "yesterday": "neither a version id",
        "2026-01-01T00:00:00": "no time zone",
        (datetime.now(UTC) - timedelta(days=3650)).isoformat(): "had no version at",
    }
    for as_of, message in cases.items():
        answer = await backend.run(STATIONS, {"asOf": as_of})
        assert answer["data"] == {"bikeStations": None}, as_of
        assert [e["code"] for e in answer["errors"]] == ["BAD_USER_INPUT"], as_of
        assert message in answer["errors"][0]["message"], as_of


async def test_a_page_walk_stays_in_its_version_across_a_concurrent_import(
    backend: Backend,
) -> None:
    await versioned(backend)
    first = await backend.run(STATIONS, {"first": 7, "asOf": "bikeStations@1"})
    seen = [n["id"] for n in first["data"]["bikeStations"]["nodes"]]
    cursor = first["data"]["bikeStations"]["pageInfo"]["endCursor"]
    round_ = 0
    while cursor is not None:
        round_ += 1
        await reimport(backend.city, changed_stations(round_))  # an import between two pages
        page = await backend.run(STATIONS, {"first": 7, "after": cursor})  # no asOf: the cursor's
        assert page["errors"] == []
        connection = page["data"]["bikeStations"]
        assert connection["totalCount"] == 30
        seen += [n["id"] for n in connection["nodes"]]
        info = connection["pageInfo"]
        cursor = info["endCursor"] if info["hasNextPage"] else None
    assert seen == sorted(r["id"] for r in bike_stations())
    # a cursor of version 1 and an asOf of another version do not mix
    clash = await backend.run(
        STATIONS,
        {
            "first": 7,
            "after": first["data"]["bikeStations"]["pageInfo"]["endCursor"],
            "asOf": "bikeStations@2",
        },
    )
    assert [e["code"] for e in clash["errors"]] == ["BAD_USER_INPUT"]
    assert "a walk stays in the version it started in" in clash["errors"][0]["message"]


async def test_a_live_walk_has_cursors_without_a_version(backend: Backend) -> None:
    await versioned(backend)
    first = await backend.run(STATIONS, {"first": 7})
    cursor = first["data"]["bikeStations"]["pageInfo"]["endCursor"]
    assert "." not in cursor
    await reimport(backend.city, changed_stations())
    later = await backend.run(STATIONS, {"first": 100, "after": cursor})
    assert "S901" in {n["id"] for n in later["data"]["bikeStations"]["nodes"]}


def noted_context() -> CityContext:
    return CityContext(loaders=None, principal=ANONYMOUS)  # type: ignore[arg-type]


def test_a_compiled_read_notes_the_version_its_statement_saw() -> None:
    """`observe`: the live rows were version 3, read in the same snapshot; nothing to check later."""
    context = noted_context()
    observe(context, "bikeStations", 3)
    observe(context, "bikeStations", 3)
    assert context.versions_read == {"bikeStations": 3}
    assert not context.mixed_versions


def test_two_statements_that_saw_two_versions_are_mixed() -> None:
    context = noted_context()
    observe(context, "bikeStations", 3)
    observe(context, "bikeStations", 4)  # an import landed between two root fields
    assert context.mixed_versions


def test_a_live_read_beside_a_compiled_one_is_checked_after_the_answer() -> None:
    """Today's path read the same dataset live: the answer is checked as live (api.citing),
    and the version the compiled statement saw stays known for that check."""
    context = noted_context()
    observe(context, "bikeStations", 3)
    record(context, "bikeStations", CURRENT)
    assert context.versions_read == {"bikeStations": CURRENT}
    assert context.observed == {"bikeStations": 3}
    assert not context.mixed_versions
    observe(context, "bikeStations", 3)  # and in the other order
    assert context.versions_read == {"bikeStations": CURRENT}
    assert not context.mixed_versions


def test_live_rows_beside_a_version_read_by_as_of_are_mixed_as_today() -> None:
    """Today's path cannot tell that live rows are the version another field read by `asOf`:
    the compiled path notes the pair as it does, in either order and even when they agree."""
    for number in (1, 2):
        context = noted_context()
        record(context, "bikeStations", 1)  # asOf bikeStations@1
        observe(context, "bikeStations", number)
        assert context.mixed_versions
        context = noted_context()
        observe(context, "bikeStations", number)
        record(context, "bikeStations", 1)
        assert context.mixed_versions


def test_a_dataset_without_a_version_yet_is_read_live() -> None:
    """Before its first versioned load a dataset has no version to name: noted as today's path
    notes it, and known to have none (the citation's check finds none either)."""
    context = noted_context()
    observe(context, "bikeStations", None)
    assert context.versions_read == {"bikeStations": CURRENT}
    assert context.observed == {"bikeStations": None}
