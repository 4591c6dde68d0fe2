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
from schema.compiled.planner import (
    ConnectionPlan,
    EdgesPlan,
    LookupPlan,
    NodePlan,
    NodesPlan,
    NotCompiled,
    RelationPlan,
)
from schema.context import CityContext
from storage.compiled.shapes import (
    Connection,
    ConnectionPart,
    Edges,
    Lookup,
    Nodes,
    Obj,
    Root,
    RowOf,
    TotalCount,
    ValueKind,
)


class Binder:
    """Binds the plans of one request: its variables, its principal."""

    def __init__(self, *, variables: VariableValues, principal: Principal, strawberry: Any) -> None:
        self.variables = variables
        self.principal = principal
        self.strawberry = strawberry
        """The strawberry schema: its scalar registry and config convert input objects."""
        self.noted = CityContext(loaders=cast(Any, None), principal=principal)
        """What the argument checks noted (a filter on a restricted column is a read of it),
        kept aside until the statement has answered: schema.compiled.compiler applies it."""

    def root(self, plan: ConnectionPlan | LookupPlan) -> Root:
        if isinstance(plan, LookupPlan):
            args = get_argument_values(plan.field, plan.field_node, self.variables)
            table = plan.types.spec.table
            return Lookup(table, plan.key, args[plan.key], self.node(plan.node))
        return self.connection(plan)

    def connection(self, plan: ConnectionPlan) -> Connection:
        args = get_argument_values(plan.field, plan.field_node, self.variables)
        definition = plan.field.extensions["strawberry-definition"]
        kwargs = _convert(args, definition.arguments, self.strawberry)
        # today's resolvers check access and note audit facts on the request's context: here on
        # `noted`, and a denial leaves the field to today's path, which answers it
        info = SimpleNamespace(
            context=self.noted,
            path=SimpleNamespace(typename=plan.parent_type),
            field_name=plan.field_node.name.value,
        )
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
        if self.noted.denials or self.noted.audit_unavailable:
            raise NotCompiled("an argument names a column the principal may not read")
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
        return Connection(plan.types.spec.table, query, tuple(parts), plan.link, kinds)

    def node(self, plan: NodePlan) -> Obj:
        fields: list[tuple[str, Any]] = []
        for key, value in plan.fields:
            if isinstance(value, RelationPlan):
                table = value.target.spec.table
                fields.append((key, RowOf(table, value.key, value.column, self.node(value.node))))
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
