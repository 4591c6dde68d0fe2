"""The street-trees example, published and queried like the next start would serve it."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from schema.manifest_reading import load_manifest
from storage.engines import Databases
from tests.publishing.conftest import EXAMPLE, Workspace
from tests.services import engine_url

CSV = EXAMPLE.parent / "trees.csv"


def labels_of(n: int) -> set[str]:
    """Every way the example file writes arrondissement n (checked independently of the parser)."""
    sfx = "er" if n == 1 else "e"
    woods = {12: {"BOIS DE VINCENNES"}, 16: {"BOIS DE BOULOGNE"}}.get(n, set())
    return {
        f"PARIS {n}{sfx.upper()} ARRDT",
        f"{n}{sfx}",
        f"750{n:02d}",
        f"751{n:02d}",
        f"{n}{sfx} Ardt",
        str(n),
    } | woods


def trees() -> list[dict[str, Any]]:
    with CSV.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    return [
        {
            "id": int(r["IDBASE"]),
            "genre": r["GENRE"],
            "hauteur": int(r["HAUTEUR (m)"]),
            "circonference": int(r["CIRCONFERENCE (cm)"]),
            "remarquable": r["REMARQUABLE"] == "Oui",
            "planted": r["DATE PLANTATION"] or None,
            "district": next(
                f"751{n:02d}" for n in range(1, 21) if r["ARRONDISSEMENT"] in labels_of(n)
            ),
        }
        for r in rows
    ]


def test_the_example_is_small_synthetic_and_inside_paris() -> None:
    manifest = load_manifest(EXAMPLE)
    assert manifest.synthetic
    assert manifest.description.startswith("SYNTHETIC")
    with CSV.open(encoding="utf-8-sig", newline="") as f:
        points = [r["geo_point_2d"].split(",") for r in csv.DictReader(f, delimiter=";")]
    assert len(points) == 200
    for lat, lon in points:
        assert 48.815 <= float(lat) <= 48.902
        assert 2.224 <= float(lon) <= 2.470


@pytest.fixture(params=["sqlite", "postgres"])
async def published(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Workspace]:
    """The example published into a fresh city, with three districts, on each engine."""
    url = engine_url(request, tmp_path / "city" / "city.db")
    ws = Workspace(tmp_path, tmp_path / "city", Databases(url))
    await ws.seed_districts()
    report = await ws.publish(EXAMPLE)
    assert report.loaded == {"streetTrees": 200}
    assert report.skipped == []
    yield ws
    await ws.databases.dispose()


PAGE = """
query Page($after: String) {
  streetTrees(first: 7, after: $after,
              where: {genre: {in: ["Platanus", "Quercus", "Aesculus"]}, hauteurM: {gte: 12}},
              orderBy: [{field: HAUTEUR_M, direction: DESC}]) {
    totalCount
    edges { cursor node { id genre hauteurM } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_where_order_and_cursor_pages_walk_every_matching_row(published: Workspace) -> None:
    expected = sorted(
        (
            t
            for t in trees()
            if t["genre"] in {"Platanus", "Quercus", "Aesculus"} and t["hauteur"] >= 12
        ),
        key=lambda t: (-t["hauteur"], t["id"]),
    )
    assert len(expected) > 14  # at least three pages, or the walk proves little
    seen: list[int] = []
    after = None
    while True:
        result = await published.query(PAGE, variables={"after": after})
        assert result["errors"] == []
        page = result["data"]["streetTrees"]
        assert page["totalCount"] == len(expected)
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [t["id"] for t in expected]


AGGREGATE = """
{ streetTreesAggregate(groupBy: [GENRE], where: {remarquable: {eq: false}}) {
    key { genre } count sum { hauteurM circonferenceCm } max { hauteurM } } }
"""


async def test_aggregate_groups_by_genre(published: Workspace) -> None:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in trees():
        if not t["remarquable"]:
            groups[t["genre"]].append(t)
    result = await published.query(AGGREGATE)
    assert result["errors"] == []
    got = {g["key"]["genre"]: g for g in result["data"]["streetTreesAggregate"]}
    assert set(got) == set(groups)
    for genre, rows in groups.items():
        assert got[genre]["count"] == len(rows)
        assert got[genre]["sum"] == {
            "hauteurM": sum(r["hauteur"] for r in rows),
            "circonferenceCm": sum(r["circonference"] for r in rows),
        }
        assert got[genre]["max"]["hauteurM"] == max(r["hauteur"] for r in rows)


DISTRICT_LINK = """
{ districts { nodes { code streetTrees(first: 100) { totalCount nodes { id district { code } } } } }
  streetTrees(where: {withinDistrict: "75112"}) { totalCount }
  unplanted: streetTrees(where: {datePlantation: {isNull: true}}) { totalCount }
  streetTree(id: %d) { id remarquable districtCode district { name } } }
"""


async def test_labels_become_district_codes_and_districts_list_their_trees(
    published: Workspace,
) -> None:
    rows = trees()
    in_13 = next(t for t in rows if t["district"] == "75113")
    result = await published.query(DISTRICT_LINK % in_13["id"])
    assert result["errors"] == []
    data = result["data"]
    by_code = {d["code"]: d["streetTrees"] for d in data["districts"]["nodes"]}
    for code, connection in by_code.items():
        assert connection["totalCount"] == sum(t["district"] == code for t in rows)
        assert {n["district"]["code"] for n in connection["nodes"]} <= {code}
    assert by_code["75113"]["totalCount"] > 0
    # the woods count with the 12th; the file writes the 12th in six styles
    assert data["streetTrees"]["totalCount"] == sum(t["district"] == "75112" for t in rows)
    assert data["unplanted"]["totalCount"] == sum(t["planted"] is None for t in rows)
    assert data["streetTree"] == {
        "id": in_13["id"],
        "remarquable": in_13["remarquable"],
        "districtCode": "75113",
        "district": {"name": "Gobelins"},
    }


async def test_the_catalog_describes_the_dataset(published: Workspace) -> None:
    result = await published.query(
        '{ dataset(name: "streetTrees") { title department license synthetic temporalStart '
        "fields { name type access } } }"
    )
    entry = result["data"]["dataset"]
    assert entry["synthetic"] is True
    assert entry["department"] == "environment"
    assert entry["temporalStart"] == "1890-01-01"
    assert entry["title"] == "Street trees (synthetic sample)"
    assert {"name": "datePlantation", "type": "Date", "access": "public"} in entry["fields"]
    assert {"name": "remarquable", "type": "Boolean", "access": "public"} in entry["fields"]


async def test_the_stored_manifest_points_at_the_file_it_loaded(workspace: Workspace) -> None:
    await workspace.publish(EXAMPLE)
    stored = json.loads((workspace.data_dir / "published" / "streetTrees.json").read_text())
    assert stored["csv"]["file"] == str(CSV.resolve())
    assert stored["published"]["sha256"] == hashlib.sha256(CSV.read_bytes()).hexdigest()
    assert stored["published"]["rows"] == 200
    assert stored["published"]["manifest"] == str(EXAMPLE)
    assert [c["name"] for c in stored["columns"]][-2:] == ["latitude", "longitude"]
