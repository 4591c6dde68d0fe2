"""Publishing again replaces the rows; a changed column set recreates the table and says so."""

from __future__ import annotations

import json

from tests.publishing.conftest import BENCHES_CSV, Workspace, manifest_data

COUNT = "{ benches { totalCount } }"


async def test_publishing_twice_gives_the_same_rows(workspace: Workspace) -> None:
    path = workspace.write(manifest_data(), BENCHES_CSV)
    first = await workspace.publish(path)
    second = await workspace.publish(path)
    assert first.loaded == second.loaded == {"benches": 5}
    assert "replaced the 5 rows published before" in second.notes
    assert not any("recreated" in n for n in second.notes)
    result = await workspace.query(COUNT)
    assert result["data"]["benches"]["totalCount"] == 5


async def test_a_changed_file_replaces_the_rows(workspace: Workspace) -> None:
    path = workspace.write(manifest_data(), BENCHES_CSV)
    await workspace.publish(path)
    before = json.loads((workspace.data_dir / "published" / "benches.json").read_text())
    fewer = "\n".join(BENCHES_CSV.splitlines()[:3]) + "\n"
    (workspace.root / "benches.csv").write_text(fewer, encoding="utf-8")
    report = await workspace.publish(path)
    assert report.loaded == {"benches": 2}
    after = json.loads((workspace.data_dir / "published" / "benches.json").read_text())
    assert after["published"]["sha256"] != before["published"]["sha256"]
    assert after["published"]["rows"] == 2
    result = await workspace.query("{ benches { nodes { id } } }")
    assert result["data"]["benches"]["nodes"] == [{"id": "B1"}, {"id": "B2"}]


async def test_an_added_column_recreates_the_table(workspace: Workspace) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    data = manifest_data()
    data["columns"].append(
        {"header": "COLOUR", "name": "colour", "type": "string", "description": "Paint."}
    )
    rows = BENCHES_CSV.splitlines()
    csv_text = "\n".join([rows[0] + ";COLOUR"] + [r + ";green" for r in rows[1:]]) + "\n"
    report = await workspace.publish(workspace.write(data, csv_text))
    assert (
        "table published_benches dropped and recreated: added colour; its old rows are gone, "
        "and so are its earlier versions" in report.notes
    )
    result = await workspace.query('{ benches(where: {colour: {eq: "green"}}) { totalCount } }')
    assert result["errors"] == []
    assert result["data"]["benches"]["totalCount"] == 5


async def test_a_changed_type_recreates_the_table(workspace: Workspace) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    data = manifest_data()
    data["columns"][2]["type"] = "float"
    report = await workspace.publish(workspace.write(data, BENCHES_CSV))
    assert (
        "table published_benches dropped and recreated: changed seats; its old rows are gone, "
        "and so are its earlier versions" in report.notes
    )
    result = await workspace.query('{ bench(id: "B1") { seats } }')
    assert result["data"]["bench"] == {"seats": 3.0}


async def test_a_table_without_its_stored_manifest_is_recreated(workspace: Workspace) -> None:
    path = workspace.write(manifest_data(), BENCHES_CSV)
    await workspace.publish(path)
    (workspace.data_dir / "published" / "benches.json").unlink()
    report = await workspace.publish(path)
    assert any("no stored manifest describes the existing table" in n for n in report.notes)
    assert report.loaded == {"benches": 5}


async def test_a_new_department_is_noted(workspace: Workspace) -> None:
    report = await workspace.publish(
        workspace.write(manifest_data(department="parks"), BENCHES_CSV)
    )
    assert (
        "department 'parks' is new: its table is in the default database unless "
        "CITYGRAPH_DATABASE_URLS names the department"
    ) in report.notes
    result = await workspace.query(
        '{ dataset(name: "benches") { department } benches { totalCount } }'
    )
    assert result["data"] == {"dataset": {"department": "parks"}, "benches": {"totalCount": 5}}
