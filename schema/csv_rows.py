"""A published dataset's CSV: its encoding and header checked, then its rows as table rows.

Every row that cannot be loaded goes to the report with its line and the reason. A row is never
dropped for its district, though (docs/manifest.md, "Districts"): a label that names no
arrondissement gives way to the row's coordinates, and a row that neither places keeps a null
district; the report counts each case.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.progress import Progress

from schema.cells import converter
from schema.ingest import ImportReport, tracked
from schema.ingest.text import RowError
from schema.manifest import LOCATED_DISTRICT, Manifest, ManifestError, Problem
from schema.placement import Placement
from storage.controls import control_character, why_refused

BATCH = 1_000


def encoding_of(manifest: Manifest) -> str:
    # utf-8-sig reads files with and without a byte-order mark alike
    enc = manifest.csv.encoding
    return "utf-8-sig" if codecs.lookup(enc).name == "utf-8" else enc


def _decodes(manifest: Manifest) -> tuple[list[Problem], int]:
    """Problems decoding the CSV (with the first bad line), and its line count."""
    decoder = codecs.getincrementaldecoder(encoding_of(manifest))()
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


def read_header(manifest: Manifest) -> tuple[list[Problem], list[str], int]:
    """Problems of the CSV's encoding and header, its headers, and its line count."""
    path = manifest.csv.file
    problems, lines = _decodes(manifest)
    if problems:
        return problems, [], 0
    with path.open(encoding=encoding_of(manifest), newline="") as f:
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


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class CsvRows:
    """The CSV's rows as table rows, in batches; every skipped row goes to the report."""

    def __init__(
        self,
        manifest: Manifest,
        headers: list[str],
        report: ImportReport,
        placement: Placement | None,
    ) -> None:
        self.manifest = manifest
        self.report = report
        self.width = len(headers)
        positions: dict[str, int] = {}
        for i, header in enumerate(headers):
            positions.setdefault(header, i)
        self.cells = [
            (c, positions[c.header], converter(c, manifest.csv.decimal)) for c in manifest.columns
        ]
        self.nulls = frozenset(manifest.csv.null_values)
        self.loaded = 0
        self.placement = placement
        self.district = manifest.role("district")

    def _skip(self, where: str, reason: str) -> None:
        self.report.skip(self.manifest.name, where, reason)

    def _row(self, record: list[str]) -> tuple[dict[str, Any], bool]:
        """The row's values, and whether its district label names no arrondissement."""
        row: dict[str, Any] = {}
        unknown = False
        if (char := control_character("".join(record))) is not None:
            for col, position, _ in self.cells:
                if control_character(record[position]) is not None:
                    raise RowError(f"{col.name}: {why_refused(char, from_file=True)}")
            raise RowError(f"a column left out {why_refused(char, from_file=True)}")
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
            unknown = unknown or (col.role == "district" and row[col.name] is None)
        return row, unknown

    def _place(self, row: dict[str, Any], unknown: bool) -> None:
        """Set the row's district (its label's, its coordinates', or null), never dropping it."""
        if self.placement is None:
            return
        m = self.manifest
        lat, lon = m.role("latitude"), m.role("longitude")
        column = self.district.name if self.district else LOCATED_DISTRICT
        row[column] = self.placement.place(
            label=row.get(column) if self.district else None,
            unknown_label=unknown,
            latitude=row[lat.name] if lat else None,
            longitude=row[lon.name] if lon else None,
        )

    def batches(
        self, progress: Progress | None, description: str, total: int
    ) -> Iterator[list[dict[str, Any]]]:
        m = self.manifest
        pk = [c.name for c in m.columns if c.primary_key]
        seen: dict[tuple[Any, ...], int] = {}
        batch: list[dict[str, Any]] = []
        with m.csv.file.open(encoding=encoding_of(m), newline="") as f:
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
                        row, unknown = self._row(record)
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
                    self._place(row, unknown)
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
