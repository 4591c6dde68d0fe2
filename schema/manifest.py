"""Dataset manifests: a TOML file that describes a CSV so a department can publish it without Python.

This module holds what a validated manifest is (`Manifest`, its CSV options and columns) and how
its problems are reported (`Problem`, `ManifestError`). Reading and validating one is
schema.manifest_reading (`load_manifest`, `parse_manifest`); checking its names against the schema
it joins is schema.manifest_names (`catalog_problems`). docs/manifest.md is the reference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from auth.scopes import PUBLIC, Scope
from schema.modeling import Dataset

VERSION = 1
TYPES = ("string", "integer", "float", "boolean", "date", "datetime")
ColumnType = Literal["string", "integer", "float", "boolean", "date", "datetime"]
ROLES = ("latitude", "longitude", "district")
DISTRICT_FROM = ("label", "coordinates")
"""What decides a row's district when it has both a district label and coordinates."""
ACCESS = (PUBLIC, *(str(s) for s in Scope))
LOCATED_DISTRICT = "district_code"
"""Column the publisher adds when a dataset has coordinates but no district column."""
DISTRICT_RELATION = "district"
TABLE_PREFIX = "published_"
# PostgreSQL cuts identifiers at 63 bytes; the table and index names add a prefix and a suffix.
MAX_NAME = 40

DATASET_NAME = re.compile(r"[a-z][a-zA-Z0-9]*")
COLUMN_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
DEPARTMENT_NAME = re.compile(r"[a-z][a-z0-9_]*")
# Field names the generated filter input already uses (and, or, not, near, withinBox, withinDistrict).
RESERVED_COLUMNS = frozenset({"and", "or", "not", "near", "within_box", "within_district"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a manifest, at a key path such as `columns[3].type`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ManifestError(ValueError):
    """A manifest that cannot be published or loaded; lists every problem found."""

    def __init__(
        self, source: Path | str, problems: Sequence[Problem], *, heading: str | None = None
    ) -> None:
        self.source = source
        self.problems = tuple(problems)
        head = heading or f"manifest {source} is invalid"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


@dataclass(frozen=True, slots=True)
class CsvOptions:
    """Where the CSV is and how to read it."""

    file: Path
    delimiter: str = ","
    encoding: str = "utf-8"
    quote: str = '"'
    decimal: str = "."
    null_values: tuple[str, ...] = ("",)


@dataclass(frozen=True, slots=True)
class ColumnManifest:
    """One column: where its cells come from and what they are."""

    header: str
    name: str
    type: ColumnType
    description: str
    access: str = PUBLIC
    nullable: bool = True
    primary_key: bool = False
    role: str | None = None
    split: str | None = None
    part: int | None = None
    format: str | None = None
    timezone: str | None = None
    group_by: bool = False


@dataclass(frozen=True, slots=True)
class Publication:
    """What `publish` recorded about the file it loaded."""

    sha256: str
    published_at: str
    manifest: str
    rows: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated manifest."""

    name: str
    singular: str
    department: str
    title: str
    description: str
    publisher: str
    license: str
    license_url: str
    attribution: str
    csv: CsvOptions
    columns: tuple[ColumnManifest, ...]
    access: str = PUBLIC
    frequency: str = "irregular"
    keywords: tuple[str, ...] = ()
    spatial: str = "Paris, France"
    temporal: tuple[str | None, str | None] = (None, None)
    source_url: str | None = None
    synthetic: bool = False
    district_connection: str | None = None
    district_from: str = "label"
    """What decides the district of a row that has both a district label and coordinates."""
    publication: Publication | None = field(default=None, compare=False)

    @property
    def table_name(self) -> str:
        return TABLE_PREFIX + re.sub(r"(?<!^)([A-Z])", r"_\1", self.name).lower()

    def role(self, role: str) -> ColumnManifest | None:
        return next((c for c in self.columns if c.role == role), None)

    @property
    def locates_districts(self) -> bool:
        """True when the publisher adds `district_code` from the coordinates."""
        return bool(self.role("latitude") and self.role("longitude") and not self.role("district"))

    def dataset(self) -> Dataset:
        """The catalog entry of the published dataset."""
        extra: dict[str, Any] = {"csv": str(self.csv.file)}
        if self.publication is not None:
            extra.update(sha256=self.publication.sha256, published_at=self.publication.published_at)
        return Dataset(
            name=self.name,
            singular=self.singular,
            title=self.title,
            description=self.description,
            department=self.department,
            publisher=self.publisher,
            license=self.license,
            license_url=self.license_url,
            attribution=self.attribution,
            access=self.access,
            frequency=self.frequency,
            keywords=self.keywords,
            source=self.source_url,
            spatial=self.spatial,
            temporal=self.temporal,
            synthetic=self.synthetic,
            extra=extra,
        )

    def to_dict(self) -> dict[str, Any]:
        """The normalised manifest (every default spelled out), as `parse_manifest` reads it back."""
        dataset = {
            k: getattr(self, k)
            for k in (
                "name",
                "singular",
                "department",
                "access",
                "title",
                "description",
                "publisher",
                "license",
                "license_url",
                "attribution",
                "frequency",
                "spatial",
                "source_url",
                "synthetic",
                "district_connection",
                "district_from",
            )
        }
        dataset["keywords"] = list(self.keywords)
        dataset["temporal"] = {"start": self.temporal[0], "end": self.temporal[1]}
        csv = asdict(self.csv) | {
            "file": str(self.csv.file),
            "null_values": list(self.csv.null_values),
        }
        out: dict[str, Any] = {
            "version": VERSION,
            "dataset": dataset,
            "csv": csv,
            "columns": [asdict(c) for c in self.columns],
        }
        if self.publication is not None:
            out["published"] = asdict(self.publication)
        return out
