"""load_catalog: built-ins plus published datasets; a broken stored manifest stops the boot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from api.app import create_app
from api.settings import Settings
from schema.city import City, builtin_specs
from schema.departments.territory.models import District
from schema.manifest import ManifestError
from schema.publication_check import PublishedTableError, check_published_tables
from schema.publishing import load_catalog
from storage.engines import Databases
from tests.publishing.conftest import BENCHES_CSV, Workspace, manifest_data


def stored(workspace: Workspace) -> Path:
    return workspace.data_dir / "published" / "benches.json"


def test_without_published_datasets_the_catalog_is_the_built_ins(tmp_path: Path) -> None:
    assert [s.name for s in load_catalog(tmp_path).datasets] == [s.name for s in builtin_specs()]


async def test_a_published_dataset_joins_the_catalog_like_a_built_in(workspace: Workspace) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    catalog = load_catalog(workspace.data_dir)
    spec = catalog.by_name("benches")
    assert spec.published
    assert spec.model is None
    assert spec.table.name == "published_benches"
    assert [c.name for c in spec.columns] == [
        "id",
        "kind",
        "seats",
        "installed",
        "lat",
        "lon",
        "district_code",
    ]
    # the same info keys as schema.modeling.column writes on the built-in models
    builtin_info = District.__table__.c.code.info  # type: ignore[attr-defined]
    assert all(set(c.info) == set(builtin_info) for c in spec.table.columns)
    assert spec.table.c.district_code.info["references"] == "district.code"
    assert spec.column("district_code").relation == "district"
    assert (spec, spec.column("district_code")) in catalog.by_name("districts").referenced_by


async def test_a_fresh_database_gets_an_empty_table_for_a_publication_outside_production(
    workspace: Workspace, tmp_path: Path
) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    city = City(
        load_catalog(workspace.data_dir), Databases(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    )
    try:
        with pytest.raises(PublishedTableError, match=r"benches: its table .* is missing"):
            await check_published_tables(city, create_missing=False)  # production
        assert await check_published_tables(city, create_missing=True) == ["benches"]
        assert (await city.repository("benches").count(None)) == 0
        assert await check_published_tables(city, create_missing=False) == []
    finally:
        await city.close()


async def test_a_published_table_that_its_manifest_does_not_describe_is_refused_untouched(
    workspace: Workspace,
) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    city = City(load_catalog(workspace.data_dir), workspace.databases)
    table = city.catalog.by_name("benches").table.name
    rows = await city.repository("benches").count(None)
    assert rows > 0
    async with workspace.databases.engine_for("facilities").begin() as conn:
        await conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN painted TEXT")
    with pytest.raises(PublishedTableError, match="column painted not in the manifest"):
        await check_published_tables(city, create_missing=True)
    assert (await city.repository("benches").count(None)) == rows  # nothing dropped or emptied


def break_and_expect(workspace: Workspace, content: str, *problems: str) -> None:
    stored(workspace).write_text(content, encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        load_catalog(workspace.data_dir)
    message = str(caught.value)
    assert message.startswith(
        f"published manifest {stored(workspace)} is broken; citygraph cannot start with it."
    )
    for problem in problems:
        assert problem in message


async def test_unreadable_json_stops_the_boot(workspace: Workspace) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    break_and_expect(workspace, '{"version": 1, "dataset": ', "not readable JSON")


async def test_an_invalid_stored_manifest_stops_the_boot(workspace: Workspace) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    data = json.loads(stored(workspace).read_text())
    data["columns"][2]["type"] = "int64"
    del data["published"]["sha256"]
    break_and_expect(
        workspace,
        json.dumps(data),
        "columns[2].type: unknown type 'int64'",
        "published.sha256: missing",
    )


async def test_a_stored_manifest_that_clashes_stops_the_boot(workspace: Workspace) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    data = json.loads(stored(workspace).read_text())
    data["dataset"]["singular"] = "district"
    break_and_expect(
        workspace, json.dumps(data), "dataset.singular: the root field 'district' already belongs"
    )


async def test_a_renamed_stored_manifest_stops_the_boot(workspace: Workspace) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    copy = workspace.data_dir / "published" / "seats.json"
    shutil.copy(stored(workspace), copy)
    with pytest.raises(
        ManifestError, match=r"seats\.json is broken(.|\n)*'benches' differs from the file name"
    ):
        load_catalog(workspace.data_dir)


async def test_the_app_does_not_start_with_a_broken_manifest(workspace: Workspace) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    stored(workspace).write_text("[]", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"benches\.json is broken"):
        create_app(Settings(data_dir=workspace.data_dir))


async def test_publishing_again_repairs_a_broken_stored_manifest(workspace: Workspace) -> None:
    path = workspace.write(manifest_data(), BENCHES_CSV)
    await workspace.publish(path)
    stored(workspace).write_text("garbage", encoding="utf-8")
    report = await workspace.publish(path)
    assert any("was broken; publishing replaces it" in n for n in report.notes)
    assert load_catalog(workspace.data_dir).by_name("benches").published


async def test_another_broken_manifest_does_not_block_publishing_but_is_reported(
    workspace: Workspace,
) -> None:
    (workspace.data_dir / "published").mkdir(parents=True)
    (workspace.data_dir / "published" / "trees.json").write_text("{}", encoding="utf-8")
    report = await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    assert report.loaded == {"benches": 5}
    assert any(
        "trees.json is broken" in n and "the server will not start until it is fixed" in n
        for n in report.notes
    )
