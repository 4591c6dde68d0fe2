"""Generated object types of the datasets: columns, relations, reverse connections, list fields.

For each dataset the builder makes the node type (one field per column, restricted ones guarded),
its connection types, its inputs, and the resolvers that turn arguments into keyset page queries.
Plain columns have no resolver at all: GraphQL's default resolver reads them off the SQL row.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any

import strawberry
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.nodes import FragmentSpread, InlineFragment, Selection

from auth.policy import NOT_PERSONAL, can_read
from schema.access import check, guarded_field, list_owner, marks, row_filter
from schema.as_of import AS_OF_DESCRIPTION, begin_as_of, cursor_shows, version_for
from schema.connections import Connection, connection_types
from schema.context import CityContext
from schema.datasets import Catalog, ColumnSpec, DatasetSpec, ListOf
from schema.errors import BadInput
from schema.inputs import DatasetInputs
from schema.scalars import GeoJSON
from storage.filters import all_of
from storage.paging import InvalidCursor, cursor_version, decode_cursor, total_order
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


@dataclass(frozen=True, slots=True)
class SchemaPlan:
    """What one schema serves: every dataset (the one-process gateway), or one department's.

    A department's plan (a federation subgraph) emits full types for its own datasets, each with
    `@key` on its primary key and a reference resolver; for an entity of another department that
    its datasets refer to, a stub with the key field only, carrying the reverse connections this
    department contributes (`District.bikeStations` lives in mobility's subgraph).
    """

    department: str | None = None

    @property
    def federated(self) -> bool:
        return self.department is not None

    def owns(self, spec: DatasetSpec) -> bool:
        return self.department is None or spec.department == self.department


GATEWAY_PLAN = SchemaPlan()


class DatasetTypes:
    """Everything generated for one dataset."""

    def __init__(self, spec: DatasetSpec, limits: PageLimits, *, stub: bool = False) -> None:
        self.spec = spec
        self.limits = limits
        self.stub = stub
        """True for another department's entity in a subgraph: its key and our fields on it."""
        # generated classes: mypy cannot follow them, so they are typed Any
        self.node: Any = type(spec.type_name, (), {"__annotations__": {}})
        self.inputs = DatasetInputs(spec)
        self.edge: Any = None
        self.connection: Any = None
        self.relations: dict[str, tuple[ColumnSpec, DatasetTypes]] = {}
        """Node fields that are a forward relation, by GraphQL name: the column and its target."""
        self.aggregate: Any = None
        """The `<name>Aggregate` root field's builder (schema.aggregates), once the root has one."""
        self.reverses: dict[str, tuple[DatasetTypes, ColumnSpec]] = {}
        """Node fields listing another dataset's rows that point here: that dataset and column."""

    # the node type -------------------------------------------------------------------------

    def add_columns(self) -> None:
        ann = self.node.__annotations__
        # a stub declares the key only: the owner's subgraph resolves every other column
        columns = self.key_columns() if self.stub else self.spec.columns
        for col in columns:
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
        """`district` on a bike station: the row the column points to, batched by a loader.

        When the target is another department's entity (a stub), the reference alone is the
        answer: the router asks the owner's subgraph for the rest.
        """
        if col.references is None or col.relation is None:
            raise ValueError(f"{col.name} refers to nothing")
        target_name, target_column, column = target.spec.name, col.references[1], col.name
        self.relations[col.relation] = (col, target)

        async def resolve(root: Any, info: Info) -> Any:
            key = getattr(root, column)
            if key is None:
                return None
            if target.stub:
                return target.reference(key)
            version = await version_for(info, target_name, versioned=target.spec.versioned)
            return await info.context.loaders.row(target_name, target_column, version).load(key)

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
        self.reverses[name] = (source, col)
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

    # federation ----------------------------------------------------------------------------

    def key_columns(self) -> tuple[ColumnSpec, ...]:
        """The entity key: the single-column primary key; () when there is none to key on."""
        return self.spec.primary_key if len(self.spec.primary_key) == 1 else ()

    def reference(self, key: Any) -> Any:
        """A row holding only its key: what a stub resolves to, and what an unreadable entity
        resolves to (every other column is null, so a denied caller learns nothing, not even
        whether the row exists)."""
        values: dict[str, Any] = dict.fromkeys((c.name for c in self.spec.columns), None)
        values[self.spec.primary_key[0].name] = key
        # cast: `_entities` returns a union, and a plain object does not say which member it is
        return strawberry.cast(self.node, SimpleNamespace(**values))

    def add_reference_resolver(self) -> None:
        """`resolve_reference` for `_entities`: stubs echo their key; owners load the row.

        A restricted entity is loaded only for a caller who may read it (for a citizen, their
        own record); anyone else gets the bare reference, so `_entities` is no existence oracle.
        Field guards then answer each field as they would in the one-process schema.
        """
        types = self
        spec, pk = self.spec, self.spec.primary_key[0]

        async def resolve_reference(info: Info, **representation: Any) -> Any:
            key = representation.get(pk.field_name)
            if types.stub or key is None:
                return types.reference(key)
            if spec.restricted:
                owner = key if spec.meta.owner == pk.name else NOT_PERSONAL
                if can_read(info.context.principal, spec.meta.access, owner=owner) is not None:
                    return types.reference(key)
            version = await version_for(info, spec.name, versioned=spec.versioned)
            row = await info.context.loaders.row(spec.name, pk.name, version).load(key)
            # a copy: SQL rows are immutable, and the union needs a cast object (see reference)
            return (
                None
                if row is None
                else strawberry.cast(types.node, SimpleNamespace(**row._mapping))
            )

        self.node.resolve_reference = staticmethod(resolve_reference)

    def decorate(self, plan: SchemaPlan) -> None:
        """Make the node a strawberry type: an entity with `@key` in a subgraph when it has one."""
        meta = self.spec.meta
        description = f"{meta.title}: {meta.description}"
        directives = marks(meta.access)
        keys = [c.field_name for c in self.key_columns()]
        if not (plan.federated and keys):
            strawberry.type(self.node, description=description, directives=directives)
            return
        self.add_reference_resolver()
        strawberry.federation.type(
            self.node, description=description, directives=directives, keys=keys
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
        version: int | None = None,
        with_total: bool | None = None,
    ) -> PageQuery:
        """Validate connection arguments into a keyset page query of one dataset version (None:
        the live rows).

        `with_total`: whether `totalCount` is asked; None reads it off `info`'s selection
        (the compiled path, schema.compiled, knows it from its plan).
        """
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
            after_values = (
                tuple(decode_cursor(cursor_version(after)[0], order, types)) if after else None
            )
            before_values = (
                tuple(decode_cursor(cursor_version(before)[0], order, types)) if before else None
            )
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
            with_total=selects(info, "totalCount") if with_total is None else with_total,
            version=version,
        )

    def list_resolver(
        self, fetch: Callable[[Any, Info, PageQuery], Any], *, root: bool = False
    ) -> Callable[..., Any]:
        """A connection resolver with the dataset's arguments; `fetch` returns the Page.

        A root connection also takes `asOf` (schema.as_of). A cursor carries the version its
        page was read from, so a walk stays in that version whatever is imported meanwhile.
        Connections are nullable: a denied field, or a bad argument, nulls that field alone
        rather than every sibling in the response.
        """
        spec = self.spec
        inputs = self.inputs

        async def run(
            root: Any,
            info: Info,
            *,
            where: Any,
            order_by: Any,
            first: int | None,
            after: str | None,
            last: int | None,
            before: str | None,
        ) -> Any:
            try:
                cursor = {cursor_version(c)[1] for c in (after, before) if c} - {None}
            except InvalidCursor as exc:
                raise BadInput(str(exc)) from exc
            if len(cursor) > 1:
                raise BadInput("`after` and `before` come from two versions of the dataset")
            version = await version_for(
                info,
                spec.name,
                versioned=spec.versioned,
                cursor_version=next(iter(cursor), None),
            )
            query = self.page_query(
                info,
                where=where,
                order_by=order_by,
                first=first,
                after=after,
                last=last,
                before=before,
                version=version,
            )
            page = await fetch(root, info, query)
            shown = version if cursor_shows(info, next(iter(cursor), None)) else None
            return Connection(page, query.order, shown)

        if root and spec.versioned:  # asOf where there is a history to ask

            async def resolve(
                root: Any,
                info: Info,
                where: Any = None,
                order_by: Any = None,
                first: int | None = None,
                after: str | None = None,
                last: int | None = None,
                before: str | None = None,
                as_of: str | None = None,
            ) -> Any:
                await begin_as_of(info, as_of)
                return await run(
                    root,
                    info,
                    where=where,
                    order_by=order_by,
                    first=first,
                    after=after,
                    last=last,
                    before=before,
                )

            resolve.__annotations__["as_of"] = Annotated[
                str | None, strawberry.argument(description=AS_OF_DESCRIPTION)
            ]
        else:

            async def resolve(  # type: ignore[misc]
                root: Any,
                info: Info,
                where: Any = None,
                order_by: Any = None,
                first: int | None = None,
                after: str | None = None,
                last: int | None = None,
                before: str | None = None,
            ) -> Any:
                return await run(
                    root,
                    info,
                    where=where,
                    order_by=order_by,
                    first=first,
                    after=after,
                    last=last,
                    before=before,
                )

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
            resolver=self.list_resolver(fetch, root=True),
            description=f"{self.spec.meta.title}: {self.spec.meta.description} Cursor-paginated.",
        )

    def root_one(self) -> Any | None:
        """The root field fetching one row by its key, `bikeStation(id:)`; None for composite keys."""
        if len(self.spec.primary_key) != 1:
            return None
        pk = self.spec.primary_key[0]
        name = self.spec.name
        as_of = Annotated[str | None, strawberry.argument(description=AS_OF_DESCRIPTION)]
        spec = self.spec

        async def resolve(root: Any, info: Info, as_of: str | None = None, **key: Any) -> Any:
            await begin_as_of(info, as_of)
            version = await version_for(info, name, versioned=spec.versioned)
            row = await info.context.loaders.row(name, pk.name, version).load(key[pk.name])
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
                *(
                    [
                        inspect.Parameter(
                            "as_of", inspect.Parameter.KEYWORD_ONLY, annotation=as_of, default=None
                        )
                    ]
                    if spec.versioned  # asOf where there is a history to ask
                    else []
                ),
            ],
            return_annotation=self.node | None,
        )
        resolve.__signature__ = signature  # type: ignore[attr-defined]
        resolve.__annotations__.update({pk.name: pk.python_type, "return": self.node | None})
        if spec.versioned:
            resolve.__annotations__["as_of"] = as_of
        return guarded_field(
            self.spec.meta.access,
            rows=list_owner(self.spec),
            resolver=resolve,
            description=f"One {self.spec.type_name} by its {pk.field_name}; null if there is none.",
        )


def build_dataset_types(
    catalog: Catalog, limits: PageLimits, plan: SchemaPlan = GATEWAY_PLAN
) -> dict[str, DatasetTypes]:
    """Types of the plan's datasets, relations included, ready for the root Query.

    For a department's plan the result also holds the stubs of the other departments' entities
    it refers to; their root fields belong to their own department.
    """
    types = {
        spec.name: DatasetTypes(spec, limits, stub=not plan.owns(spec)) for spec in catalog.datasets
    }
    by_table = {t.spec.table.name: t for t in types.values()}
    owned = [t for t in types.values() if not t.stub]
    # connection types are needed by reverse fields, and they need finished node types
    pending_reverse: list[tuple[DatasetTypes, str, DatasetTypes, ColumnSpec]] = []
    used = {t.spec.name: t for t in owned}
    for t in owned:
        for col in t.spec.columns:
            if col.references and col.references[0] in by_table:
                target = by_table[col.references[0]]
                if target.stub and (col.references[1],) != tuple(
                    c.name for c in target.key_columns()
                ):
                    raise ValueError(
                        f"{t.spec.name}.{col.name} refers to {target.spec.name} of another "
                        "department by a column that is not its key: a subgraph cannot do that"
                    )
                t.add_relation(col, target)
                pending_reverse.append((target, col.reverse or t.spec.name, t, col))
                used.setdefault(target.spec.name, target)
    for t in used.values():
        t.add_columns()
    # Edge/Connection types reference the node class object, which strawberry resolves lazily,
    # so they can be made before the nodes are decorated.
    for t in owned:
        t.edge, t.connection = connection_types(t.node, t.spec.type_name, t.spec.meta.title.lower())
    for target, name, source, col in pending_reverse:
        target.add_reverse(name, source, col)
    for t in used.values():
        t.decorate(plan)
    return used


def is_decorated(cls: type) -> bool:
    return isinstance(getattr(cls, "__strawberry_definition__", None), StrawberryObjectDefinition)


__all__ = [
    "GATEWAY_PLAN",
    "DatasetTypes",
    "PageLimits",
    "SchemaPlan",
    "build_dataset_types",
    "check",
    "selects",
]
