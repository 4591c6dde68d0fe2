"""Generated object types of the datasets: columns, relations, reverse connections, list fields.

For each dataset the builder makes the node type (one field per column, restricted ones guarded),
its connection types, its inputs, and the resolvers that turn arguments into keyset page queries.
Plain columns have no resolver at all: GraphQL's default resolver reads them off the SQL row.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

import strawberry
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.nodes import FragmentSpread, InlineFragment, Selection

from auth.policy import NOT_PERSONAL
from schema.access import check, guarded_field, list_owner, requires, row_filter
from schema.connections import Connection, connection_types
from schema.context import CityContext
from schema.datasets import Catalog, ColumnSpec, DatasetSpec, ListOf
from schema.errors import BadInput
from schema.inputs import DatasetInputs
from schema.scalars import GeoJSON
from storage.filters import all_of
from storage.paging import InvalidCursor, decode_cursor, total_order
from storage.repository import PageQuery

Info = strawberry.Info[CityContext, Any]


def selects(info: Info, name: str) -> bool:
    """True when the current field's selection asks for `name` (through fragments too)."""

    def walk(selections: list[Selection]) -> bool:
        for sel in selections:
            if isinstance(sel, FragmentSpread | InlineFragment):
                if walk(sel.selections):
                    return True
            elif sel.name == name:
                return True
        return False

    return any(walk(f.selections) for f in info.selected_fields)


class PageLimits:
    def __init__(self, default: int, maximum: int) -> None:
        self.default = default
        self.maximum = maximum


class DatasetTypes:
    """Everything generated for one dataset."""

    def __init__(self, spec: DatasetSpec, limits: PageLimits) -> None:
        self.spec = spec
        self.limits = limits
        # generated classes: mypy cannot follow them, so they are typed Any
        self.node: Any = type(spec.type_name, (), {"__annotations__": {}})
        self.inputs = DatasetInputs(spec)
        self.edge: Any = None
        self.connection: Any = None

    # the node type -------------------------------------------------------------------------

    def add_columns(self) -> None:
        ann = self.node.__annotations__
        for col in self.spec.columns:
            kind: Any = GeoJSON if col.role == "geometry" else col.python_type
            ann[col.name] = kind | None if (col.nullable or col.restricted) else kind
            setattr(
                self.node,
                col.name,
                guarded_field(
                    col.access, owner_column=self.spec.meta.owner, description=col.description
                ),
            )

    def add_relation(self, col: ColumnSpec, target: DatasetTypes) -> None:
        """`district` on a bike station: the row the column points to, batched by a loader."""
        if col.references is None or col.relation is None:
            raise ValueError(f"{col.name} refers to nothing")
        target_name, target_column, column = target.spec.name, col.references[1], col.name

        async def resolve(root: Any, info: Info) -> Any:
            key = getattr(root, column)
            if key is None:
                return None
            info.context.datasets_read.add(target_name)
            return await info.context.loaders.row(target_name, target_column).load(key)

        resolve.__annotations__["return"] = target.node | None
        setattr(
            self.node,
            col.relation,
            guarded_field(
                col.access,
                owner_column=self.spec.meta.owner,
                resolver=resolve,
                description=f"The {target.spec.meta.title.lower()} row this {self.spec.singular} refers to ({col.field_name}).",
            ),
        )

    def add_reverse(self, name: str, source: DatasetTypes, col: ColumnSpec) -> None:
        """`bikeStations` on a district: the rows of another dataset that point to this row."""
        if col.references is None:
            raise ValueError(f"{col.name} refers to nothing")
        parent_column = col.references[1]
        access = source.spec.meta.access if source.spec.restricted else col.access
        # whose rows: a citizen's own (filtered) rows of a personal dataset, or rows about the
        # parent's person (a resident's permits), or nobody's in particular
        rows, owner_column = list_owner(source.spec), None
        if rows is NOT_PERSONAL and self.spec.meta.owner:
            owner_column = self.spec.meta.owner

        def fetch(root: Any, info: Info, query: PageQuery) -> Any:
            loader = info.context.loaders.page(source.spec.name, col.name, query)
            return loader.load(getattr(root, parent_column))

        setattr(
            self.node,
            name,
            guarded_field(
                access,
                rows=rows,
                owner_column=owner_column,
                resolver=source.list_resolver(fetch),
                description=f"{source.spec.meta.title} of this {self.spec.singular}.",
            ),
        )

    # list fields ---------------------------------------------------------------------------

    def page_query(
        self,
        info: Info,
        *,
        where: Any,
        order_by: Any,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
    ) -> PageQuery:
        """Validate connection arguments into a keyset page query."""
        if first is not None and last is not None:
            raise BadInput("pass `first` or `last`, not both")
        for size_name, size in (("first", first), ("last", last)):
            if size is not None and not 0 <= size <= self.limits.maximum:
                raise BadInput(f"`{size_name}` must be between 0 and {self.limits.maximum}")
        if first is None and last is None:
            first = self.limits.default
        order = total_order(
            self.inputs.to_order(info, order_by), [c.name for c in self.spec.primary_key]
        )
        types = [self.spec.column(k.column).python_type for k in order]
        try:
            after_values = tuple(decode_cursor(after, order, types)) if after else None
            before_values = tuple(decode_cursor(before, order, types)) if before else None
        except InvalidCursor as exc:
            raise BadInput(str(exc)) from exc
        return PageQuery(
            order=order,
            filter=all_of(
                [f for f in (row_filter(info, self.spec), self.inputs.to_filter(info, where)) if f]
            ),
            first=first,
            after=after_values,
            last=last,
            before=before_values,
            with_total=selects(info, "totalCount"),
        )

    def list_resolver(self, fetch: Callable[[Any, Info, PageQuery], Any]) -> Callable[..., Any]:
        """A connection resolver with the dataset's arguments; `fetch` returns the Page.

        Connections are nullable: a denied field, or a bad argument, nulls that field alone
        rather than every sibling in the response.
        """
        name = self.spec.name
        inputs = self.inputs

        async def resolve(
            root: Any,
            info: Info,
            where: Any = None,
            order_by: Any = None,
            first: int | None = None,
            after: str | None = None,
            last: int | None = None,
            before: str | None = None,
        ) -> Any:
            query = self.page_query(
                info,
                where=where,
                order_by=order_by,
                first=first,
                after=after,
                last=last,
                before=before,
            )
            info.context.datasets_read.add(name)
            page = await fetch(root, info, query)
            return Connection(page, query.order)

        resolve.__annotations__.update(
            {
                "where": Annotated[
                    inputs.filter | None,
                    strawberry.argument(description="Conditions the rows must meet."),
                ],
                "order_by": Annotated[
                    ListOf[inputs.order_by] | None,
                    strawberry.argument(
                        description="Sort keys, in order; the primary key always breaks ties."
                    ),
                ],
                "first": Annotated[
                    int | None,
                    strawberry.argument(
                        description=f"Rows after `after` (default {self.limits.default}, at most {self.limits.maximum})."
                    ),
                ],
                "after": Annotated[
                    str | None,
                    strawberry.argument(
                        description="Cursor of the row to start after (an `endCursor`)."
                    ),
                ],
                "last": Annotated[
                    int | None,
                    strawberry.argument(
                        description=f"Rows before `before` (at most {self.limits.maximum})."
                    ),
                ],
                "before": Annotated[
                    str | None,
                    strawberry.argument(
                        description="Cursor of the row to end before (a `startCursor`)."
                    ),
                ],
                "return": self.connection | None,
            }
        )
        return resolve

    def root_list(self) -> Any:
        """The root connection field, `bikeStations(where:, orderBy:, first:, after:, ...)`."""
        repo_name = self.spec.name

        async def fetch(_root: Any, info: Info, query: PageQuery) -> Any:
            return await info.context.loaders.repositories[repo_name].page(query)

        return guarded_field(
            self.spec.meta.access,
            rows=list_owner(self.spec),
            resolver=self.list_resolver(fetch),
            description=f"{self.spec.meta.title}: {self.spec.meta.description} Cursor-paginated.",
        )

    def root_one(self) -> Any | None:
        """The root field fetching one row by its key, `bikeStation(id:)`; None for composite keys."""
        if len(self.spec.primary_key) != 1:
            return None
        pk = self.spec.primary_key[0]
        name = self.spec.name

        spec = self.spec

        async def resolve(root: Any, info: Info, **key: Any) -> Any:
            info.context.datasets_read.add(name)
            row = await info.context.loaders.row(name, pk.name).load(key[pk.name])
            if row is not None and row_filter(info, spec) is not None and spec.meta.owner:
                check(info, spec.meta.access, getattr(row, spec.meta.owner))
            return row

        # the argument is named after the key column: district(code:), bikeStation(id:)
        signature = inspect.Signature(
            [
                inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Any),
                inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info),
                inspect.Parameter(
                    pk.name, inspect.Parameter.KEYWORD_ONLY, annotation=pk.python_type
                ),
            ],
            return_annotation=self.node | None,
        )
        resolve.__signature__ = signature  # type: ignore[attr-defined]
        resolve.__annotations__.update({pk.name: pk.python_type, "return": self.node | None})
        return guarded_field(
            self.spec.meta.access,
            rows=list_owner(self.spec),
            resolver=resolve,
            description=f"One {self.spec.type_name} by its {pk.field_name}; null if there is none.",
        )


def build_dataset_types(catalog: Catalog, limits: PageLimits) -> dict[str, DatasetTypes]:
    """Types of every dataset, relations included, ready for the root Query."""
    types = {spec.name: DatasetTypes(spec, limits) for spec in catalog.datasets}
    by_table = {t.spec.table.name: t for t in types.values()}
    for t in types.values():
        t.add_columns()
    # connection types are needed by reverse fields, and they need finished node types
    pending_reverse: list[tuple[DatasetTypes, str, DatasetTypes, ColumnSpec]] = []
    for t in types.values():
        for col in t.spec.columns:
            if col.references and col.references[0] in by_table:
                target = by_table[col.references[0]]
                t.add_relation(col, target)
                pending_reverse.append((target, col.reverse or t.spec.name, t, col))
    # Edge/Connection types reference the node class object, which strawberry resolves lazily,
    # so they can be made before the nodes are decorated.
    for t in types.values():
        t.edge, t.connection = connection_types(t.node, t.spec.type_name, t.spec.meta.title.lower())
    for target, name, source, col in pending_reverse:
        target.add_reverse(name, source, col)
    for t in types.values():
        meta = t.spec.meta
        directives = [requires(meta.access)] if t.spec.restricted else []
        strawberry.type(
            t.node, description=f"{meta.title}: {meta.description}", directives=directives
        )
    return types


def is_decorated(cls: type) -> bool:
    return isinstance(getattr(cls, "__strawberry_definition__", None), StrawberryObjectDefinition)


__all__ = ["DatasetTypes", "PageLimits", "build_dataset_types", "check", "selects"]
