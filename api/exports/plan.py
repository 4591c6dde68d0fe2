"""The plan of an export: the client's document, rewritten to walk its one connection page by page.

The connection field gets the export's own paging (`first: $_cgFirst, after: $_cgAfter`, plus
`pageInfo` and, on the first page, `totalCount`); everything else in the document is the client's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLInt,
    GraphQLSchema,
    GraphQLString,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Visitor,
    get_operation_ast,
    parse,
    print_ast,
    validate,
    visit,
)
from strawberry.http import GraphQLRequestData

from api.exports.refusals import Refused, bad
from api.exports.selections import Column, argument, columns, connections, object_type, rows
from auth.policy import can_read
from schema.context import CityContext
from schema.datasets import Catalog, DatasetSpec

# Names the rewrite adds to the client's document; a leading underscore keeps them apart from
# anything generated from the models (camelCase column names).
_PAGING = parse(
    "query($_cgFirst: Int!, $_cgAfter: String, $_cgWithTotal: Boolean!) {"
    " c(first: $_cgFirst, after: $_cgAfter) {"
    " _cgPage: pageInfo { hasNextPage endCursor } _cgTotal: totalCount @include(if: $_cgWithTotal) } }"
)
PAGING_VARIABLES = frozenset({"_cgFirst", "_cgAfter", "_cgWithTotal"})


@dataclass(frozen=True, slots=True)
class Plan:
    """How to walk one connection of a document page by page."""

    spec: DatasetSpec
    document: str
    operation_name: str | None
    variables: dict[str, Any]
    path: tuple[str, ...]
    rows: tuple[str, ...]
    """Keys from the connection to its list of nodes: ("nodes",) or ("edges", "node")."""
    columns: tuple[Column, ...]
    limit: int | None
    after: str | None


def _parse(schema: GraphQLSchema, query: str, max_tokens: int) -> DocumentNode:
    try:
        document = parse(query, max_tokens=max_tokens)
    except GraphQLSyntaxError as exc:
        error = {"message": exc.message, "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}
        raise Refused(400, [error]) from exc
    errors = validate(schema, document, hide_suggestions=True)
    if errors:
        code = {"code": "GRAPHQL_VALIDATION_FAILED"}
        raise Refused(400, [{**e.formatted, "extensions": code} for e in errors])
    return document


def plan_export(
    schema: GraphQLSchema,
    catalog: Catalog,
    request: GraphQLRequestData,
    *,
    max_tokens: int,
) -> Plan:
    """The paging plan of a client's GraphQL request, or Refused when it cannot be exported."""
    document = _parse(schema, request.query or "", max_tokens)
    operation = get_operation_ast(document, request.operation_name)
    if operation is None:
        raise bad("name the operation to export with `operationName`")
    if operation.operation is not OperationType.QUERY:
        raise bad("only queries can be exported")
    reserved = {
        v.variable.name.value for v in operation.variable_definitions or ()
    } & PAGING_VARIABLES
    if reserved:
        raise bad(f"variables named {sorted(reserved)} are reserved by exports")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    specs = {f"{s.type_name}Connection": s for s in catalog.datasets}
    root = object_type(schema, "Query")
    found = list(connections(operation.selection_set, root, fragments, specs))
    if len(found) != 1:
        raise bad(
            f"select exactly one connection, outside any list; the query selects {len(found)}"
        )
    target, path, spec = found[0]
    if any(a.name.value in ("last", "before") for a in target.arguments or ()):
        raise bad("exports walk forwards: sort with orderBy (DESC) instead of last/before")
    variables = dict(request.variables or {})
    row_keys, node = rows(target, fragments)
    node_type = object_type(schema, spec.type_name)
    return Plan(
        spec=spec,
        document=print_ast(_rewrite(document, operation, target)),
        operation_name=operation.name.value if operation.name else None,
        variables=variables,
        path=path,
        rows=row_keys,
        columns=tuple(dict.fromkeys(columns(node.selection_set, node_type, fragments))),
        limit=argument(target, "first", GraphQLInt, variables),
        after=argument(target, "after", GraphQLString, variables),
    )


def _paging_nodes() -> tuple[OperationDefinitionNode, FieldNode, SelectionSetNode]:
    operation = _PAGING.definitions[0]
    if not isinstance(operation, OperationDefinitionNode):
        raise TypeError("the paging template is one operation")
    field = operation.selection_set.selections[0]
    if not isinstance(field, FieldNode) or field.selection_set is None:
        raise TypeError("the paging template selects one connection")
    return operation, field, field.selection_set


def _rewrite(
    document: DocumentNode, operation: OperationDefinitionNode, target: FieldNode
) -> DocumentNode:
    """The document with the target connection paged by the export's own variables."""
    paging_operation, paging_field, paging_selection = _paging_nodes()

    class Rewrite(Visitor):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> Any:
            if node is not operation:
                return None
            variables = (
                *(node.variable_definitions or ()),
                *(paging_operation.variable_definitions or ()),
            )
            return dataclasses.replace(node, variable_definitions=variables)

        def enter_field(self, node: FieldNode, *_: Any) -> Any:
            if node is not target or node.selection_set is None:
                return None
            kept = tuple(a for a in node.arguments or () if a.name.value not in ("first", "after"))
            selections = (*node.selection_set.selections, *paging_selection.selections)
            return dataclasses.replace(
                node,
                arguments=(*kept, *(paging_field.arguments or ())),
                selection_set=dataclasses.replace(node.selection_set, selections=selections),
            )

    edited: DocumentNode = visit(document, Rewrite())
    return edited


def dataset_query(spec: DatasetSpec, context: CityContext) -> str:
    """The export query of a whole dataset: every column the caller may read."""
    readable = [c for c in spec.columns if can_read(context.principal, c.access) is None]
    # nothing readable: ask for the key anyway, so that the access rule answers for itself
    selected = readable or list(spec.primary_key)
    inputs = f"$where: {spec.type_name}Filter, $orderBy: [{spec.type_name}OrderBy!]"
    fields = " ".join(c.field_name for c in selected)
    return f"query Export({inputs}) {{ {spec.name}(where: $where, orderBy: $orderBy) {{ nodes {{ {fields} }} }} }}"
