"""Generated aggregates with group-by: `bikeStationsAggregate(where:, groupBy:)`.

One SQL statement per call (GROUP BY over the filtered rows). Measures over a restricted column,
and grouping by one, are checked like reads of that column.
"""

from __future__ import annotations

import enum
from dataclasses import replace
from typing import Annotated, Any, cast

import strawberry

from auth.policy import can_read
from schema.access import check, guarded_field, list_owner, row_filter
from schema.as_of import AS_OF_DESCRIPTION, begin_as_of, version_for
from schema.context import CityContext
from schema.datasets import ColumnSpec, DatasetSpec, ListOf
from schema.errors import BadInput
from schema.inputs import DatasetInputs
from storage.filters import all_of
from storage.repository import AggregateQuery, Measure

Info = strawberry.Info[CityContext, Any]
MEASURES: tuple[Measure, ...] = ("sum", "avg", "min", "max")
MAX_GROUPS = 10_000


class Measures:
    """Values of one measure (sum, avg, ...) for each numeric column of a group."""

    __slots__ = ("__dict__",)


class Group:
    """One group: its key row, its row count, and each measure."""

    def __init__(self, row: Any, key_columns: tuple[str, ...], numeric: list[ColumnSpec]) -> None:
        self.key = Measures()
        for name in key_columns:
            setattr(self.key, name, getattr(row, name))
        self.count = int(row.m_count_rows)
        for measure in MEASURES:
            values = Measures()
            for col in numeric:
                raw = getattr(row, f"m_{measure}_{col.name}", None)
                value = None if raw is None else float(raw)
                if value is not None and measure == "avg":
                    value = round(value, 9)  # SQLite and PostgreSQL differ in the last bits
                setattr(values, col.name, value)
            setattr(self, measure, values)


class DatasetAggregate:
    """Aggregate types and root field of one dataset."""

    def __init__(self, spec: DatasetSpec, inputs: DatasetInputs) -> None:
        self.spec = spec
        self.inputs = inputs
        name = spec.type_name
        self.numeric = [c for c in spec.columns if c.numeric]
        self.groupable = [c for c in spec.columns if c.role != "geometry"]
        self.group_enum = strawberry.enum(
            cast(
                Any, enum.Enum(f"{name}GroupBy", {c.name.upper(): c.name for c in self.groupable})
            ),
            description=f"Columns {spec.meta.title} can be grouped by.",
        )
        key_ns: dict[str, Any] = {"__annotations__": {}}
        for col in self.groupable:
            key_ns["__annotations__"][col.name] = col.python_type | None
            key_ns[col.name] = guarded_field(
                col.access,
                rows=list_owner(spec),
                description=f"{col.description} Null when not grouped by it.",
            )
        self.key_type = strawberry.type(
            type(f"{name}GroupKey", (), key_ns),
            description=f"Group-by values of a {spec.singular} group.",
        )
        self.numbers_type: type | None = None
        group_ns: dict[str, Any] = {
            "__annotations__": {"key": self.key_type, "count": int},
            "key": strawberry.field(description="Values of the group-by columns."),
            "count": strawberry.field(description="Rows in the group."),
        }
        if self.numeric:
            num_ns: dict[str, Any] = {"__annotations__": {}}
            for col in self.numeric:
                num_ns["__annotations__"][col.name] = float | None
                num_ns[col.name] = guarded_field(
                    col.access, rows=list_owner(spec), description=col.description
                )
            self.numbers_type = strawberry.type(
                type(f"{name}Numbers", (), num_ns),
                description=f"One measure over the numeric columns of {spec.meta.title}.",
            )
            for measure in MEASURES:
                group_ns["__annotations__"][measure] = self.numbers_type
                group_ns[measure] = strawberry.field(
                    description=f"{measure} of each numeric column (null when no value)."
                )
        self.group_type = strawberry.type(
            type(f"{name}Group", (), group_ns),
            description=f"A group of {spec.meta.title} rows and its measures.",
        )

    def query(
        self, info: Info, *, where: Any, group_by: Any
    ) -> tuple[AggregateQuery, tuple[str, ...], list[ColumnSpec]]:
        """The aggregate query of a call's arguments (checked like reads of the columns they
        name), its group-by columns and the numeric columns the caller may measure.

        The compiled path (schema.compiled) binds its aggregates with this too.
        """
        spec = self.spec
        by_name = {c.name: c for c in self.groupable}
        keys = tuple(dict.fromkeys(g.value for g in (group_by or [])))
        for key in keys:
            check(info, by_name[key].access, list_owner(spec))
        principal = info.context.principal
        readable = [
            c for c in self.numeric if can_read(principal, c.access, owner=list_owner(spec)) is None
        ]
        measures: list[tuple[Measure, str | None]] = [("count", None)]
        measures += [(m, c.name) for m in MEASURES for c in readable]
        query = AggregateQuery(
            group_by=keys,
            measures=tuple(measures),
            filter=all_of(
                [f for f in (row_filter(info, spec), self.inputs.to_filter(info, where)) if f]
            ),
            limit=MAX_GROUPS + 1,
        )
        return query, keys, readable

    def root_field(self) -> Any:
        spec, inputs, group_type = self.spec, self.inputs, self.group_type

        async def resolve(
            root: Any,
            info: Info,
            where: Any = None,
            group_by: Any = None,
            as_of: str | None = None,
        ) -> Any:
            await begin_as_of(info, as_of)
            version = await version_for(info, spec.name, versioned=spec.versioned)
            query, keys, readable = self.query(info, where=where, group_by=group_by)
            query = replace(query, version=version)
            rows = await info.context.loaders.repositories[spec.name].aggregate(query)
            if len(rows) > MAX_GROUPS:
                raise BadInput(
                    f"more than {MAX_GROUPS} groups: group by fewer columns or filter more"
                )
            return [Group(r, keys, readable) for r in rows]

        resolve.__annotations__.update(
            {
                "where": Annotated[
                    inputs.filter | None,
                    strawberry.argument(
                        description="Conditions the rows must meet before grouping."
                    ),
                ],
                "group_by": Annotated[
                    ListOf[self.group_enum] | None,
                    strawberry.argument(
                        description="Columns whose values make the groups; none: one group."
                    ),
                ],
                "as_of": Annotated[str | None, strawberry.argument(description=AS_OF_DESCRIPTION)],
                "return": ListOf[group_type] | None,
            }
        )
        field_resolver: Any = resolve
        if not spec.versioned:  # asOf only where there is a history to ask

            async def resolve_live(
                root: Any, info: Info, where: Any = None, group_by: Any = None
            ) -> Any:
                return await resolve(root, info, where=where, group_by=group_by)

            resolve_live.__annotations__.update(
                {k: v for k, v in resolve.__annotations__.items() if k != "as_of"}
            )
            field_resolver = resolve_live
        return guarded_field(
            spec.meta.access,
            rows=list_owner(spec),
            resolver=field_resolver,
            description=f"Count, sum, avg, min and max of {spec.meta.title}, grouped by any columns. "
            "Without groupBy, one group over every matching row.",
        )
