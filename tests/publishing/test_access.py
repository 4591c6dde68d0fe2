"""Access marks of a manifest: restricted columns and datasets are closed like built-in ones."""

from __future__ import annotations

from auth.principal import Principal, Tier
from auth.scopes import Scope
from tests.publishing.conftest import BENCHES_CSV, Workspace, manifest_data

APP = Principal(tier=Tier.APP, client_id="app", scopes=frozenset({Scope.OPEN_DATA}))
NODES = '{ bench(id: "B1") { id kind seats } }'


async def publish_with_restricted_seats(workspace: Workspace) -> None:
    data = manifest_data()
    data["columns"][2]["access"] = "urbanism:read"
    await workspace.publish(workspace.write(data, BENCHES_CSV))


async def test_a_restricted_column_is_null_with_unauthenticated_for_anonymous(
    workspace: Workspace,
) -> None:
    await publish_with_restricted_seats(workspace)
    result = await workspace.query(NODES)
    assert result["data"]["bench"] == {"id": "B1", "kind": "wood", "seats": None}
    assert [(e["code"], e["path"]) for e in result["errors"]] == [
        ("UNAUTHENTICATED", ["bench", "seats"])
    ]


async def test_a_restricted_column_is_forbidden_to_an_app_without_the_scope(
    workspace: Workspace,
) -> None:
    await publish_with_restricted_seats(workspace)
    result = await workspace.query(NODES, principal=APP)
    assert result["data"]["bench"]["seats"] is None
    assert [e["code"] for e in result["errors"]] == ["FORBIDDEN"]


async def test_filtering_or_grouping_by_a_restricted_column_is_refused(
    workspace: Workspace,
) -> None:
    await publish_with_restricted_seats(workspace)
    filtered = await workspace.query("{ benches(where: {seats: {gte: 3}}) { totalCount } }")
    assert [e["code"] for e in filtered["errors"]] == ["UNAUTHENTICATED"]
    grouped = await workspace.query("{ benchesAggregate(groupBy: [SEATS]) { count } }")
    assert [e["code"] for e in grouped["errors"]] == ["UNAUTHENTICATED"]


async def test_a_measure_over_a_restricted_column_is_null_and_the_count_still_comes(
    workspace: Workspace,
) -> None:
    await publish_with_restricted_seats(workspace)
    measured = await workspace.query("{ benchesAggregate { count sum { seats } } }")
    assert [e["code"] for e in measured["errors"]] == ["UNAUTHENTICATED"]
    assert measured["data"]["benchesAggregate"] == [{"count": 5, "sum": {"seats": None}}]


async def test_the_catalog_shows_the_access_mark(workspace: Workspace) -> None:
    await publish_with_restricted_seats(workspace)
    result = await workspace.query('{ dataset(name: "benches") { fields { name access } } }')
    assert {"name": "seats", "access": "urbanism:read"} in result["data"]["dataset"]["fields"]


async def test_a_restricted_dataset_is_closed_as_a_whole(workspace: Workspace) -> None:
    await workspace.publish(workspace.write(manifest_data(access="urbanism:read"), BENCHES_CSV))
    result = await workspace.query("{ benches { totalCount } }")
    assert result["data"] == {"benches": None}
    assert [e["code"] for e in result["errors"]] == ["UNAUTHENTICATED"]
