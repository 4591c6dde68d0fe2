"""Binding: a plan and one request's arguments become the tree storage.compiled emits.

Arguments are read and checked by the very functions today's resolvers call
(`DatasetTypes.page_query`, its filters, orderings and cursors), so a value today's path accepts
gives the same page here, and a value it refuses is refused the same way: binding raises, and the
root field goes to today's path, which answers with its own error, message, path and code.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from graphql.execution.values import VariableValues, get_argument_values
from strawberry.types.arguments import convert_arguments

from auth.principal import Principal
from schema.compiled.fields import value_kind
from schema.compiled.plans import (
    AggregatePlan,
    ConnectionPlan,
    EdgesPlan,
    EntitiesPlan,
    GroupPartPlan,
    LookupPlan,
    NodePlan,
    NodesPlan,
    NotCompiled,
    RelationPlan,
)
from schema.compiled.versions import Reading
from schema.context import CityContext
from storage.compiled.shapes import (
    Connection,
    ConnectionPart,
    Constant,
    Edges,
    Entities,
    Groups,
    Lookup,
    Nodes,
    Obj,
    Root,
    RowOf,
    Scalar,
    TotalCount,
    ValueKind,
)
from storage.paging import cursor_version


class Binder:
    """Binds the plans of one request: its variables, its principal."""

    def __init__(
        self,
        *,
        variables: VariableValues,
        principal: Principal,
        strawberry: Any,
        reading: Reading,
    ) -> None:
        self.variables = variables
        self.principal = principal
        self.strawberry = strawberry
        """The strawberry schema: its scalar registry and config convert input objects."""
        self.reading = reading
        """Which datasets are read at a version, and whose cursors carry it: the root page's
        cursor chose its version there (schema.compiled.versions)."""
        self.noted = self._scratch()
        """What the argument checks noted (a filter on a restricted column is a read of it),
        kept aside until the statement has answered: schema.compiled.compiler applies it."""

    def root(self, plan: ConnectionPlan | LookupPlan | AggregatePlan | EntitiesPlan) -> Root:
        if isinstance(plan, AggregatePlan):
            return self.groups(plan)
        if isinstance(plan, EntitiesPlan):
            # the keys are no part of the tree: the statement takes them when it runs
            spec = plan.types.spec
            table = None if plan.types.stub else spec.table
            at = table is not None and self._at(spec.name)
            key_type = spec.table.c[plan.key.name].type
            return Entities(table, plan.key.name, key_type, self.node(plan.node), at)
        if isinstance(plan, LookupPlan):
            args = get_argument_values(plan.field, plan.field_node, self.variables)
            table = plan.types.spec.table
            at = self._at(plan.types.spec.name)
            return Lookup(table, plan.key, args[plan.key], self.node(plan.node), at)
        return self.connection(plan)

    def _arguments(
        self, plan: ConnectionPlan | AggregatePlan, noted: CityContext
    ) -> tuple[dict[str, Any], Any]:
        """The field's arguments as its resolver gets them, and the `info` its checks read."""
        args = get_argument_values(plan.field, plan.field_node, self.variables)
        definition = plan.field.extensions["strawberry-definition"]
        kwargs = _convert(args, definition.arguments, self.strawberry)
        # today's resolvers check access and note audit facts on the request's context: here on
        # `noted`, and a denial leaves the field to today's path, which answers it
        info = SimpleNamespace(
            context=noted,
            path=SimpleNamespace(typename=plan.parent_type),
            field_name=plan.field_node.name.value,
        )
        return kwargs, info

    def groups(self, plan: AggregatePlan) -> Groups:
        kwargs, info = self._arguments(plan, self.noted)
        query, keys, readable = plan.types.aggregate.query(
            info, where=kwargs.get("where"), group_by=kwargs.get("group_by")
        )
        if self.noted.denials or self.noted.restricted:
            raise NotCompiled("an argument names a restricted column")
        measured = {c.name for c in readable}
        fields: list[tuple[str, object]] = []
        for key, value in plan.fields:
            if not isinstance(value, GroupPartPlan):
                fields.append((key, value))
                continue
            part: list[tuple[str, object]] = []
            for column_key, column in value.fields:
                if isinstance(column, Constant):
                    part.append((column_key, column))
                elif value.source == "key":
                    kind = value_kind(column)
                    if column.name not in keys or kind is None:
                        # today's resolver fails on a key it did not group by: it answers that
                        raise NotCompiled(f"{column.name}: not grouped by")
                    part.append((column_key, Scalar(column.name, kind)))
                elif column.name in measured:
                    kind = "average" if value.source == "avg" else "measure"
                    part.append((column_key, Scalar(f"m_{value.source}_{column.name}", kind)))
                else:
                    part.append((column_key, None))
            fields.append((key, Obj(cast(Any, tuple(part)))))
        spec = plan.types.spec
        return Groups(spec.table, query, tuple(fields), self._at(spec.name))

    def connection(self, plan: ConnectionPlan) -> Connection:
        # a nested list's arguments are checked on a context of their own: today's resolver
        # notes what they read only when the list runs, for some parent row, which the notes
        # of `noted` (applied once answered, whatever the rows) cannot say
        noted = self.noted if plan.link is None else self._scratch()
        kwargs, info = self._arguments(plan, noted)
        if plan.link is not None and any(
            cursor_version(c)[1] is not None
            for c in (kwargs.get("after"), kwargs.get("before"))
            if c
        ):
            # one cursor for the list under every parent row, read from a version: rare enough
            raise NotCompiled("a nested list after a cursor read from a dataset version")
        query = plan.types.page_query(
            cast(Any, info),
            where=kwargs.get("where"),
            order_by=kwargs.get("order_by"),
            first=kwargs.get("first"),
            after=kwargs.get("after"),
            last=kwargs.get("last"),
            before=kwargs.get("before"),
            with_total=plan.with_total,
        )
        if noted.denials or noted.audit_unavailable:
            raise NotCompiled("an argument names a column the principal may not read")
        if noted is not self.noted and noted.restricted_read and not self._guarded(plan, noted):
            raise NotCompiled("a nested list's argument names a restricted column")
        kinds: tuple[ValueKind, ...] = ()
        if plan.with_cursors:
            found = [value_kind(plan.types.spec.column(k.column)) for k in query.order]
            if any(kind is None for kind in found):
                raise NotCompiled("a cursor over a column kind not compiled")
            kinds = cast(tuple[ValueKind, ...], tuple(found))
        parts: list[tuple[str, ConnectionPart]] = []
        for key, part in plan.parts:
            if part == "totalCount":
                parts.append((key, TotalCount()))
            elif isinstance(part, EdgesPlan):
                fields = tuple(
                    (k, self.node(v) if isinstance(v, NodePlan) else v) for k, v in part.fields
                )
                parts.append((key, Edges(fields)))
            elif isinstance(part, NodesPlan):
                parts.append((key, Nodes(self.node(part.node))))
            else:
                parts.append((key, part))
        name = plan.types.spec.name
        shows = self.reading.shows(name, root=plan.link is None)
        return Connection(
            plan.types.spec.table, query, tuple(parts), plan.link, kinds, self._at(name), shows
        )

    def _guarded(self, plan: ConnectionPlan, noted: CityContext) -> bool:
        """Whether what a nested list's arguments noted is its guard's note (schema.inputs
        checks a restricted column in `where` or `orderBy` as a read of the list, with the
        list's rows as its owner: walk.guard_list notes the same when the list runs)."""
        own = self.principal.resident_id
        return (
            plan.guard is not None
            and noted.fields_read <= {plan.guard}
            and noted.subjects <= ({own} if own is not None else set())
        )

    def _scratch(self) -> CityContext:
        return CityContext(loaders=cast(Any, None), principal=self.principal)

    def _at(self, dataset: str) -> bool:
        return self.reading.at(dataset)

    def node(self, plan: NodePlan) -> Obj:
        fields: list[tuple[str, Any]] = []
        for key, value in plan.fields:
            if isinstance(value, RelationPlan):
                spec = value.target.spec
                node = self.node(value.node)
                fields.append(
                    (key, RowOf(spec.table, value.key, value.column, node, self._at(spec.name)))
                )
            elif isinstance(value, ConnectionPlan):
                fields.append((key, self.connection(value)))
            else:
                fields.append((key, value))
        return Obj(tuple(fields))


def _convert(args: dict[str, Any], arguments: Any, strawberry: Any) -> dict[str, Any]:
    """Arguments as strawberry hands them to resolvers: input objects as their classes."""
    return convert_arguments(
        args,
        arguments,
        scalar_registry=strawberry.schema_converter.scalar_registry,
        config=strawberry.config,
    )
