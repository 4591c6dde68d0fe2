"""How a department declares a dataset: column metadata and catalog metadata on SQLModel models.

A model is the single source of truth. `column(...)` wraps SQLModel's `Field` and stores what the
schema builder needs in the SQLAlchemy column's `info` dict; `Dataset` is the catalog entry (DCAT-AP
fields) attached to the model as `__dataset__`. Everything else (GraphQL types, filters, orderings,
aggregates, loaders, access marks) is derived from these two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from auth.scopes import PUBLIC, Scope

Role = Literal["latitude", "longitude", "district", "quartier", "geometry", "label"]

# PostgreSQL sorts text by the database locale while SQLite compares bytes; "C" makes both agree,
# so the same query gives the same page on both engines.
TEXT = String().with_variant(String(collation="C"), "postgresql")


def column(
    description: str,
    *,
    access: str = PUBLIC,
    primary_key: bool = False,
    references: str | None = None,
    relation: str | None = None,
    reverse: str | None = None,
    role: Role | None = None,
    index: bool | None = None,
    default: Any = None,
    group_by: bool = False,
) -> Any:
    """Declare a dataset column with its description and access mark.

    `references` is "table.column" of the entity this column points to; `relation` names the
    object field that follows it (default: the column name without `_code`/`_id`) and `reverse`
    names the connection on the target listing the rows that point to it (default: the dataset's
    plural name). `role` tells the builder which columns are coordinates, the district link or a
    GeoJSON geometry. `group_by` marks columns offered to aggregates' group-by besides the
    defaults (relations and short text). `index` defaults to true for a column with `references`;
    pass False when a composite index in the model's `__table_args__` starts with the column.
    """
    info = {
        "description": description,
        "access": str(access),
        "references": references,
        "relation": relation,
        "reverse": reverse,
        "role": role,
        "group_by": group_by,
    }
    kwargs: dict[str, Any] = {"info": info, "comment": description}
    return Field(
        default=default,
        primary_key=primary_key,
        index=references is not None if index is None else index,
        description=description,
        sa_column_kwargs=kwargs,
    )


@dataclass(frozen=True, slots=True)
class Dataset:
    """Catalog entry of a dataset (the DCAT-AP fields), declared on its model as `__dataset__`."""

    name: str
    """Root field name of the list, in camelCase plural: `bikeStations`."""
    title: str
    description: str
    department: str
    publisher: str
    license: str
    license_url: str
    attribution: str
    access: str = PUBLIC
    singular: str | None = None
    """Root field name of one row by key: `bikeStation`; default: `name` without a trailing s."""
    frequency: str = "irregular"
    keywords: tuple[str, ...] = ()
    source: str | None = None
    spatial: str = "Paris, France"
    temporal: tuple[str | None, str | None] = (None, None)
    synthetic: bool = False
    owner: str | None = None
    """Column holding the id of the resident each row is about: citizens read their own rows."""
    extra: dict[str, Any] = field(default_factory=dict)


class CityModel(SQLModel):
    """Base of every dataset model; tables carry a `__dataset__` catalog entry."""

    __dataset__: ClassVar[Dataset]


def is_restricted(access: str) -> bool:
    """True when an access mark names a scope rather than `public`."""
    return access != PUBLIC


def scope_of(access: str) -> Scope | None:
    """The scope an access mark requires, or None for public."""
    return None if access == PUBLIC else Scope(access)
