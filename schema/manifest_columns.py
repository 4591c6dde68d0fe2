"""Reading the `[[columns]]` of a manifest: each column's keys, then the checks across columns."""

from __future__ import annotations

import keyword
import zoneinfo
from typing import Any, cast

from auth.scopes import PUBLIC
from schema.manifest import (
    ACCESS,
    COLUMN_NAME,
    DISTRICT_RELATION,
    LOCATED_DISTRICT,
    MAX_NAME,
    RESERVED_COLUMNS,
    ROLES,
    TYPES,
    ColumnManifest,
    ColumnType,
    Problem,
)
from schema.manifest_sections import Section


def _column(problems: list[Problem], raw: Any, index: int) -> ColumnManifest | None:
    s = Section(problems, raw, f"columns[{index}]")
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


def read_columns(problems: list[Problem], raw: Any) -> tuple[ColumnManifest, ...]:
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
