"""Generated `where` and `orderBy` inputs of every dataset, and their translation to storage filters.

Every column gets an operator input by its type; geographic datasets also get `near`, `withinBox`
and `withinDistrict`. A filter, ordering or group-by on a restricted column is checked like a read
of that column: sorting or filtering by a value reveals it.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, cast

import strawberry

from schema.access import check, list_owner, requires
from schema.datasets import ColumnSpec, DatasetSpec, ListOf, pascal
from schema.errors import BadInput
from storage.filters import AllOf, AnyOf, Compare, Filter, InBox, Near, Negate, all_of
from storage.paging import SortKey

MAX_IN_LIST = 1_000
MAX_FILTER_DEPTH = 8
MAX_RADIUS_M = 50_000.0


@strawberry.enum(description="Sort direction; nulls always come last.")
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


def _operator_input(name: str, kind: Any, *, ordered: bool, text: bool) -> type:
    ann: dict[str, Any] = {
        "eq": kind | None,
        "ne": kind | None,
        "in_": ListOf[kind] | None,
        "not_in": ListOf[kind] | None,
    }
    ns: dict[str, Any] = {
        "eq": strawberry.field(default=None, description="Equal to."),
        "ne": strawberry.field(default=None, description="Not equal to (nulls included)."),
        "in_": strawberry.field(name="in", default=None, description="One of these values."),
        "not_in": strawberry.field(
            default=None, description="None of these values (nulls included)."
        ),
    }
    if ordered:
        for op, text_ in (
            ("gt", "Greater than."),
            ("gte", "At least."),
            ("lt", "Less than."),
            ("lte", "At most."),
        ):
            ann[op] = kind | None
            ns[op] = strawberry.field(default=None, description=text_)
    if text:
        ann["contains"] = str | None
        ns["contains"] = strawberry.field(
            default=None, description="Contains this text, ignoring case."
        )
        ann["starts_with"] = str | None
        ns["starts_with"] = strawberry.field(
            default=None, description="Starts with this text, ignoring case."
        )
    ann["is_null"] = bool | None
    ns["is_null"] = strawberry.field(default=None, description="True: only nulls; false: no nulls.")
    ns["__annotations__"] = ann
    return strawberry.input(
        type(name, (), ns), description=f"Conditions on a {name.removesuffix('Filter')} value."
    )


OPERATOR_INPUTS: dict[type, type] = {
    str: _operator_input("StringFilter", str, ordered=True, text=True),
    int: _operator_input("IntFilter", int, ordered=True, text=False),
    float: _operator_input("FloatFilter", float, ordered=True, text=False),
    bool: _operator_input("BooleanFilter", bool, ordered=False, text=False),
    dt.date: _operator_input("DateFilter", dt.date, ordered=True, text=False),
    dt.datetime: _operator_input("DateTimeFilter", dt.datetime, ordered=True, text=False),
}

_OPS = {
    "eq": "eq",
    "ne": "ne",
    "in_": "in",
    "not_in": "not_in",
    "gt": "gt",
    "gte": "gte",
    "lt": "lt",
    "lte": "lte",
    "contains": "contains",
    "starts_with": "starts_with",
    "is_null": "is_null",
}


@strawberry.input(description="Points within a radius of a position.")
class NearInput:
    latitude: float = strawberry.field(description="Latitude of the centre (WGS84).")
    longitude: float = strawberry.field(description="Longitude of the centre (WGS84).")
    radius_m: float = strawberry.field(description="Radius in metres, at most 50 000.")


@strawberry.input(description="Points inside a bounding box.")
class BoxInput:
    south: float = strawberry.field(description="Southern latitude.")
    west: float = strawberry.field(description="Western longitude.")
    north: float = strawberry.field(description="Northern latitude.")
    east: float = strawberry.field(description="Eastern longitude.")


class DatasetInputs:
    """The `where`, `orderBy` and group-by types of one dataset and how to read them."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        name = spec.type_name
        cls = type(f"{name}Filter", (), {})
        ann: dict[str, Any] = {}
        for col in spec.columns:
            ann[col.name] = OPERATOR_INPUTS[col.python_type] | None
            setattr(
                cls,
                col.name,
                strawberry.field(
                    default=None,
                    description=col.description,
                    directives=[requires(col.access)] if col.restricted else [],
                ),
            )
        for logical, kind, text in (
            ("and_", ListOf[cls] | None, "Every one of these filters."),
            ("or_", ListOf[cls] | None, "At least one of these filters."),
            ("not_", cls | None, "Not this filter."),
        ):
            ann[logical] = kind
            setattr(
                cls,
                logical,
                strawberry.field(name=logical.rstrip("_"), default=None, description=text),
            )
        if spec.geographic:
            ann["near"] = NearInput | None
            cls.near = strawberry.field(default=None, description="Within a radius of a point.")  # type: ignore[attr-defined]
            ann["within_box"] = BoxInput | None
            cls.within_box = strawberry.field(default=None, description="Inside a bounding box.")  # type: ignore[attr-defined]
        district = spec.role("district")
        if district is not None:
            ann["within_district"] = str | None
            cls.within_district = strawberry.field(  # type: ignore[attr-defined]
                default=None,
                description="Within the arrondissement of this INSEE code (for example 75104).",
                directives=[requires(district.access)] if district.restricted else [],
            )
        cls.__annotations__ = ann
        self.filter = strawberry.input(
            cls, description=f"Conditions on {spec.meta.title}; all must hold."
        )

        self.field_enum = strawberry.enum(
            cast(Any, enum.Enum(f"{name}Field", {c.name.upper(): c.name for c in spec.columns})),
            description=f"Columns of {spec.meta.title}.",
        )
        order_cls = type(
            f"{name}OrderBy",
            (),
            {
                "__annotations__": {"field": self.field_enum, "direction": SortDirection},
                "field": strawberry.field(description="Column to sort by."),
                "direction": strawberry.field(
                    default=SortDirection.ASC, description="Direction; nulls last."
                ),
            },
        )
        self.order_by = strawberry.input(order_cls, description=f"A sort key of {spec.meta.title}.")

    # translation ---------------------------------------------------------------------------

    def to_filter(self, info: strawberry.Info, where: Any, depth: int = 0) -> Filter | None:
        """The storage filter of a `where` argument, after checking access to every column used."""
        if where is None:
            return None
        if depth > MAX_FILTER_DEPTH:
            raise BadInput(f"filters nest at most {MAX_FILTER_DEPTH} levels deep")
        parts: list[Filter] = []
        for col in self.spec.columns:
            ops = getattr(where, col.name)
            if ops is None:
                continue
            check(info, col.access, list_owner(self.spec))
            parts.extend(self._compare(col, ops))
        if where.and_ is not None:
            parts.extend(
                f for w in where.and_ if (f := self.to_filter(info, w, depth + 1)) is not None
            )
        if where.or_ is not None:
            parts.append(
                AnyOf(tuple(self.to_filter(info, w, depth + 1) or AllOf(()) for w in where.or_))
            )
        if where.not_ is not None:
            inner = self.to_filter(info, where.not_, depth + 1)
            if inner is not None:
                parts.append(Negate(inner))
        parts.extend(self._geographic(info, where))
        return all_of(parts)

    def _compare(self, col: ColumnSpec, ops: Any) -> list[Filter]:
        found: list[Filter] = []
        for attr, op in _OPS.items():
            value = getattr(ops, attr, None)
            if value is None:
                continue
            if op in ("in", "not_in"):
                if len(value) > MAX_IN_LIST:
                    raise BadInput(f"`in` lists take at most {MAX_IN_LIST} values")
                value = tuple(value)
            if isinstance(value, dt.datetime):
                value = _utc(value)
            elif op in ("in", "not_in"):
                value = tuple(_utc(v) if isinstance(v, dt.datetime) else v for v in value)
            found.append(Compare(col.name, op, value))  # type: ignore[arg-type]
        return found

    def _geographic(self, info: strawberry.Info, where: Any) -> list[Filter]:
        found: list[Filter] = []
        lat, lon = self.spec.role("latitude"), self.spec.role("longitude")
        near = getattr(where, "near", None)
        if near is not None and lat and lon:
            check(info, lat.access, list_owner(self.spec))
            if not (-90 <= near.latitude <= 90 and -180 <= near.longitude <= 180):
                raise BadInput("near: latitude must be within ±90 and longitude within ±180")
            if not 0 < near.radius_m <= MAX_RADIUS_M:
                raise BadInput(f"near: radiusM must be above 0 and at most {MAX_RADIUS_M:.0f}")
            found.append(Near(lat.name, lon.name, near.latitude, near.longitude, near.radius_m))
        box = getattr(where, "within_box", None)
        if box is not None and lat and lon:
            check(info, lat.access, list_owner(self.spec))
            if box.south > box.north or box.west > box.east:
                raise BadInput("withinBox: south must not exceed north, nor west exceed east")
            found.append(InBox(lat.name, lon.name, box.south, box.west, box.north, box.east))
        code = getattr(where, "within_district", None)
        district = self.spec.role("district")
        if code is not None and district is not None:
            check(info, district.access, list_owner(self.spec))
            found.append(Compare(district.name, "eq", code))
        return found

    def to_order(self, info: strawberry.Info, order_by: list[Any] | None) -> tuple[SortKey, ...]:
        """The sort keys of an `orderBy` argument, checked like reads of the columns they name."""
        keys: list[SortKey] = []
        seen: set[str] = set()
        for item in order_by or []:
            name = item.field.value
            if name in seen:
                raise BadInput(f"orderBy names {pascal(name)} twice")
            seen.add(name)
            check(info, self.spec.column(name).access, list_owner(self.spec))
            keys.append(SortKey(name, descending=item.direction is SortDirection.DESC))
        return tuple(keys)


def _utc(value: dt.datetime) -> dt.datetime:
    # times are stored in UTC; a time without an offset is read as UTC
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
