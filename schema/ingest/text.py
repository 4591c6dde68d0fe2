"""Reading tabular sources as published: CSV with or without a BOM, `;` or `,`, and their values.

Two kinds of failure, kept apart on purpose:
- `SourceError` (with `MissingSourceError` for an absent file): the file as a whole cannot be used
  (absent, not UTF-8, required columns missing). The import stops before writing anything.
- `RowError`: one row cannot be taken; its message is the reason the report gives, so it names the
  column but not the value (reports group skipped rows by reason). A cell holding a control
  character (storage.controls) costs its row that way too, in every importer.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from schema.ingest import ImportReport
from storage.controls import control_character, why_refused


class SourceItem(Protocol):
    """A row or feature of a source: where it was, and why it is unreadable (None if readable)."""

    @property
    def where(self) -> str: ...
    @property
    def problem(self) -> str | None: ...


Item = TypeVar("Item", bound=SourceItem)
R = TypeVar("R")

DELIMITERS = (";", ",", "\t", "|")


class SourceError(ValueError):
    """A source file that cannot be read as expected; carries its path."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class MissingSourceError(SourceError, FileNotFoundError):
    """A source file or folder that does not exist."""


class RowError(ValueError):
    """A source row that cannot be loaded; the message is the reason reported."""


@dataclass(frozen=True, slots=True)
class Record:
    """One source row: where it was (file and line) and its values by trimmed column name."""

    where: str
    values: dict[str, str]
    problem: str | None = None
    """Why the line cannot be read at all (wrong number of fields), reported as its skip reason."""

    def optional(self, column: str) -> str | None:
        """The trimmed value, or None when empty."""
        return self.values.get(column) or None

    def text(self, column: str) -> str:
        """The trimmed value; RowError when empty."""
        value = self.values.get(column)
        if not value:
            raise RowError(f"missing {column}")
        return value

    def integer(self, column: str) -> int:
        """The value as an int; RowError when empty or not a whole number."""
        value = self.text(column)
        try:
            return int(value)
        except ValueError:
            raise RowError(f"bad number in {column}") from None

    def optional_integer(self, column: str) -> int | None:
        """The value as an int, None when empty; RowError when not a whole number."""
        return None if self.optional(column) is None else self.integer(column)

    def number(self, column: str) -> float:
        """The value as a finite float; RowError when empty or not a number."""
        value = self.text(column)
        try:
            result = float(value)
        except ValueError:
            raise RowError(f"bad number in {column}") from None
        if not math.isfinite(result):
            raise RowError(f"bad number in {column}")
        return result


def read_text(path: Path) -> str:
    """A UTF-8 file's text without its BOM; SourceError when absent or not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise MissingSourceError(path, "no such file") from None
    except IsADirectoryError:
        raise SourceError(path, "is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"not UTF-8 text (byte {exc.start})") from None


def sniff_delimiter(header: str) -> str:
    """The separator of a CSV file: whichever candidate the header line holds most of."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_csv(
    text: str,
    *,
    source: Path | str,
    name: str,
    required: Sequence[str] = (),
    delimiter: str | None = None,
) -> list[Record]:
    """Records of CSV text; `name` prefixes each record's place, `source` names the file in errors.

    A BOM is dropped, header names are trimmed (published files carry stray spaces), values too.
    """
    text = text.removeprefix("\ufeff")
    header = text.split("\n", 1)[0]
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter or sniff_delimiter(header)
    )
    try:
        columns = [c.strip() for c in next(reader)]
    except StopIteration:
        raise SourceError(source, "empty file, no header line") from None
    absent = [c for c in required if c not in columns]
    if absent:
        raise SourceError(source, f"missing column(s) {', '.join(absent)}; header is {columns}")
    records = []
    for values in reader:
        if not values:
            continue  # a blank line, often the last one
        where = f"{name}:{reader.line_num}"
        if len(values) != len(columns):
            # Kept, not raised: the importer reports it with the other skipped rows.
            records.append(Record(where, {}, problem="wrong number of fields"))
            continue
        if (problem := _controls(columns, values)) is not None:
            records.append(Record(where, {}, problem=problem))
            continue
        records.append(Record(where, {c: v.strip() for c, v in zip(columns, values, strict=True)}))
    return records


def _controls(columns: Sequence[str], values: Sequence[str]) -> str | None:
    """Why a row is refused for a control character in a cell (storage.controls), else None."""
    if control_character("".join(values)) is None:  # one search for the usual, clean row
        return None
    for column, value in zip(columns, values, strict=True):
        if (char := control_character(value)) is not None:
            return f"{column}: {why_refused(char, from_file=True)}"
    return None  # pragma: no cover (the joined text held one, so a cell does)


def read_csv(
    path: Path, *, required: Sequence[str] = (), delimiter: str | None = None
) -> list[Record]:
    """Records of a CSV file (BOM, separator and header spaces handled); SourceError if unusable."""
    return parse_csv(
        read_text(path), source=path, name=path.name, required=required, delimiter=delimiter
    )


def collect(
    items: Iterable[Item],
    *,
    parse: Callable[[Item], R],
    dataset: str,
    report: ImportReport,
    key: Callable[[R], Hashable] | None = None,
    duplicate: str | Callable[[R, R], str] = "duplicate",
) -> list[R]:
    """Parse every item, reporting those that fail (RowError) and, given `key`, later duplicates.

    The first row of a key wins; `duplicate` is the reason reported for the others, or a function
    of (first, later) rows giving it.
    """
    rows: list[R] = []
    seen: dict[Hashable, tuple[str, R]] = {}
    for item in items:
        try:
            if item.problem is not None:
                raise RowError(item.problem)
            row = parse(item)
        except RowError as exc:
            report.skip(dataset, item.where, str(exc))
            continue
        if key is not None:
            k = key(row)
            if k in seen:
                where, first = seen[k]
                reason = duplicate if isinstance(duplicate, str) else duplicate(first, row)
                report.skip(dataset, f"{item.where} (first at {where})", reason)
                continue
            seen[k] = (item.where, row)
        rows.append(row)
    return rows


def parse_lat_lon(text: str) -> tuple[float, float]:
    """(latitude, longitude) from "48.85, 2.35" or "48.85,2.35"; ValueError when not a position."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"not a 'lat, lon' pair: {text!r}")
    try:
        latitude, longitude = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"not a 'lat, lon' pair: {text!r}") from None
    check_position(latitude=latitude, longitude=longitude)
    return latitude, longitude


def check_position(*, latitude: float, longitude: float) -> None:
    """ValueError unless latitude and longitude are finite and within the WGS84 ranges."""
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        raise ValueError("latitude and longitude must be finite")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError(f"position out of range: {latitude}, {longitude}")


# "13", "07", "13e", "13ème", "1er", "1er Ardt", "Paris 13e", "13e arrondissement"
_ORDINAL = re.compile(
    r"(?:paris\s+)?(\d{1,2})\s*(?:er|re|e|eme|ème|è)?\s*(?:ardt\.?|arr\.?|arrondissement)?"
)
# Postal codes 75001-75020 (and 75116, the 16th's second one) and INSEE codes 75101-75120.
_CODE = re.compile(r"75([01])(\d{2})")


def normalise_district(label: str) -> str:
    """INSEE code ("75113") of an arrondissement label such as "13", "75013", "13e" or "1er Ardt"."""
    cleaned = unicodedata.normalize("NFC", label).strip().lower()
    if match := _CODE.fullmatch(cleaned):
        number = int(match.group(2))
    elif match := _ORDINAL.fullmatch(cleaned):
        number = int(match.group(1))
    else:
        raise ValueError(f"not an arrondissement label: {label!r}")
    if not 1 <= number <= 20:
        raise ValueError(f"no arrondissement numbered {number}: {label!r}")
    return f"751{number:02d}"


def parse_yes_no(text: str) -> bool | None:
    """True for "Oui", False for "Non" (any case), None when empty; ValueError otherwise."""
    value = text.strip().lower()
    if not value:
        return None
    if value in {"oui", "yes", "true", "1"}:
        return True
    if value in {"non", "no", "false", "0"}:
        return False
    raise ValueError(f"not a yes/no value: {text!r}")
