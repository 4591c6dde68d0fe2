"""Datasets as the schema builder sees them: a table, its catalog entry and its column specs.

Built-in datasets come from the departments' SQLModel models; published datasets (manifests) come
from tables built at start-up. Both end up as `DatasetSpec`s, and everything after this point is
the same for both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any, cast

from sqlalchemy import Column, String, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel.sql.sqltypes import AutoString

from schema.modeling import TEXT, CityModel, Dataset, is_restricted

ListOf = cast(Any, list)
"""`list` for element types only known at run time (generated types); mypy sees `Any`."""

PYTHON_TYPES: tuple[type, ...] = (bool, int, float, str, date, datetime)


def camel(name: str) -> str:
    """snake_case to camelCase: `area_m2` -> `areaM2`."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def pascal(name: str) -> str:
    """camelCase or snake_case to PascalCase."""
    c = camel(name)
    return c[:1].upper() + c[1:]


def singular_of(plural: str) -> str:
    """English singular of a camelCase plural, good enough for dataset names."""
    for suffix, replacement in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("xes", "x"),
        ("s", ""),
    ):
        if plural.endswith(suffix):
            return plural[: -len(suffix)] + replacement
    return plural


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column with everything the builder needs to expose it."""

    name: str
    field_name: str
    python_type: type
    nullable: bool
    description: str
    access: str
    primary_key: bool
    references: tuple[str, str] | None
    relation: str | None
    reverse: str | None
    role: str | None
    group_by: bool

    @property
    def restricted(self) -> bool:
        return is_restricted(self.access)

    @property
    def numeric(self) -> bool:
        return self.python_type in (int, float) and self.role not in ("latitude", "longitude")


@dataclass(eq=False)
class DatasetSpec:
    """A dataset: its table, catalog entry and columns."""

    table: Table
    meta: Dataset
    columns: tuple[ColumnSpec, ...]
    model: type[CityModel] | None = None
    published: bool = False
    """True for datasets published through a manifest."""
    referenced_by: list[tuple[DatasetSpec, ColumnSpec]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def department(self) -> str:
        return self.meta.department

    @cached_property
    def type_name(self) -> str:
        return pascal(self.singular)

    @cached_property
    def singular(self) -> str:
        return self.meta.singular or singular_of(self.meta.name)

    @cached_property
    def primary_key(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.primary_key)

    @property
    def restricted(self) -> bool:
        return is_restricted(self.meta.access)

    @property
    def versioned(self) -> bool:
        """Whether the dataset keeps its history (storage.versions): asOf, citations.

        Only public datasets without a restricted column do. Personal data keeps no history:
        what is erased or corrected must be gone, not one `asOf` away.
        """
        return not self.restricted and not any(c.restricted for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    def role(self, role: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.role == role), None)

    @property
    def geographic(self) -> bool:
        return self.role("latitude") is not None and self.role("longitude") is not None


def _python_type(col: Column[Any]) -> type:
    sql_type = col.type
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl_instance
    kind = sql_type.python_type
    if kind not in PYTHON_TYPES:
        raise TypeError(f"{col.table.name}.{col.name}: unsupported column type {col.type!r}")
    return kind


def column_spec(col: Column[Any]) -> ColumnSpec:
    """The spec of a table column from the metadata `schema.modeling.column` stored on it."""
    info = col.info
    references = None
    if info.get("references"):
        target_table, target_column = info["references"].split(".")
        references = (target_table, target_column)
    relation = info.get("relation")
    if references and not relation:
        relation = re.sub(r"_(code|id)$", "", col.name)
    return ColumnSpec(
        name=col.name,
        field_name=camel(col.name),
        python_type=_python_type(col),
        nullable=bool(col.nullable) and not col.primary_key,
        description=info.get("description") or col.comment or col.name,
        access=info.get("access", "public"),
        primary_key=col.primary_key,
        references=references,
        relation=camel(relation) if relation else None,
        reverse=info.get("reverse"),
        role=info.get("role"),
        group_by=bool(info.get("group_by")),
    )


def spec_of_table(
    table: Table, meta: Dataset, *, model: type[CityModel] | None = None, published: bool = False
) -> DatasetSpec:
    """A dataset spec from a table whose columns carry `column(...)` metadata."""
    for col in table.columns:
        if isinstance(col.type, AutoString | String) and not col.type._variant_mapping:
            col.type = TEXT
    return DatasetSpec(
        table=table,
        meta=meta,
        columns=tuple(column_spec(c) for c in table.columns),
        model=model,
        published=published,
    )


def spec_of_model(model: type[CityModel]) -> DatasetSpec:
    """A dataset spec from a department's SQLModel model."""
    table = model.__table__  # type: ignore[attr-defined]
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return spec_of_table(table, model.__dataset__, model=model)


class Catalog:
    """Every dataset of the city, with their cross references resolved."""

    def __init__(self, specs: list[DatasetSpec]) -> None:
        names = [s.name for s in specs]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"two datasets share the name(s) {sorted(duplicates)}")
        self.datasets = specs
        self._by_table = {s.table.name: s for s in specs}
        for spec in specs:
            spec.referenced_by = []  # a spec may have been part of another catalog before
        for spec in specs:
            for col in spec.columns:
                if col.references and col.references[0] in self._by_table:
                    self._by_table[col.references[0]].referenced_by.append((spec, col))

    def by_table(self, table: str) -> DatasetSpec | None:
        return self._by_table.get(table)

    def by_name(self, name: str) -> DatasetSpec:
        return next(s for s in self.datasets if s.name == name)

    def departments(self) -> list[str]:
        return sorted({s.department for s in self.datasets})
