"""Reading a manifest: TOML (or a stored normalised copy) to a validated `Manifest`.

`load_manifest(path)` reads and validates a manifest and raises one `ManifestError` listing every
problem with its key path (`columns[3].type: ...`); `parse_manifest(data, ...)` does the same for
an already parsed mapping (the normalised copies stored under `<data_dir>/published/`). A string
holding a control character (storage.controls) is a problem at its key path like any other.
"""

from __future__ import annotations

import codecs
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from auth.scopes import PUBLIC
from schema.datasets import singular_of
from schema.dcat import FREQUENCIES
from schema.manifest import (
    ACCESS,
    DATASET_NAME,
    DEPARTMENT_NAME,
    DISTRICT_FROM,
    MAX_NAME,
    VERSION,
    CsvOptions,
    Manifest,
    ManifestError,
    Problem,
    Publication,
)
from schema.manifest_columns import read_columns
from schema.manifest_sections import Section
from storage.controls import control_character, why_refused

T = TypeVar("T")


def _url(section: Section, key: str, *, required: bool) -> str | None:
    value = section.text(key, required=required)
    if value is not None and (
        urlparse(value).scheme not in ("http", "https") or not urlparse(value).netloc
    ):
        section.problem(key, f"must be an http(s) URL, not {value!r}")
    return value


def _temporal(section: Section) -> tuple[str | None, str | None]:
    raw = section.get("temporal", dict, "a table such as { start = 2010-01-01, end = 2024-12-31 }")
    bounds = Section(section.problems, raw or {}, section._at("temporal"))
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
    s = Section(problems, raw, "csv")
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


def parse_manifest(
    data: Mapping[str, Any], *, base_dir: Path, source: Path | str, stored: bool = False
) -> Manifest:
    """A manifest from parsed TOML (or a stored normalised copy when `stored`), or ManifestError."""
    problems: list[Problem] = list(_controls(data, ""))
    top = Section(problems, dict(data), "")
    version = top.get("version", int, "a number")
    if version is not None and version != VERSION:
        top.problem(
            "version", f"unknown manifest version {version} (this citygraph reads {VERSION})"
        )
    d = Section(
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
    district_from = d.choice(
        "district_from", DISTRICT_FROM, default="label", what="source of the district"
    )
    d.finish()
    csv = _csv(problems, top.get("csv", dict, "a [csv] table", required=True) or {}, base_dir)
    columns = read_columns(problems, top.get("columns", list, "an array of [[columns]] tables"))
    publication = None
    if stored:
        p = Section(
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
        district_from=district_from or "label",
        publication=publication,
        **{k: _set(v) for k, v in texts.items()},
    )


def _controls(value: Any, path: str) -> list[Problem]:
    """A problem for each string (or key) holding a control character, at its key path."""
    found = []
    if isinstance(value, str):
        if (char := control_character(value)) is not None:
            found.append(Problem(path, f"the text {why_refused(char)}"))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            at = f"{path}.{key}" if path else str(key)
            if (char := control_character(str(key))) is not None:
                found.append(Problem(path, f"a key {why_refused(char)}"))
            found.extend(_controls(item, at))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_controls(item, f"{path}[{i}]"))
    return found


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
