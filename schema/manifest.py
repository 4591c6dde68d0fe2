"""Dataset manifests: a TOML file that describes a CSV so a department can publish it without Python.

`load_manifest(path)` reads and validates a manifest and raises one `ManifestError` listing every
problem with its key path (`columns[3].type: ...`); `parse_manifest(data, ...)` does the same for
an already parsed mapping (the normalised copies stored under `<data_dir>/published/`).
`catalog_problems` checks a valid manifest against the schema it would join: its root fields, type
names and the connection it adds to District must belong neither to another dataset nor to the
schema's own fields and types (the catalog, the statistics, the access log, shared types), which
`schema_names` reads from the built schema. docs/manifest.md is the reference.
"""

from __future__ import annotations

import codecs
import difflib
import functools
import keyword
import re
import tomllib
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlparse

from graphql import GraphQLObjectType, specified_scalar_types

from auth.scopes import PUBLIC, Scope
from schema.city import builtin_specs
from schema.datasets import Catalog, DatasetSpec, pascal, singular_of
from schema.dcat import FREQUENCIES
from schema.gateway import build_gateway_schema
from schema.modeling import Dataset

T = TypeVar("T")
VERSION = 1
TYPES = ("string", "integer", "float", "boolean", "date", "datetime")
ColumnType = Literal["string", "integer", "float", "boolean", "date", "datetime"]
ROLES = ("latitude", "longitude", "district")
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
# The type names schema.objects generates for a dataset's type (tests/publishing checks them).
GENERATED_SUFFIXES = (
    "",
    "Connection",
    "Edge",
    "Field",
    "Filter",
    "OrderBy",
    "Group",
    "GroupBy",
    "GroupKey",
    "Numbers",
)
# GraphQL's own type names, reserved even where the schema does not use them: Federation treats a
# type named Query, Mutation or Subscription as a root, and any subgraph may use the built-in scalars.
GRAPHQL_TYPES = frozenset({"Query", "Mutation", "Subscription", *specified_scalar_types})


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


# reading ------------------------------------------------------------------------------------


class _Section:
    """Typed reads of one table of the manifest; every problem goes to the shared list."""

    def __init__(
        self,
        problems: list[Problem],
        data: Any,
        path: str,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.problems = problems
        self.path = path
        self.used: set[str] = set()
        self.data: dict[str, Any] = {}
        if not isinstance(data, dict):
            problems.append(Problem(path, "must be a table"))
            return
        for key, value in data.items():
            canonical = (aliases or {}).get(key, key)
            if canonical in self.data:
                problems.append(
                    Problem(self._at(key), f"given twice (as {canonical!r} and {key!r})")
                )
            self.data[canonical] = value

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(
        self, key: str, kind: type | tuple[type, ...], expected: str, *, required: bool = False
    ) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                self.problems.append(Problem(self._at(key), "missing (required)"))
            return None
        value = self.data[key]
        # bool is an int in Python; a manifest's `true` is never a number
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            self.problems.append(
                Problem(self._at(key), f"must be {expected}, not {type(value).__name__} {value!r}")
            )
            return None
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value: str | None = self.get(key, str, "a string", required=required)
        if value is not None and not value.strip():
            self.problems.append(Problem(self._at(key), "must not be empty"))
            return None
        return value

    def flag(self, key: str, default: bool) -> bool:
        value: bool | None = self.get(key, bool, "true or false")
        return default if value is None else value

    def choice(
        self,
        key: str,
        choices: Sequence[str],
        *,
        default: str | None = None,
        what: str = "value",
        required: bool = False,
    ) -> str | None:
        value = self.text(key, required=required)
        if value is None:
            return default
        if value not in choices:
            self.problems.append(
                Problem(
                    self._at(key),
                    f"unknown {what} {value!r} (expected one of {', '.join(choices)})",
                )
            )
            return None
        return value

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self._at(key), message))

    def finish(self) -> None:
        for key in self.data:
            if key not in self.used:
                hint = difflib.get_close_matches(key, sorted(self.used), n=1)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.problems.append(Problem(self._at(key), f"unknown key{suffix}"))


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _url(section: _Section, key: str, *, required: bool) -> str | None:
    value = section.text(key, required=required)
    if value is not None and (
        urlparse(value).scheme not in ("http", "https") or not urlparse(value).netloc
    ):
        section.problem(key, f"must be an http(s) URL, not {value!r}")
    return value


def _temporal(section: _Section) -> tuple[str | None, str | None]:
    raw = section.get("temporal", dict, "a table such as { start = 2010-01-01, end = 2024-12-31 }")
    bounds = _Section(section.problems, raw or {}, section._at("temporal"))
    found: list[str | None] = []
    for key in ("start", "end"):
        value = bounds.get(key, (date, str), "a date (2010-01-01)")
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                bounds.problem(key, f"must be a date (2010-01-01), not {value!r}")
                value = None
        found.append(value.isoformat() if isinstance(value, date) else None)
    bounds.finish()
    if found[0] and found[1] and found[0] > found[1]:
        section.problem("temporal", "start is after end")
    return found[0], found[1]


def _csv(problems: list[Problem], raw: Any, base_dir: Path) -> CsvOptions | None:
    s = _Section(problems, raw, "csv")
    file = s.text("file", required=True)
    options: dict[str, Any] = {}
    for key in ("delimiter", "quote"):
        value = s.get(key, str, "one character")
        if value is not None and len(value) != 1:
            s.problem(key, f"must be one character, not {value!r}")
        elif value is not None:
            options[key] = value
    encoding = s.text("encoding")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
            options["encoding"] = encoding
        except LookupError:
            s.problem(
                "encoding", f"unknown encoding {encoding!r} (for example utf-8, latin-1, cp1252)"
            )
    decimal = s.choice("decimal", (".", ","), what="decimal separator")
    if decimal is not None:
        options["decimal"] = decimal
        if decimal == options.get("delimiter", ","):
            s.problem("decimal", "must differ from the delimiter")
    nulls = s.get("null_values", list, "a list of strings")
    if nulls is not None:
        if all(isinstance(v, str) for v in nulls):
            options["null_values"] = tuple(v.strip() for v in nulls)
        else:
            s.problem("null_values", "must be a list of strings")
    s.finish()
    if file is None:
        return None
    return CsvOptions(file=(base_dir / file).resolve(), **options)


def _column(problems: list[Problem], raw: Any, index: int) -> ColumnManifest | None:
    s = _Section(problems, raw, f"columns[{index}]")
    before = len(problems)
    header = s.text("header", required=True)
    name = s.text("name", required=True)
    if name is not None and not COLUMN_NAME.fullmatch(name):
        s.problem(
            "name",
            f"{name!r} is not a snake_case column name (lower-case letters, digits, _; starts with a letter)",
        )
    elif name is not None and len(name) > MAX_NAME:
        s.problem("name", f"longer than {MAX_NAME} characters (database identifiers stop at 63)")
    elif name is not None and (name in RESERVED_COLUMNS or keyword.iskeyword(name)):
        s.problem("name", f"{name!r} is reserved (the generated filter uses it)")
    kind = s.choice("type", TYPES, what="type", required=True)
    description = s.text("description", required=True)
    access = s.choice("access", ACCESS, default=PUBLIC, what="access level")
    role = s.choice("role", ROLES, what="role")
    primary_key = s.flag("primary_key", False)
    nullable = s.flag("nullable", not primary_key)
    if primary_key and nullable:
        s.problem("nullable", "a primary key cannot be nullable")
    if primary_key and access not in (PUBLIC, None):
        s.problem("access", "a primary key must be public: every cursor carries it")
    split = s.get("split", str, "a separator string such as ','")
    part = s.get("part", int, "a number (0 for the first piece)")
    if part is not None and part < 0:
        s.problem("part", "must be 0 or more")
    if split is not None and part is None:
        s.problem("part", "missing: `split` needs the `part` to keep (0 for the first piece)")
    if part is not None and split is None:
        split = ","
    fmt = s.text("format")
    if fmt is not None and kind not in ("date", "datetime"):
        s.problem("format", "only date and datetime columns take a format")
    elif fmt is not None and "%" not in fmt:
        s.problem("format", f"{fmt!r} is not a strptime format such as '%d/%m/%Y'")
    tz = s.text("timezone")
    if tz is not None and kind != "datetime":
        s.problem("timezone", "only datetime columns take a timezone")
    elif tz is not None:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            s.problem("timezone", f"unknown time zone {tz!r} (for example Europe/Paris)")
    group_by = s.flag("group_by", False)
    expected = {"latitude": "float", "longitude": "float", "district": "string"}.get(role or "")
    if expected and kind and kind != expected:
        s.problem("type", f"a {role} column must be of type {expected}, not {kind}")
    s.finish()
    if (
        len(problems) > before
        or header is None
        or name is None
        or kind is None
        or description is None
    ):
        return None
    return ColumnManifest(
        header=header.strip(),
        name=name,
        type=cast(ColumnType, kind),  # one of TYPES: `choice` checked it
        description=description,
        access=access or PUBLIC,
        nullable=nullable,
        primary_key=primary_key,
        role=role,
        split=split,
        part=part,
        format=fmt,
        timezone=tz,
        group_by=group_by,
    )


def _columns(problems: list[Problem], raw: Any) -> tuple[ColumnManifest, ...]:
    if raw is None:
        problems.append(Problem("columns", "missing: declare each column as a [[columns]] table"))
        return ()
    if not isinstance(raw, list) or not raw:
        problems.append(Problem("columns", "must be a non-empty array of [[columns]] tables"))
        return ()
    found = [_column(problems, item, i) for i, item in enumerate(raw)]
    seen: dict[str, int] = {}
    for i, col in enumerate(found):
        if col is None:
            continue
        if col.name in seen:
            problems.append(
                Problem(f"columns[{i}].name", f"{col.name!r} is also columns[{seen[col.name]}]")
            )
        seen.setdefault(col.name, i)
    columns = tuple(c for c in found if c is not None)
    if len(columns) != len(found):
        return columns  # the cross-column checks below would only repeat those problems
    if not any(c.primary_key for c in columns):
        problems.append(Problem("columns", "no column has primary_key = true (the id of a row)"))
    for role in ROLES:
        holders = [i for i, c in enumerate(columns) if c.role == role]
        for i in holders[1:]:
            problems.append(
                Problem(f"columns[{i}].role", f"{role!r} is also columns[{holders[0]}]")
            )
    lat, lon = (
        [i for i, c in enumerate(columns) if c.role == r] for r in ("latitude", "longitude")
    )
    if bool(lat) != bool(lon):
        problems.append(
            Problem(
                f"columns[{(lat or lon)[0]}].role",
                "latitude and longitude go together: declare both",
            )
        )
    has_district = any(c.role == "district" for c in columns)
    if lat and lon and not has_district and LOCATED_DISTRICT in seen:
        problems.append(
            Problem(
                f"columns[{seen[LOCATED_DISTRICT]}].name",
                f"{LOCATED_DISTRICT!r} is the column added from the coordinates; give this column "
                "role = 'district' or another name",
            )
        )
    if (has_district or (lat and lon)) and DISTRICT_RELATION in seen:
        problems.append(
            Problem(
                f"columns[{seen[DISTRICT_RELATION]}].name",
                f"{DISTRICT_RELATION!r} is the field that links a row to its District; rename this column",
            )
        )
    return columns


def parse_manifest(
    data: Mapping[str, Any], *, base_dir: Path, source: Path | str, stored: bool = False
) -> Manifest:
    """A manifest from parsed TOML (or a stored normalised copy when `stored`), or ManifestError."""
    problems: list[Problem] = []
    top = _Section(problems, dict(data), "")
    version = top.get("version", int, "a number")
    if version is not None and version != VERSION:
        top.problem(
            "version", f"unknown manifest version {version} (this citygraph reads {VERSION})"
        )
    d = _Section(
        problems,
        top.get("dataset", dict, "a [dataset] table", required=True) or {},
        "dataset",
        aliases={"licence": "license", "licence_url": "license_url"},
    )
    name = d.text("name", required=True)
    if name is not None and not DATASET_NAME.fullmatch(name):
        d.problem("name", f"{name!r} is not a camelCase GraphQL name such as 'streetTrees'")
    elif name is not None and len(name) > MAX_NAME:
        d.problem("name", f"longer than {MAX_NAME} characters (database identifiers stop at 63)")
    singular = d.text("singular")
    if singular is not None and not DATASET_NAME.fullmatch(singular):
        d.problem("singular", f"{singular!r} is not a camelCase GraphQL name such as 'streetTree'")
    if name is not None and singular is None:
        singular = singular_of(name)
        if singular == name:
            d.problem("name", f"{name!r} does not end like an English plural: set `singular` too")
    elif singular is not None and singular == name:
        d.problem("singular", "must differ from the name (one is the list, the other one row)")
    department = d.text("department", required=True)
    if department is not None and not DEPARTMENT_NAME.fullmatch(department):
        d.problem("department", f"{department!r} is not a department name (lower case, digits, _)")
    texts = {
        k: d.text(k, required=True)
        for k in ("title", "description", "publisher", "license", "attribution")
    }
    license_url = _url(d, "license_url", required=True)
    source_url = _url(d, "source_url", required=False)
    access = d.choice("access", ACCESS, default=PUBLIC, what="access level")
    frequency = d.choice("frequency", tuple(FREQUENCIES), default="irregular", what="frequency")
    keywords = d.get("keywords", list, "a list of strings") or []
    if not all(isinstance(k, str) and k.strip() for k in keywords):
        d.problem("keywords", "must be a list of non-empty strings")
    spatial = d.text("spatial") or "Paris, France"
    temporal = _temporal(d)
    synthetic = d.flag("synthetic", False)
    connection = d.text("district_connection")
    if connection is not None and not DATASET_NAME.fullmatch(connection):
        d.problem("district_connection", f"{connection!r} is not a camelCase GraphQL name")
    d.finish()
    csv = _csv(problems, top.get("csv", dict, "a [csv] table", required=True) or {}, base_dir)
    columns = _columns(problems, top.get("columns", list, "an array of [[columns]] tables"))
    publication = None
    if stored:
        p = _Section(
            problems, top.get("published", dict, "a table", required=True) or {}, "published"
        )
        values = {
            "sha256": p.text("sha256", required=True),
            "published_at": p.text("published_at", required=True),
            "manifest": p.text("manifest", required=True),
            "rows": p.get("rows", int, "a number", required=True),
        }
        p.finish()
        if all(v is not None for v in values.values()):
            publication = Publication(**values)
    top.finish()
    if problems:
        raise ManifestError(source, problems)
    return Manifest(
        name=_set(name),
        singular=_set(singular),
        department=_set(department),
        access=_set(access),
        csv=_set(csv),
        columns=columns,
        license_url=_set(license_url),
        source_url=source_url,
        frequency=_set(frequency),
        keywords=tuple(keywords),
        spatial=spatial,
        temporal=temporal,
        synthetic=synthetic,
        district_connection=connection,
        publication=publication,
        **{k: _set(v) for k, v in texts.items()},
    )


def _set(value: T | None) -> T:
    # parse_manifest only builds a Manifest when no problem was found, so every required value is set
    if value is None:
        raise AssertionError("a required manifest value is missing without a reported problem")
    return value


def load_manifest(path: Path) -> Manifest:
    """Read and validate a TOML manifest; relative paths in it are relative to its folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ManifestError(
            path, [Problem("", f"cannot read the file: {exc.strerror or exc}")]
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(path, [Problem("", f"not valid TOML: {exc}")]) from exc
    return parse_manifest(data, base_dir=path.parent.resolve(), source=path)


# the catalog it joins -----------------------------------------------------------------------


def _root_fields(spec: DatasetSpec) -> set[str]:
    return {spec.name, spec.singular, f"{spec.name}Aggregate"}


def _type_names(type_name: str) -> set[str]:
    return {type_name + suffix for suffix in GENERATED_SUFFIXES}


@dataclass(frozen=True, slots=True)
class SchemaNames:
    """The root fields (with their descriptions) and type names that are no dataset's."""

    root_fields: Mapping[str, str]
    types: frozenset[str]


@functools.cache
def schema_names() -> SchemaNames:
    """What the schema holds besides its datasets: the catalog, the statistics, the access log,
    and the types and scalars they and every dataset share (PageInfo, StringFilter...).

    Read from the gateway schema built with the built-in datasets, less the names those datasets
    generate, so a field added to the schema later is reserved without being listed anywhere.
    (A federation subgraph adds only names that start with `_`, which no dataset can take.)
    """
    specs = builtin_specs()
    type_map = build_gateway_schema(Catalog(specs))._schema.type_map
    query = type_map["Query"]
    if not isinstance(query, GraphQLObjectType):
        raise TypeError("the gateway schema's Query is not an object type")
    generated_roots = set().union(*(_root_fields(s) for s in specs))
    generated_types = set().union(*(_type_names(s.type_name) for s in specs))
    return SchemaNames(
        root_fields={
            name: field.description or ""
            for name, field in query.fields.items()
            if name not in generated_roots
        },
        types=GRAPHQL_TYPES
        | {n for n in type_map if n not in generated_types and not n.startswith("__")},
    )


def _first_sentence(text: str) -> str:
    head, stop, _rest = text.strip().partition(". ")
    return head + stop.strip()


def catalog_problems(manifest: Manifest, others: Iterable[DatasetSpec]) -> list[Problem]:
    """Names of `manifest` that the schema already uses, for `others` or itself, as problems."""
    problems: list[Problem] = []
    reserved = schema_names()
    roots: dict[str, str] = {
        name: f"is already in the schema ({_first_sentence(description) or 'Query.' + name})"
        for name, description in reserved.root_fields.items()
    }
    types: dict[str, str] = dict.fromkeys(reserved.types, "are already types of the schema")
    district: DatasetSpec | None = None
    for spec in others:
        roots.update(dict.fromkeys(_root_fields(spec), f"already belongs to dataset {spec.name!r}"))
        types.update(
            dict.fromkeys(_type_names(spec.type_name), f"already belong to dataset {spec.name!r}")
        )
        if spec.table.name == "district":
            district = spec
    for key, name in (
        ("name", manifest.name),
        ("singular", manifest.singular),
        ("name", f"{manifest.name}Aggregate"),
    ):
        if name in roots:
            problems.append(Problem(f"dataset.{key}", f"the root field {name!r} {roots[name]}"))
    type_name = pascal(manifest.singular)
    clashes: dict[str, list[str]] = {}
    for clash in sorted(_type_names(type_name) & set(types)):
        clashes.setdefault(types[clash], []).append(clash)
    for owner, names in clashes.items():
        problems.append(
            Problem(
                "dataset.singular",
                f"the type names it generates ({', '.join(names)}) {owner}; "
                "choose another name or singular",
            )
        )
    linked = manifest.role("district") is not None or manifest.locates_districts
    if linked and district is not None:
        taken = {c.field_name for c in district.columns} | {
            c.relation for c in district.columns if c.relation
        }
        for spec in others:
            taken.update(
                c.reverse or spec.name
                for c in spec.columns
                if c.references and c.references[0] == "district"
            )
        connection = manifest.district_connection or manifest.name
        if connection in taken:
            key = "dataset.district_connection" if manifest.district_connection else "dataset.name"
            problems.append(
                Problem(
                    key,
                    f"District already has a field {connection!r}; set `district_connection` "
                    "to name the connection listing this dataset's rows on a district",
                )
            )
    return problems
