"""A small, engine-neutral filter language and its compilation to SQL.

The GraphQL layer turns `where` arguments into these values; only this module turns them into SQL,
always with bound parameters (a filter value never becomes SQL text).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import String, and_, false, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.sql.functions import FunctionElement

Op = Literal[
    "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "starts_with", "is_null"
]

METRES_PER_DEGREE_LAT = 111_132.954  # mean length of a degree of latitude on the WGS84 ellipsoid


@dataclass(frozen=True, slots=True)
class Compare:
    """`column op value`; for `is_null`, value is True (is null) or False (is not null)."""

    column: str
    op: Op
    value: Any


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Negate:
    part: Filter


@dataclass(frozen=True, slots=True)
class Near:
    """Points within `radius_m` metres of (latitude, longitude)."""

    latitude_column: str
    longitude_column: str
    latitude: float
    longitude: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class InBox:
    """Points inside a latitude/longitude bounding box."""

    latitude_column: str
    longitude_column: str
    south: float
    west: float
    north: float
    east: float


Filter = Compare | AllOf | AnyOf | Negate | Near | InBox


def compile_filter(table: FromClause, spec: Filter | None) -> ColumnElement[bool]:
    """The SQL condition of a filter over `table` (which may be a table or a subquery)."""
    if spec is None:
        return true()
    columns = table.c
    match spec:
        case Compare(column=name, op=op, value=value):
            return _compare(columns[name], op, value)
        case AllOf(parts=parts):
            return and_(true(), *(compile_filter(table, p) for p in parts))
        case AnyOf(parts=parts):
            return or_(false(), *(compile_filter(table, p) for p in parts)) if parts else false()
        case Negate(part=part):
            return not_(compile_filter(table, part))
        case Near():
            return _near(table, spec)
        case InBox(latitude_column=lat, longitude_column=lon):
            return and_(
                columns[lat].between(spec.south, spec.north),
                columns[lon].between(spec.west, spec.east),
            )
    raise TypeError(f"not a filter: {spec!r}")


_ORDERED = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


class unicode_lower(FunctionElement[str]):
    """lower() that folds every letter on both engines.

    Text columns use the "C" collation on PostgreSQL (so both engines sort alike), and under "C"
    lower() folds ASCII only: the column is re-collated with ICU's root locale for folding.
    SQLite's lower() is replaced by Python's on connect (storage.engines).
    """

    inherit_cache = True
    type = String()


@compiles(unicode_lower)
def _lower_default(element: unicode_lower, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "postgresql")
def _lower_postgresql(element: unicode_lower, compiler: Any, **kw: Any) -> str:
    return f'lower(({compiler.process(element.clauses, **kw)}) COLLATE "und-x-icu")'


def _compare(column: ColumnElement[Any], op: Op, value: Any) -> ColumnElement[bool]:
    if op == "eq":
        return column.is_(None) if value is None else column == value
    if op == "ne":
        return column.is_not(None) if value is None else or_(column != value, column.is_(None))
    if op == "in":
        return column.in_(list(value))
    if op == "not_in":
        return or_(column.not_in(list(value)), column.is_(None))
    if op in _ORDERED:
        return cast("ColumnElement[bool]", _ORDERED[op](column, value))
    if op == "contains":
        return unicode_lower(column).contains(value.lower(), autoescape=True)
    if op == "starts_with":
        return unicode_lower(column).startswith(value.lower(), autoescape=True)
    if op == "is_null":
        return column.is_(None) if value else column.is_not(None)
    raise ValueError(f"unknown operator {op}")


def _near(table: FromClause, spec: Near) -> ColumnElement[bool]:
    # An equirectangular projection around the centre: within a city (a few km) it is exact to a
    # fraction of a metre, and it is plain arithmetic, so SQLite and PostgreSQL agree.
    lat, lon = table.c[spec.latitude_column], table.c[spec.longitude_column]
    per_deg_lon = METRES_PER_DEGREE_LAT * math.cos(math.radians(spec.latitude))
    dlat = spec.radius_m / METRES_PER_DEGREE_LAT
    dlon = spec.radius_m / per_deg_lon if per_deg_lon > 0 else 180.0
    dy = (lat - spec.latitude) * METRES_PER_DEGREE_LAT
    dx = (lon - spec.longitude) * per_deg_lon
    return and_(
        lat.between(spec.latitude - dlat, spec.latitude + dlat),  # index-friendly prefilter
        lon.between(spec.longitude - dlon, spec.longitude + dlon),
        dx * dx + dy * dy <= spec.radius_m * spec.radius_m,
    )


def all_of(parts: Sequence[Filter]) -> Filter | None:
    """Conjunction of the parts, or None when there are none."""
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))
