"""The committed SDL is the schema the code builds."""

from __future__ import annotations

import difflib

from schema.sdl import COMMITTED, builtin_sdl


def test_committed_sdl_matches_the_code() -> None:
    built = builtin_sdl()
    committed = COMMITTED.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(True), built.splitlines(True), "committed", "built", n=1
        )
    )
    assert diff == "", (
        "schema/schema.graphql is stale; run `uv run python -m schema.sdl > schema/schema.graphql`\n"
        + diff
    )


def test_contract_names_are_in_the_schema() -> None:
    sdl = builtin_sdl()
    for fragment in (
        "  district(\n    code: String!\n",  # and, since 0.3, `asOf` (additive)
        "asOf: String = null\n  ): District",
        "  districts(\n",
        "  bikeStations(\n",
        "where: BikeStationFilter = null",
        "after: String = null",
        "bikeStationsAggregate(\n",
        "datasets: [DatasetInfo!]!",
        "totalCount: Int!",
        "hasNextPage: Boolean!",
        "areaM2: Float!",
        "geometry: GeoJSON!",
        "withinDistrict: String",
        "near: NearInput",
    ):
        assert fragment in sdl, fragment
