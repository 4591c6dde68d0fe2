"""Publishing a dataset: a manifest and its CSV become a table and a dataset of the schema.

`publish` validates a manifest (schema.manifest_reading) and its names (schema.manifest_names),
loads its CSV (schema.csv_rows) into the table `published_<name>` of the department's database
(schema.published_tables) and keeps a normalised copy of the manifest under
`<data_dir>/published/<name>.json` (schema.published_store), which `load_catalog` reads at
start-up. One transaction: a publication that fails leaves the previous one as it was.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from graphql import GraphQLObjectType
from rich.progress import Progress
from sqlalchemy import Table, inspect, select
from sqlalchemy.engine import Connection

from schema.cells import district_code
from schema.city import builtin_specs
from schema.csv_rows import CsvRows, digest, read_header
from schema.datasets import Catalog, DatasetSpec, spec_of_table
from schema.gateway import build_gateway_schema
from schema.ingest import ImportReport
from schema.ingest.geo import DistrictLocator
from schema.manifest import LOCATED_DISTRICT, Manifest, ManifestError, Problem, Publication
from schema.manifest_names import catalog_problems
from schema.manifest_reading import load_manifest
from schema.placement import Placement
from schema.published_store import (
    load_catalog,
    published_dir,
    read_stored,
    stored_paths,
    write_stored,
)
from schema.published_tables import build_table, signature, spec_of_manifest
from storage.engines import Databases
from storage.loads import record_loads
from storage.versions import commit_version, forget_versions, history_table

__all__ = ["PublishError", "district_code", "load_catalog", "publish", "spec_of_manifest"]


class PublishError(ValueError):
    """A publication that changed nothing, with the report of why (every row was skipped)."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


# districts from coordinates -----------------------------------------------------------------


async def _district_locator(databases: Databases) -> DistrictLocator:
    """A locator over the District rows' boundaries; empty when none are loaded yet."""
    # DistrictLocator.load wants a City and a district table that exists; a city that has never
    # imported its districts has neither, and publishing must still work there.
    territory = next(s for s in builtin_specs() if s.table.name == "district")
    table = territory.table
    async with databases.engine_for(territory.department).connect() as conn:
        if not await conn.run_sync(lambda sync: inspect(sync).has_table(table.name)):
            return DistrictLocator.from_geojson({})
        rows = (await conn.execute(select(table.c.code, table.c.geometry))).all()
    return DistrictLocator.from_geojson(
        {str(code): str(geometry) for code, geometry in rows if geometry}
    )


def _existing_columns(sync: Connection, table: str) -> list[str] | None:
    insp = inspect(sync)
    return [c["name"] for c in insp.get_columns(table)] if insp.has_table(table) else None


def _column_changes(
    before: Manifest | None, after: Manifest, existing: list[str], table: Table
) -> str | None:
    """Why the existing table no longer fits the manifest, or None when it does."""
    names = [c.name for c in table.columns]
    if existing != names:
        added = [n for n in names if n not in existing]
        removed = [n for n in existing if n not in names]
        parts = [
            f"added {', '.join(added)}" if added else "",
            f"removed {', '.join(removed)}" if removed else "",
        ]
        return "; ".join(p for p in parts if p) or "columns reordered"
    if before is None:
        return "no stored manifest describes the existing table"
    if signature(before) != signature(after):
        old = {c.name: (c.type, c.nullable, c.primary_key) for c in before.columns}
        changed = [
            c.name for c in after.columns if old.get(c.name) != (c.type, c.nullable, c.primary_key)
        ]
        return f"changed {', '.join(changed) or 'the district link'}"
    return None


def _previous(data_dir: Path, name: str, report: ImportReport) -> Manifest | None:
    path = published_dir(data_dir) / f"{name}.json"
    if not path.exists():
        return None
    try:
        return read_stored(path)
    except ManifestError:
        report.notes.append(f"the stored manifest {path} was broken; publishing replaces it")
        return None


def _others(data_dir: Path, name: str, report: ImportReport) -> list[DatasetSpec]:
    specs = builtin_specs()
    for path in stored_paths(data_dir):
        if path.stem == name:
            continue  # the dataset being published again replaces its own entry
        try:
            specs.append(spec_of_manifest(read_stored(path)))
        except ManifestError as exc:
            report.notes.append(
                f"{exc}\n(this publication goes on; the server will not start until it is fixed)"
            )
    return specs


def _schema_problems(others: list[DatasetSpec], spec: DatasetSpec) -> list[Problem]:
    """Build the schema with and without the dataset: any name it would overwrite is a problem."""

    def fields(catalog: Catalog) -> dict[str, set[str]]:
        type_map = build_gateway_schema(catalog)._schema.type_map
        return {
            name: set(kind.fields)
            for name in ("Query", "District")
            if isinstance(kind := type_map.get(name), GraphQLObjectType)
        }

    before = fields(Catalog(others))
    try:
        after = fields(Catalog([*others, spec]))
    # whatever strawberry refuses (a duplicated type name...) is the manifest's problem
    except Exception as exc:
        return [Problem("dataset.name", f"the schema cannot include this dataset: {exc}")]
    added = 3 if len(spec.primary_key) == 1 else 2
    problems = []
    if len(after["Query"]) != len(before["Query"]) + added:
        problems.append(
            Problem("dataset.name", "its root fields would replace fields the schema already has")
        )
    if (
        spec.role("district")
        and len(after.get("District", ())) != len(before.get("District", ())) + 1
    ):
        problems.append(
            Problem(
                "dataset.district_connection", "its connection would replace a field of District"
            )
        )
    return problems


@dataclass
class _Plan:
    """What publishing needs to know before it touches the database."""

    manifest: Manifest
    source: Path
    report: ImportReport
    others: list[DatasetSpec]
    previous: Manifest | None
    headers: list[str]
    lines: int
    digest: str
    table: Table


def _plan(manifest_path: Path, data_dir: Path) -> _Plan:
    """Validate the manifest, its CSV header and its names against the catalog it joins."""
    source = manifest_path.resolve()
    manifest = load_manifest(source)
    report = ImportReport()
    others = _others(data_dir, manifest.name, report)
    problems = catalog_problems(manifest, others)
    header_problems, headers, lines = read_header(manifest)
    problems += header_problems
    if problems:
        raise ManifestError(manifest_path, problems)
    table = build_table(manifest)
    problems = _schema_problems(others, spec_of_table(table, manifest.dataset(), published=True))
    if problems:
        raise ManifestError(manifest_path, problems)
    previous = _previous(data_dir, manifest.name, report)
    sha256 = digest(manifest.csv.file)
    return _Plan(manifest, source, report, others, previous, headers, lines, sha256, table)


async def publish(
    *, manifest: Path, data_dir: Path, databases: Databases, progress: Progress | None = None
) -> ImportReport:
    """Publish the CSV a manifest describes; the dataset joins the schema on the next start."""
    plan = await asyncio.to_thread(_plan, manifest, data_dir)
    parsed, report, table = plan.manifest, plan.report, plan.table
    placement = None
    if parsed.role("district") or parsed.locates_districts:
        coordinates = parsed.role("latitude") and parsed.role("longitude")
        locator = await _district_locator(databases) if coordinates else None
        placement = Placement(locator, prefer=parsed.district_from)
    rows = CsvRows(parsed, plan.headers, report, placement)
    engine = databases.engine_for(parsed.department)
    # One transaction: a publication that fails half-way leaves the previous one as it was.
    # (storage.engines makes SQLite transactions include DDL, as PostgreSQL's do)
    async with engine.begin() as conn:
        existing = await conn.run_sync(_existing_columns, table.name)
        change, replaced = None, 0
        if existing is not None:
            change = _column_changes(plan.previous, parsed, existing, table)
        if change is not None:
            await conn.run_sync(table.drop)
            await forget_versions(conn, dataset=parsed.name, table=table)
        if existing is None or change is not None:
            await conn.run_sync(table.create)
        else:
            replaced = (await conn.execute(table.delete())).rowcount
        versioned = spec_of_table(table, parsed.dataset(), published=True).versioned
        if versioned:
            await conn.run_sync(history_table(table).create, checkfirst=True)
        batches = rows.batches(progress, f"loading {parsed.name}", plan.lines)
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            await conn.execute(table.insert(), batch)
        if rows.loaded == 0:
            first = report.skipped[0] if report.skipped else None
            detail = f" (first: {first.row}: {first.reason})" if first else ""
            raise PublishError(
                f"no row of {parsed.csv.file.name} can be loaded{detail}; nothing was changed",
                report,
            )
        if await asyncio.to_thread(digest, parsed.csv.file) != plan.digest:
            raise PublishError(
                f"{parsed.csv.file} changed while it was being loaded; nothing was changed", report
            )
        if versioned:
            await commit_version(
                conn, dataset=parsed.name, table=table, origin="published", source=str(manifest)
            )
    if change is not None:
        report.notes.append(
            f"table {table.name} dropped and recreated: {change}; its old rows are gone, "
            "and so are its earlier versions"
        )
    elif existing is not None:
        report.notes.append(f"replaced the {replaced} rows published before")
    publication = Publication(
        sha256=plan.digest,
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
        manifest=str(plan.source),
        rows=rows.loaded,
    )
    stored = await asyncio.to_thread(
        write_stored, data_dir, replace(parsed, publication=publication)
    )
    report.loaded[parsed.name] += rows.loaded
    _explain(report, plan, rows, placement, stored)
    await record_loads(
        engine,
        datasets={parsed.name: rows.loaded},
        origin="published",
        source=str(manifest),
    )
    return report


def _explain(
    report: ImportReport, plan: _Plan, rows: CsvRows, placement: Placement | None, stored: Path
) -> None:
    m = plan.manifest
    if m.department not in {s.department for s in plan.others}:
        report.notes.append(
            f"department {m.department!r} is new: its table is in the default database "
            "unless CITYGRAPH_DATABASE_URLS names the department"
        )
    unused = [h for h in plan.headers if h not in {c.header for c in m.columns}]
    if unused:
        report.notes.append(f"CSV columns not in the manifest, left out: {', '.join(unused)}")
    if placement is not None:
        district = m.role("district")
        column = district.name if district else LOCATED_DISTRICT
        if placement.locator is not None and not len(placement.locator):
            what = (
                f"{district.name} of rows without an arrondissement label is empty"
                if district
                else f"{LOCATED_DISTRICT} is empty"
            )
            report.notes.append(
                f"no districts are loaded: {what}; publish again after importing them "
                "(citygraph import paris, or citygraph demo)"
            )
        report.notes.append(placement.summary(column, labelled=district is not None))
        report.counts.update({f"{m.name}: {k}": v for k, v in placement.counts.items()})
    report.notes.append(
        f"{m.name} stored in table {plan.table.name} (department {m.department}); manifest kept "
        f"at {stored}; the dataset joins the schema on the next start"
    )
