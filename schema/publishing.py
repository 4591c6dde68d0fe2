"""Published datasets: a manifest and its CSV become a table and a dataset of the schema.

`publish` validates a manifest (schema/manifest.py), loads its CSV into the table
`published_<name>` of the department's database and stores a normalised copy of the manifest
under `<data_dir>/published/<name>.json`; `load_catalog` turns those copies into `DatasetSpec`s
next to the built-in datasets at start-up. The tables carry the same column `info` as
`schema.modeling.column` writes, so everything downstream treats both kinds alike.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import difflib
import hashlib
import json
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from graphql import GraphQLObjectType
from rich.progress import Progress
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Table,
    inspect,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

from schema.city import builtin_specs
from schema.datasets import Catalog, DatasetSpec, spec_of_table
from schema.gateway import build_gateway_schema
from schema.ingest import ImportReport, tracked
from schema.ingest.geo import DistrictLocator
from schema.ingest.text import RowError, normalise_district
from schema.manifest import (
    DISTRICT_RELATION,
    LOCATED_DISTRICT,
    ColumnManifest,
    Manifest,
    ManifestError,
    Problem,
    Publication,
    catalog_problems,
    load_manifest,
    parse_manifest,
)
from schema.modeling import TEXT
from storage.engines import Databases
from storage.loads import record_loads

PUBLISHED_DIR = "published"
BATCH = 1_000
INT_RANGE = (-(2**31), 2**31 - 1)  # GraphQL's Int is 32-bit: a larger value could never be served
TRUE = frozenset({"true", "t", "1", "yes", "y", "oui", "o", "vrai"})
FALSE = frozenset({"false", "f", "0", "no", "n", "non", "faux"})
ROMAN = {
    r: i for i, r in enumerate(("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"), 1)
}
ROMAN |= {"x" + r: i + 10 for r, i in ROMAN.items()}
# The two woods belong to arrondissements; the city's files name them instead of a number.
WOODS = {"bois de vincennes": 12, "bois de boulogne": 16}


class PublishError(ValueError):
    """A publication that changed nothing, with the report of why (every row was skipped)."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


# tables -------------------------------------------------------------------------------------


def _sql_type(kind: str) -> TypeEngine[Any]:
    types: dict[str, TypeEngine[Any]] = {
        "string": TEXT,
        "integer": Integer(),
        "float": Float(),
        "boolean": Boolean(),
        "date": Date(),
        # aware UTC values: timestamptz on PostgreSQL; SQLite keeps the UTC text
        "datetime": DateTime(timezone=True),
    }
    return types[kind]


def _info(
    description: str,
    access: str,
    *,
    role: str | None = None,
    reverse: str | None = None,
    group_by: bool = False,
) -> dict[str, Any]:
    # the same keys as schema.modeling.column, so column_spec reads both kinds of table alike
    district = role == "district"
    return {
        "description": description,
        "access": access,
        "role": role,
        "group_by": group_by,
        "references": "district.code" if district else None,
        "relation": DISTRICT_RELATION if district else None,
        "reverse": reverse if district else None,
    }


def build_table(manifest: Manifest) -> Table:
    """The SQLAlchemy table of a published dataset, in a MetaData of its own."""
    columns = [
        Column(
            c.name,
            _sql_type(c.type),
            primary_key=c.primary_key,
            nullable=c.nullable,
            autoincrement=False,
            index=c.role == "district",
            comment=c.description,
            info=_info(
                c.description,
                c.access,
                role=c.role,
                reverse=manifest.district_connection,
                group_by=c.group_by,
            ),
        )
        for c in manifest.columns
    ]
    if manifest.locates_districts:
        lat = manifest.role("latitude")
        access = lat.access if lat else "public"  # the district reveals roughly where the point is
        text = "Arrondissement (INSEE code) containing the point, found from its coordinates; null outside Paris."
        columns.append(
            Column(
                LOCATED_DISTRICT,
                TEXT,
                nullable=True,
                index=True,
                comment=text,
                info=_info(text, access, role="district", reverse=manifest.district_connection),
            )
        )
    return Table(manifest.table_name, MetaData(), *columns)


def spec_of_manifest(manifest: Manifest) -> DatasetSpec:
    """The dataset spec of a published manifest."""
    return spec_of_table(build_table(manifest), manifest.dataset(), published=True)


def _signature(manifest: Manifest) -> tuple[Any, ...]:
    # what the table's DDL depends on: a change here means drop and recreate
    cols = tuple(
        (c.name, c.type, c.nullable, c.primary_key, c.role == "district") for c in manifest.columns
    )
    return (*cols, manifest.locates_districts)


# the stored manifests -----------------------------------------------------------------------


def published_dir(data_dir: Path) -> Path:
    """Where the normalised manifests of published datasets live."""
    return data_dir / PUBLISHED_DIR


def _broken(path: Path) -> str:
    return (
        f"published manifest {path} is broken; citygraph cannot start with it. Publish the dataset "
        "again (citygraph import manifest ...) or remove the file"
    )


def read_stored(path: Path) -> Manifest:
    """A stored manifest, or ManifestError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(
            path, [Problem("", f"not readable JSON: {exc}")], heading=_broken(path)
        ) from exc
    if not isinstance(data, dict):
        raise ManifestError(path, [Problem("", "must hold a JSON object")], heading=_broken(path))
    try:
        manifest = parse_manifest(data, base_dir=path.parent, source=path, stored=True)
    except ManifestError as exc:
        raise ManifestError(path, exc.problems, heading=_broken(path)) from exc
    if manifest.name != path.stem:
        raise ManifestError(
            path,
            [Problem("dataset.name", f"{manifest.name!r} differs from the file name")],
            heading=_broken(path),
        )
    return manifest


def _stored_paths(data_dir: Path) -> list[Path]:
    folder = published_dir(data_dir)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _write_stored(data_dir: Path, manifest: Manifest) -> Path:
    folder = published_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{manifest.name}.json"
    temporary = folder / f".{manifest.name}.json.tmp"
    temporary.write_text(
        json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(temporary, path)  # a reader (the next start) never sees half a file
    return path


def load_catalog(data_dir: Path) -> Catalog:
    """Built-in datasets, and every manifest published into `data_dir` (see `citygraph import manifest`)."""
    specs = builtin_specs()
    for path in _stored_paths(data_dir):
        manifest = read_stored(path)
        problems = catalog_problems(manifest, specs)
        if problems:
            raise ManifestError(path, problems, heading=_broken(path))
        specs.append(spec_of_manifest(manifest))
    return Catalog(specs)


# cells --------------------------------------------------------------------------------------


def district_code(label: str) -> str | None:
    """INSEE code (75101..75120) of an arrondissement label: "13", "75013", "13e", "1er Ardt", "XIIIe"."""
    try:
        return normalise_district(label)
    except ValueError:
        pass
    # Styles the shared normaliser does not read yet: the portal's "PARIS 13E ARRDT", Roman
    # numerals ("XIIIe") and the two woods, which belong to the 12th and the 16th.
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[\s._,-]+", " ", text).strip()
    number: int | None = None
    if m := re.fullmatch(r"75[01](\d\d)", text):  # INSEE 751xx or postal code 750xx (and 75116)
        number = int(m[1])
    elif text in WOODS:
        number = WOODS[text]
    else:
        text = re.sub(r"^paris\s*", "", text)
        text = re.sub(r"\s*(arrondissement|arrdt|ardt|arrt|arr)$", "", text)
        if m := re.fullmatch(r"(\d{1,2}|[ivx]+)\s*(er|ere|re|eme|ieme|e|em|me)?", text):
            number = int(m[1]) if m[1].isdigit() else ROMAN.get(m[1])
    return f"751{number:02d}" if number is not None and 1 <= number <= 20 else None


def _number(raw: str, decimal: str) -> str:
    # thousands separators: spaces, no-break and narrow no-break spaces ("1 234,5")
    text = re.sub(r"[\s\u00a0\u202f]", "", raw)
    if decimal == ",":
        if "." in text:
            raise RowError("not a number (the decimal separator is ',')")
        text = text.replace(",", ".")
    elif "," in text:
        raise RowError("not a number (the decimal separator is '.')")
    return text


def _converter(col: ColumnManifest, decimal: str) -> Callable[[str], Any]:
    """The function turning a non-empty cell into a value of the column's type."""

    def integer(raw: str) -> int:
        text = _number(raw, decimal)
        if not re.fullmatch(r"[+-]?\d+(\.0*)?", text):
            raise RowError("not an integer")
        value = int(text.split(".")[0])
        if not INT_RANGE[0] <= value <= INT_RANGE[1]:
            raise RowError(
                "outside GraphQL's Int range (±2^31): declare the column as float or string"
            )
        return value

    def real(raw: str) -> float:
        try:
            value = float(_number(raw, decimal))
        except ValueError:
            raise RowError("not a number") from None
        if not math.isfinite(value):
            raise RowError("not a finite number")
        bound = {"latitude": 90, "longitude": 180}.get(col.role or "")
        if bound is not None and abs(value) > bound:
            raise RowError(f"not a {col.role} (beyond ±{bound})")
        return value

    def boolean(raw: str) -> bool:
        word = raw.lower()
        if word in TRUE or word in FALSE:
            return word in TRUE
        raise RowError("not a boolean (true/false, oui/non, yes/no, 1/0)")

    def when(raw: str) -> datetime:
        try:
            if col.format:
                value = datetime.strptime(raw, col.format)  # noqa: DTZ007 (the zone comes next)
            else:
                value = datetime.fromisoformat(raw)
        except ValueError:
            raise RowError(f"not a date and time ({col.format or 'ISO 8601'})") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(col.timezone) if col.timezone else UTC)
        return value.astimezone(UTC)

    def day(raw: str) -> date:
        try:
            if col.format:
                return datetime.strptime(raw, col.format).date()  # noqa: DTZ007 (a date has no zone)
            return date.fromisoformat(raw)
        except ValueError:
            pass
        try:  # portals often write a date as midnight: 2010-03-01T00:00:00+00:00
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if col.format is None and moment is not None and moment.time() == datetime.min.time():
            return moment.date()
        raise RowError(f"not a date ({col.format or 'YYYY-MM-DD'})")

    def district(raw: str) -> str:
        code = district_code(raw)
        if code is None:
            raise RowError("not an arrondissement of Paris")
        return code

    if col.role == "district":
        return district
    converters: dict[str, Callable[[str], Any]] = {
        "string": str,
        "integer": integer,
        "float": real,
        "boolean": boolean,
        "date": day,
        "datetime": when,
    }
    return converters[col.type]


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


# the CSV ------------------------------------------------------------------------------------


def _encoding(manifest: Manifest) -> str:
    # utf-8-sig reads files with and without a byte-order mark alike
    enc = manifest.csv.encoding
    return "utf-8-sig" if codecs.lookup(enc).name == "utf-8" else enc


def _decodes(manifest: Manifest) -> tuple[list[Problem], int]:
    """Problems decoding the CSV (with the first bad line), and its line count."""
    decoder = codecs.getincrementaldecoder(_encoding(manifest))()
    number = 0
    try:
        with manifest.csv.file.open("rb") as raw:
            for number, line in enumerate(raw, 1):  # noqa: B007 (the count is used after the loop)
                decoder.decode(line)
            decoder.decode(b"", final=True)
    except FileNotFoundError:
        return [Problem("csv.file", f"no such file: {manifest.csv.file}")], 0
    except OSError as exc:
        return [Problem("csv.file", f"cannot read {manifest.csv.file}: {exc.strerror or exc}")], 0
    except UnicodeDecodeError as exc:
        message = f"line {number} is not {manifest.csv.encoding} text ({exc.reason}); declare the file's encoding"
        return [Problem("csv.encoding", message)], 0
    return [], number


def _read_header(manifest: Manifest) -> tuple[list[Problem], list[str], int]:
    """Problems of the CSV's encoding and header, its headers, and its line count."""
    path = manifest.csv.file
    problems, lines = _decodes(manifest)
    if problems:
        return problems, [], 0
    with path.open(encoding=_encoding(manifest), newline="") as f:
        row = next(
            csv.reader(f, delimiter=manifest.csv.delimiter, quotechar=manifest.csv.quote), None
        )
    if not row:
        return (
            [Problem("csv.file", f"{path.name} is empty: the first line must be the header")],
            [],
            0,
        )
    headers = [h.lstrip("\ufeff").strip() for h in row]
    for i, col in enumerate(manifest.columns):
        if col.header not in headers:
            hint = difflib.get_close_matches(col.header, headers, n=1)
            extra = f"did you mean {hint[0]!r}? " if hint else ""
            problems.append(
                Problem(
                    f"columns[{i}].header",
                    f"no column {col.header!r} in the header of {path.name} "
                    f"({extra}delimiter {manifest.csv.delimiter!r}; it has {', '.join(map(repr, headers))})",
                )
            )
        elif headers.count(col.header) > 1:
            problems.append(
                Problem(
                    f"columns[{i}].header",
                    f"{col.header!r} appears twice in the header of {path.name}",
                )
            )
    return problems, headers, lines


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Rows:
    """The CSV's rows as table rows, in batches; every skipped row goes to the report."""

    def __init__(
        self,
        manifest: Manifest,
        headers: list[str],
        report: ImportReport,
        locator: DistrictLocator | None,
    ) -> None:
        self.manifest = manifest
        self.report = report
        self.locator = locator
        self.width = len(headers)
        positions: dict[str, int] = {}
        for i, header in enumerate(headers):
            positions.setdefault(header, i)
        self.cells = [
            (c, positions[c.header], _converter(c, manifest.csv.decimal)) for c in manifest.columns
        ]
        self.nulls = frozenset(manifest.csv.null_values)
        self.loaded = 0
        self.located = 0

    def _skip(self, where: str, reason: str) -> None:
        self.report.skip(self.manifest.name, where, reason)

    def _row(self, record: list[str]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for col, position, convert in self.cells:
            raw = record[position].strip()
            if col.split is not None and raw not in self.nulls:
                pieces = raw.split(col.split)
                if col.part is None or col.part >= len(pieces):
                    raise RowError(
                        f"{col.name}: has no part {col.part} when split on {col.split!r}"
                    )
                raw = pieces[col.part].strip()
            if raw in self.nulls:
                if not col.nullable:
                    raise RowError(f"{col.name}: empty, and the column is not nullable")
                row[col.name] = None
                continue
            try:
                row[col.name] = convert(raw)
            except RowError as bad:
                raise RowError(f"{col.name}: {bad}") from None
        return row

    def batches(
        self, progress: Progress | None, description: str, total: int
    ) -> Iterator[list[dict[str, Any]]]:
        m = self.manifest
        pk = [c.name for c in m.columns if c.primary_key]
        lat, lon = m.role("latitude"), m.role("longitude")
        seen: dict[tuple[Any, ...], int] = {}
        batch: list[dict[str, Any]] = []
        with m.csv.file.open(encoding=_encoding(m), newline="") as f:
            reader = csv.reader(f, delimiter=m.csv.delimiter, quotechar=m.csv.quote)
            last = 0
            try:
                next(reader)
                last = reader.line_num
                for record in tracked(reader, progress, description, total):
                    line, last = last + 1, reader.line_num
                    where = f"{m.csv.file.name}:{line}"
                    while record and record[-1] == "" and len(record) > self.width:
                        record.pop()  # a trailing delimiter is not a field
                    if not record or record == [""]:
                        continue
                    if len(record) != self.width:
                        many = "many" if len(record) > self.width else "few"
                        self._skip(where, f"too {many} fields (the header has {self.width})")
                        continue
                    try:
                        row = self._row(record)
                    except RowError as bad:
                        self._skip(where, str(bad))
                        continue
                    key = tuple(row[c] for c in pk)
                    if key in seen:
                        self._skip(
                            f"{where} (same key as line {seen[key]})", "duplicate primary key"
                        )
                        continue
                    seen[key] = line
                    if self.locator is not None and lat and lon:
                        code = None
                        if row[lat.name] is not None and row[lon.name] is not None:
                            code = self.locator.locate(
                                latitude=row[lat.name], longitude=row[lon.name]
                            )
                        row[LOCATED_DISTRICT] = code
                        self.located += code is not None
                    batch.append(row)
                    self.loaded += 1
                    if len(batch) >= BATCH:
                        yield batch
                        batch = []
            except UnicodeDecodeError as exc:
                problem = Problem(
                    "csv.encoding", f"line {last + 1} is not {m.csv.encoding} text ({exc.reason})"
                )
                raise ManifestError(m.csv.file, [problem]) from exc
            except csv.Error as exc:
                raise ManifestError(
                    m.csv.file, [Problem("csv.file", f"line {last + 1}: {exc}")]
                ) from exc
        if batch:
            yield batch


# publishing ---------------------------------------------------------------------------------


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
    if _signature(before) != _signature(after):
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
    for path in _stored_paths(data_dir):
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
    header_problems, headers, lines = _read_header(manifest)
    problems += header_problems
    if problems:
        raise ManifestError(manifest_path, problems)
    table = build_table(manifest)
    problems = _schema_problems(others, spec_of_table(table, manifest.dataset(), published=True))
    if problems:
        raise ManifestError(manifest_path, problems)
    previous = _previous(data_dir, manifest.name, report)
    digest = _digest(manifest.csv.file)
    return _Plan(manifest, source, report, others, previous, headers, lines, digest, table)


async def publish(
    *, manifest: Path, data_dir: Path, databases: Databases, progress: Progress | None = None
) -> ImportReport:
    """Publish the CSV a manifest describes; the dataset joins the schema on the next start."""
    plan = await asyncio.to_thread(_plan, manifest, data_dir)
    parsed, report, table = plan.manifest, plan.report, plan.table
    locator = await _district_locator(databases) if parsed.locates_districts else None
    rows = _Rows(parsed, plan.headers, report, locator)
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
        if existing is None or change is not None:
            await conn.run_sync(table.create)
        else:
            replaced = (await conn.execute(table.delete())).rowcount
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
        if await asyncio.to_thread(_digest, parsed.csv.file) != plan.digest:
            raise PublishError(
                f"{parsed.csv.file} changed while it was being loaded; nothing was changed", report
            )
    if change is not None:
        report.notes.append(
            f"table {table.name} dropped and recreated: {change}; its old rows are gone"
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
        _write_stored, data_dir, replace(parsed, publication=publication)
    )
    report.loaded[parsed.name] += rows.loaded
    _explain(report, plan, rows, locator, stored)
    await record_loads(
        engine,
        datasets={parsed.name: rows.loaded},
        origin="published",
        source=str(manifest),
    )
    return report


def _explain(
    report: ImportReport, plan: _Plan, rows: _Rows, locator: DistrictLocator | None, stored: Path
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
    if locator is not None:
        if not len(locator):
            report.notes.append(
                f"no districts are loaded: {LOCATED_DISTRICT} is empty; publish again after "
                "importing them (citygraph import paris, or citygraph demo)"
            )
        else:
            report.notes.append(
                f"{LOCATED_DISTRICT} from the coordinates: {rows.located} rows in a district, "
                f"{rows.loaded - rows.located} outside every district or without coordinates"
            )
    report.notes.append(
        f"{m.name} stored in table {plan.table.name} (department {m.department}); manifest kept "
        f"at {stored}; the dataset joins the schema on the next start"
    )
