"""The table of a published dataset: its columns, and the `info` every column carries.

The tables carry the same column `info` as `schema.modeling.column` writes, so everything
downstream (types, filters, access rules) treats published and built-in datasets alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Date, Float, Integer, MetaData, Table
from sqlalchemy.types import TypeEngine
from sqlmodel.sql.sqltypes import UTCDateTime

from schema.datasets import DatasetSpec, spec_of_table
from schema.manifest import DISTRICT_RELATION, LOCATED_DISTRICT, Manifest
from schema.modeling import TEXT


def _sql_type(kind: str) -> TypeEngine[Any]:
    types: dict[str, TypeEngine[Any]] = {
        "string": TEXT,
        "integer": Integer(),
        "float": Float(),
        "boolean": Boolean(),
        "date": Date(),
        # aware UTC values: timestamptz on PostgreSQL; SQLite keeps the UTC text, and
        # UTCDateTime gives it back its zone, so both engines answer `+00:00`
        "datetime": UTCDateTime(),
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


def signature(manifest: Manifest) -> tuple[Any, ...]:
    # what the table's DDL depends on: a change here means drop and recreate
    cols = tuple(
        (c.name, c.type, c.nullable, c.primary_key, c.role == "district") for c in manifest.columns
    )
    return (*cols, manifest.locates_districts)
