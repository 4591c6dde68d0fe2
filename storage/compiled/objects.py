"""The JSON of rows: objects, forward relations and connections, as SQL expressions.

A connection is an aggregate over its window: the rows `Repository.page` reads (`visible_rows`,
the seek past the cursor, the order, the page size). Without `pageInfo` that is all, the rows a
hand-written statement would read. With it, the window reads one row more (is there more?) and
ranks each row from the cursor, and counts itself, for `hasNextPage` and the page's cursors.
Nested connections and relations are correlated scalar subqueries of the row they hang from
(storage.compiled.emit puts a root field's together in one statement).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
    true,
)
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.expression import FromClause

from storage.compiled.dialect import Dialect, Unsupported
from storage.compiled.shapes import (
    Connection,
    Constant,
    Edges,
    KeyOf,
    Nodes,
    Obj,
    PageInfo,
    RowOf,
    Scalar,
    TotalCount,
    Value,
)
from storage.filters import Filter, compile_filter
from storage.paging import order_by, seek
from storage.repository import window_of
from storage.versions import rows_at

RANK = "cg_rank"
"""A row's place from the cursor: 1 is the row next to it."""
SIZE = "cg_size"
"""How many rows the window holds (at most the page size plus one)."""


def version_key(table: Table) -> str:
    """The statement parameter that names the version a read `at_version` of `table` sees."""
    return f"cg_version_{table.name}"


def visible_rows(table: Table, *, at_version: bool = False) -> FromClause:
    """The rows of `table` a query may see: every compiled read starts here.

    One place, so a condition every read must carry is added once: read `at_version`, the rows
    of the dataset version that the statement's parameter `version_key(table)` names
    (storage.versions.rows_at, the predicate today's repositories put on a history table).
    """
    if not at_version:
        return table
    return rows_at(table, version_param(table))


def version_param(table: Table) -> ColumnElement[Any]:
    """The version a read of `table` sees: given at run time (storage.direct_reads fills it in
    by name), so not required when the statement is compiled."""
    return bindparam(version_key(table), type_=Integer, required=False)


def filtered(rows: FromClause, spec: Filter | None) -> Select[Any]:
    return select(rows).where(compile_filter(rows, spec))


def part_node(conn: Connection, path: Sequence[str]) -> tuple[Obj, Sequence[str]]:
    """The node object a path into a connection names (`nodes`, or `edges` and its `node`),
    and the rest of the path."""
    part = dict(conn.parts)[path[0]]
    if isinstance(part, Nodes):
        return part.node, path[1:]
    if isinstance(part, Edges):
        node = dict(part.fields)[path[1]]
        if isinstance(node, Obj):
            return node, path[2:]
    raise ValueError(f"{path[:2]!r} names no node of the connection")


def page_rows(conn: Connection, parent: FromClause | None) -> Select[Any]:
    """A connection's rows from its cursor in page order, without a limit: the window adds
    it (one more than the page size when `pageInfo` asks whether there is more), and a read
    beneath its rows the page's own (emit._reached)."""
    query, table = conn.query, visible_rows(conn.table, at_version=conn.at_version)
    _size, backwards, cursor = window_of(query)
    rows = filtered(table, query.filter)
    if cursor is not None:
        rows = rows.where(seek(table, query.order, cursor, backwards=backwards))
    # the other cursor bounds the far end: `last` with `after` too, or `first` with `before`
    bound = query.after if backwards else query.before
    if bound is not None:
        rows = rows.where(seek(table, query.order, bound, backwards=not backwards))
    if conn.link is not None:
        if parent is None:
            raise ValueError("a linked connection needs the row it hangs from")
        rows = rows.where(table.c[conn.link[0]] == parent.c[conn.link[1]]).correlate(parent)
    return rows.order_by(*order_by(table, query.order, reverse=backwards))


@dataclass(frozen=True, slots=True)
class Window:
    """A connection's rows as its aggregate reads them."""

    rows: FromClause
    size: int
    """The page size."""
    kept: ColumnElement[bool] | None
    """Which rows the page shows: all but the one read past the page to know whether there is
    more; None when no such row was read (every row is shown)."""
    order: list[ColumnElement[Any]]
    """The answer's order, for aggregates that take one (PostgreSQL's)."""

    @property
    def shown(self) -> ColumnElement[bool]:
        return true() if self.kept is None else self.kept


def window_of_connection(conn: Connection, parent: FromClause | None) -> Window:
    """A connection's window. With `pageInfo`, one row more than the page (is there more?), and
    each row's rank from the cursor and the window's size; without, the page alone: the same
    rows, read the way a hand-written statement would (no window functions, no extra row)."""
    query = conn.query
    size, backwards, _cursor = window_of(query)
    if not any(isinstance(part, PageInfo) for _, part in conn.parts):
        page = page_rows(conn, parent).limit(size).subquery()
        if backwards:  # read from the far end: back in answer order for SQLite's aggregates
            page = select(page).order_by(*order_by(page, query.order)).subquery()
        return Window(page, size, None, order_by(page, query.order))
    window = page_rows(conn, parent).limit(size + 1).subquery()
    ranked = select(
        window,
        func.row_number()
        .over(order_by=order_by(window, query.order, reverse=backwards))
        .label(RANK),
        func.count().over().label(SIZE),
    )
    # rows in answer order (SQLite's aggregates read them in this order)
    rank = ranked.selected_columns[RANK]
    rows = ranked.order_by(rank.desc() if backwards else rank.asc()).subquery()
    ordered = rows.c[RANK].desc() if backwards else rows.c[RANK].asc()
    return Window(rows, size, rows.c[RANK] <= size, [ordered])


def connection(
    conn: Connection, frame: Window, dialect: Dialect, parent: FromClause | None
) -> ColumnElement[Any]:
    """The connection object: an aggregate over its window."""
    query, table = conn.query, visible_rows(conn.table, at_version=conn.at_version)
    _size, backwards, cursor = window_of(query)
    window, size, kept, order = frame.rows, frame.size, frame.kept, frame.order
    more = func.count() > size
    edge_cursor = (
        dialect.cursor([window.c[k.column] for k in query.order], conn.sort_kinds)
        if conn.sort_kinds
        else None
    )
    if edge_cursor is not None and conn.shows_version:
        # storage.paging.pin_cursor: `<cursor>.<version>`
        version = version_param(conn.table)
        edge_cursor = edge_cursor.op("||")(literal_column("'.'")).op("||")(cast(version, String))
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for name, part in conn.parts:
        if isinstance(part, Constant):
            pairs.append((name, literal(part.value)))
        elif isinstance(part, TotalCount):
            counted = filtered(table, query.filter)
            if conn.link is not None and parent is not None:
                counted = counted.where(table.c[conn.link[0]] == parent.c[conn.link[1]]).correlate(
                    parent
                )
            total = counted.with_only_columns(
                func.count(), maintain_column_froms=True
            ).scalar_subquery()
            # Repository.page: a total comes with the page's first row; an empty page without a
            # cursor says 0, an empty root page with either cursor (`last` with `after` too)
            # counts again
            if (query.after is not None or query.before is not None) and conn.link is None:
                pairs.append((name, total))
            else:
                shown = func.count() if kept is None else func.count().filter(kept)
                pairs.append((name, case((shown > 0, total), else_=0)))
        elif isinstance(part, PageInfo):
            if kept is None:
                raise ValueError("pageInfo needs the ranked window")
            rank = window.c[RANK]
            last = case((window.c[SIZE] < size, window.c[SIZE]), else_=size)
            first_rank, last_rank = (last, 1) if backwards else (1, last)
            info: list[tuple[str, ColumnElement[Any]]] = []
            for key, field in part.fields:
                if isinstance(field, Constant):
                    info.append((key, literal(field.value)))
                elif field == "hasNextPage":
                    info.append(
                        (
                            key,
                            dialect.constant(query.before is not None)
                            if backwards
                            else dialect.boolean(more),
                        )
                    )
                elif field == "hasPreviousPage":
                    info.append(
                        (
                            key,
                            dialect.boolean(more)
                            if backwards
                            else dialect.constant(cursor is not None),
                        )
                    )
                else:
                    if edge_cursor is None:
                        raise Unsupported("cursor")
                    at = first_rank if field == "startCursor" else last_rank
                    # `kept`: a page of size 0 reads one row (is there more?) but shows none
                    info.append((key, func.max(case((and_(kept, rank == at), edge_cursor)))))
            pairs.append((name, dialect.obj(info)))
        elif isinstance(part, Edges):
            edge: list[tuple[str, ColumnElement[Any]]] = []
            for key, item in part.fields:
                if isinstance(item, Constant):
                    edge.append((key, literal(item.value)))
                elif isinstance(item, Obj):
                    edge.append((key, object_of(item, window, dialect)))
                else:
                    if edge_cursor is None:
                        raise Unsupported("cursor")
                    edge.append((key, edge_cursor))
            pairs.append((name, dialect.array(dialect.obj(edge), where=kept, order=order)))
        elif isinstance(part, Nodes):
            node = object_of(part.node, window, dialect)
            pairs.append((name, dialect.array(node, where=kept, order=order)))
    # an aggregate in any case: a connection is one row, whatever its window holds, even when
    # nothing it asks for is aggregated (`__typename`, a constant `hasPreviousPage`)
    return case((func.count() >= 0, dialect.obj(pairs)))


def object_of(node: Obj, row: FromClause, dialect: Dialect) -> ColumnElement[Any]:
    if len(node.fields) > dialect.max_object_pairs:
        raise Unsupported("too many fields in one object")
    return dialect.obj([(key, value_of(value, row, dialect)) for key, value in node.fields])


def value_of(value: Value, row: FromClause, dialect: Dialect) -> ColumnElement[Any]:
    if isinstance(value, Scalar):
        return dialect.scalar(row.c[value.column], value.kind)
    if isinstance(value, Constant):
        return literal(value.value)
    if isinstance(value, Obj):
        return object_of(value, row, dialect)
    if isinstance(value, KeyOf):
        reference = row.c[value.column]
        key = case((reference.is_(None), null()), else_=object_of(value.node, row, dialect))
        return dialect.nested(key)
    if isinstance(value, RowOf):
        target = visible_rows(value.table, at_version=value.at_version).alias()
        node = object_of(value.node, target, dialect)
        found = (
            select(node)
            .select_from(target)
            .where(target.c[value.key] == row.c[value.column])
            .correlate(row)
            .scalar_subquery()
        )
        return dialect.nested(found)
    frame = window_of_connection(value, parent=row)
    answer = connection(value, frame, dialect, parent=row)
    return dialect.nested(select(answer).select_from(frame.rows).correlate(row).scalar_subquery())
