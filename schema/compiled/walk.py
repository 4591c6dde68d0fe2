"""The walk beneath a root field: connections, edges, nodes, relations and references.

Each step reads the selection under it against the gateway's datasets and gives the shape the
statement builds there (schema.compiled.plans), or raises NotCompiled with the field that stops
it. The planner (schema.compiled.planner) starts the walk at each kind of root field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, GraphQLOutputType
from graphql.execution.collect_fields import FieldDetailsList

from auth.policy import OWN_ROWS, is_citizen
from auth.scopes import PUBLIC
from schema.access import list_owner
from schema.compiled.decisions import Access, allowed
from schema.compiled.fields import LIST_ARGUMENTS, FieldMap, value_kind
from schema.compiled.plans import (
    ConnectionPlan,
    EdgesPlan,
    NodePlan,
    NodesPlan,
    NotCompiled,
    RelationPlan,
)
from schema.compiled.selections import (
    CollectSubfields,
    fields_of,
    known_arguments,
    object_type_of,
    only_node,
)
from schema.datasets import ColumnSpec
from schema.objects import DatasetTypes
from storage.compiled.shapes import (
    Constant,
    KeyOf,
    Obj,
    PageInfo,
    PageInfoField,
    ReadWhen,
    Scalar,
)

PAGE_INFO_FIELDS: frozenset[str] = frozenset(
    {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}
)


def guard(
    column: ColumnSpec,
    access: Access | None,
    field: str,
    path: tuple[str, ...],
    owner: str | None,
) -> None:
    """A restricted column of a row, or a relation whose column is restricted: NotCompiled
    unless `access` lets the principal read it, and then noted for the record as its guard
    notes it, with the row's `owner` as the subject: the root rows' as `row_fields`, a nested
    row's on its level (`path`)."""
    if column.access == PUBLIC:
        return
    if access is None or not access.allows(column):
        raise NotCompiled(f"{field}: restricted here")
    if access.root:
        access.row_fields.add(field)
    else:
        access.note(path, field, owner=owner)


def guard_list(
    types: DatasetTypes,
    source: DatasetTypes,
    column: ColumnSpec,
    access: Access | None,
    field: str,
    path: tuple[str, ...],
) -> tuple[bool, bool]:
    """A list of another dataset's rows beneath a row of `types`, guarded as
    DatasetTypes.add_reverse guards it: by the source's access when its rows are restricted,
    else by the column's. Its subject is the principal's own id for a list of personal rows
    (list_owner: OWN_ROWS), else the row's owner when it has one. It compiles for a principal
    who may read it whatever the row, and for a citizen's list of personal rows, which
    schema.access.row_filter narrows to their own whatever the row it hangs from.

    Whether it is guarded, and whether its rows are a citizen's own."""
    restricted = source.spec.meta.access if source.spec.restricted else column.access
    own = list_owner(source.spec) is OWN_ROWS
    own_rows = own and access is not None and is_citizen(access.principal)
    if restricted == PUBLIC:
        return False, own_rows
    if access is None or not allowed(access.principal, restricted, own_rows=own_rows):
        raise NotCompiled(f"{field}: restricted list")
    access.note(path, field, owner=None if own else types.spec.meta.owner, own=own)
    return True, own_rows


class Walk:
    """The shapes beneath root fields, read against one gateway schema's fields."""

    def __init__(self, fields: FieldMap) -> None:
        self.fields = fields

    def connection(
        self,
        types: DatasetTypes,
        field: GraphQLField,
        details: FieldDetailsList,
        collect: CollectSubfields,
        parent_type: str,
        link: tuple[str, str] | None,
        path: tuple[str, ...],
        reads: list[ReadWhen],
        access: Access | None = None,
    ) -> ConnectionPlan:
        """A connection at `path` (the response keys to it from the root field's value; `()`:
        the root field); `access`: the principal's decisions on its rows (Walk.node)."""
        node = only_node(details)
        if not known_arguments(field, LIST_ARGUMENTS):
            raise NotCompiled(f"{node.name.value}: arguments the planner does not know")
        conn_type = object_type_of(field.type)
        parts: list[tuple[str, Any]] = []
        for key, sub in fields_of(collect, conn_type, details):
            name = only_node(sub).name.value
            sub_type = conn_type.fields[name].type if name != "__typename" else None
            if name == "__typename":
                parts.append((key, Constant(conn_type.name)))
            elif name == "totalCount":
                parts.append((key, "totalCount"))
            elif name == "pageInfo" and sub_type is not None:
                parts.append((key, self.page_info(object_type_of(sub_type), sub, collect)))
            elif name == "nodes" and sub_type is not None:
                plan = self.node(
                    types, sub_type, sub, collect, path=(*path, key), reads=reads, access=access
                )
                parts.append((key, NodesPlan(plan)))
            elif name == "edges" and sub_type is not None:
                parts.append(
                    (key, self.edges(types, sub_type, sub, collect, (*path, key), reads, access))
                )
            else:
                raise NotCompiled(f"{conn_type.name}.{name}: not a connection field")
        return ConnectionPlan(types, field, node, parent_type, tuple(parts), link)

    def page_info(
        self, info_type: GraphQLObjectType, details: FieldDetailsList, collect: CollectSubfields
    ) -> PageInfo:
        fields: list[tuple[str, PageInfoField | Constant]] = []
        for key, sub in fields_of(collect, info_type, details):
            name = only_node(sub).name.value
            if name == "__typename":
                fields.append((key, Constant(info_type.name)))
            elif name in PAGE_INFO_FIELDS:
                fields.append((key, name))  # type: ignore[arg-type]
            else:
                raise NotCompiled(f"PageInfo.{name}: unknown")
        return PageInfo(tuple(fields))

    def edges(
        self,
        types: DatasetTypes,
        edges_type: GraphQLOutputType,
        details: FieldDetailsList,
        collect: CollectSubfields,
        path: tuple[str, ...],
        reads: list[ReadWhen],
        access: Access | None,
    ) -> EdgesPlan:
        edge_type = object_type_of(edges_type)
        fields: list[tuple[str, Any]] = []
        for key, sub in fields_of(collect, edge_type, details):
            name = only_node(sub).name.value
            if name == "__typename":
                fields.append((key, Constant(edge_type.name)))
            elif name == "cursor":
                fields.append((key, "cursor"))
            elif name == "node":
                node_type = edge_type.fields[name].type
                plan = self.node(
                    types, node_type, sub, collect, path=(*path, key), reads=reads, access=access
                )
                fields.append((key, plan))
            else:
                raise NotCompiled(f"{edge_type.name}.{name}: unknown")
        return EdgesPlan(tuple(fields))

    def node(
        self,
        types: DatasetTypes,
        node_type: GraphQLOutputType,
        details: FieldDetailsList,
        collect: CollectSubfields,
        *,
        path: tuple[str, ...],
        reads: list[ReadWhen],
        access: Access | None = None,
    ) -> NodePlan:
        """A node's fields: columns, `__typename`, relations and lists, at any depth.

        `path`: the response keys from the root field's value to this node; each dataset a
        relation or list here reads is noted in `reads` with it (shapes.ReadWhen), so the
        statement says whether the field ran. `access`: the principal's decisions, the root
        rows' (Access.root) or those beneath them; a restricted column, relation or list
        compiles when the principal may read it (beneath the root rows and for lists: whatever
        the row), noted for the record as its guard notes it (guard, guard_list).
        """
        object_type = object_type_of(node_type)
        type_name = object_type.name
        owner = types.spec.meta.owner
        fields: list[tuple[str, Any]] = []
        for key, sub in fields_of(collect, object_type, details):
            name = only_node(sub).name.value
            column = self.fields.columns.get((type_name, name))
            if name == "__typename":
                fields.append((key, Constant(type_name)))
            elif column is not None:
                kind = value_kind(column)
                if kind is None:
                    raise NotCompiled(f"{type_name}.{name}: a kind not compiled")
                guard(column, access, f"{type_name}.{name}", path, owner)
                fields.append((key, Scalar(column.name, kind)))
            elif name in types.relations:
                column, target = types.relations[name]
                # guarded as a column of the row is
                guard(column, access, f"{type_name}.{name}", path, owner)
                if target.stub:  # another subgraph's entity: its key, read from this row
                    target_type = object_type_of(object_type.fields[name].type)
                    reference = self.reference(
                        column, target, target_type, sub, collect, access, path
                    )
                    fields.append((key, reference))
                    continue
                if column.references is None:
                    raise NotCompiled(f"{type_name}.{name}: a relation to no column")
                reads.append(ReadWhen(target.spec.name, column.name, path))
                target_type = object_type.fields[name].type
                plan = self.node(
                    target,
                    target_type,
                    sub,
                    collect,
                    path=(*path, key),
                    reads=reads,
                    access=None if access is None else access.beneath(),
                )
                fields.append((key, RelationPlan(column.name, column.references[1], target, plan)))
            elif name in types.reverses:
                source, column = types.reverses[name]
                if source.stub or column.references is None:
                    raise NotCompiled(f"{type_name}.{name}: a list not compiled")
                guarded, own_rows = guard_list(
                    types, source, column, access, f"{type_name}.{name}", path
                )
                reads.append(ReadWhen(source.spec.name, None, path))
                link = (column.name, column.references[1])
                field = object_type.fields[name]
                conn = self.connection(
                    source,
                    field,
                    sub,
                    collect,
                    type_name,
                    link,
                    (*path, key),
                    reads,
                    None if access is None else access.beneath(own_rows=own_rows),
                )
                if guarded:
                    conn = dataclasses.replace(conn, guard=f"{type_name}.{name}")
                fields.append((key, conn))
            else:
                raise NotCompiled(f"{type_name}.{name}: not a field the planner knows")
        return NodePlan(tuple(fields))

    def reference(
        self,
        column: ColumnSpec,
        target: DatasetTypes,
        target_type: GraphQLObjectType,
        details: FieldDetailsList,
        collect: CollectSubfields,
        access: Access | None,
        path: tuple[str, ...],
    ) -> KeyOf:
        """A subgraph's relation to another department's entity: its key, from this row.

        Today's resolver answers it without a read (`DatasetTypes.reference`): nothing is noted
        but the relation's own guard, when its column is restricted (the caller's: node), and
        a restricted key's (a resident's), which runs beneath each reference that is not null:
        noted on the rows at `path` whose `column` is not null, the key as the subject when it
        is the entity's owner. It compiles for a principal who may read it whatever the row.
        """
        (key_column,) = target.key_columns() or (None,)
        kind = value_kind(column)
        if key_column is None or kind is None:
            raise NotCompiled(f"{target_type.name}: a reference not compiled")
        fields: list[tuple[str, Constant | Scalar]] = []
        for key, sub in fields_of(collect, target_type, details):
            name = only_node(sub).name.value
            if name == "__typename":
                fields.append((key, Constant(target_type.name)))
            elif name == key_column.field_name:
                if key_column.access != PUBLIC:
                    field = f"{target_type.name}.{name}"
                    if access is None or not allowed(
                        access.principal, key_column.access, own_rows=False
                    ):
                        raise NotCompiled(f"{field}: a restricted key here")
                    owned = target.spec.meta.owner == key_column.name
                    owner = column.name if owned else None
                    access.note(path, field, owner=owner, column=column.name)
                fields.append((key, Scalar(column.name, kind)))
            else:  # the stub's lists of this subgraph's rows: today's path
                raise NotCompiled(f"{target_type.name}.{name}: not a reference's key")
        return KeyOf(column.name, Obj(tuple(fields)))
