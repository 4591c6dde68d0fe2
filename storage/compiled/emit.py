"""One SELECT per root field that builds the field's JSON, from a bound tree (storage.compiled.shapes).

A connection is two nested subqueries: the window (`visible_rows`, the seek past the cursor, the
order, `LIMIT size + 1`: the same rows Repository.page reads) and, over it, each row's rank from
the cursor and the window's size; one aggregate over those builds the connection object. Nested
connections and relations are correlated scalar subqueries of the row they hang from, so the whole
answer is one statement, whatever its depth. The first column is the JSON text; the others say
which nested datasets were read (shapes.ReadWhen): for a field beneath the root rows, whether
some root row leads, level by level, to a row it runs for (`_reached`).
"""

from __future__ import annotations

from collections.abc import Sequence
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
    Groups,
    KeyOf,
    Lookup,
    Nodes,
    Obj,
    PageInfo,
    ReadWhen,
    Root,
    RowOf,
    Scalar,
    TotalCount,
    Value,
)
from storage.filters import Filter, compile_filter
from storage.paging import SortKey, order_by, seek
from storage.repository import aggregate_statement, window_of
from storage.versions import VERSIONS, rows_at

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
    return rows_at(table, _version(table))


def _version(table: Table) -> ColumnElement[Any]:
    """The version a read of `table` sees: given at run time (storage.direct_reads fills it in
    by name), so not required when the statement is compiled."""
    return bindparam(version_key(table), type_=Integer, required=False)


def _filtered(rows: FromClause, spec: Filter | None) -> Select[Any]:
    return select(rows).where(compile_filter(rows, spec))


def root_statement(
    root: Root,
    dialect: Dialect,
    reads: Sequence[ReadWhen],
    *,
    audit_rows: bool = False,
    owner: str | None = None,
    versions: Sequence[str] = (),
) -> Select[Any]:
    """The statement of one root field: its JSON text, then one read flag per `reads`.

    `audit_rows` adds whether any row was read; `owner` then the owners of the rows read (a
    lookup: its row's owner; a page: a JSON array of them): the subjects of an access record.
    Last come the latest version numbers of the `versions` datasets, read in the statement's
    own snapshot: the versions its live rows are (storage.versions: a load writes its rows and
    its version in one transaction).
    """
    latest = [latest_version(name, n) for n, name in enumerate(versions)]
    statement = _root(root, dialect, reads, audit_rows, owner)
    if latest and isinstance(root, Lookup):
        # a lookup that finds nothing still gives one row (answer and flags NULL): the versions
        # it did not find the row in, which a citation of the null answer names
        found = statement.subquery("cg_found")
        one = select(literal(1).label("one")).subquery("cg_one")
        statement = select(*found.c, *latest).select_from(one.outerjoin(found, true()))
    else:
        statement = statement.add_columns(*latest)
    if not dialect.parses(statement):
        raise Unsupported("nested deeper than the engine's parser takes")
    return statement


def latest_version(dataset: str, n: int) -> ColumnElement[Any]:
    """The number of `dataset`'s latest version (NULL before its first), as a column."""
    return (
        select(func.max(VERSIONS.c.number))
        # the dataset's name in the text: a statement without parameters is planned once
        .where(VERSIONS.c.dataset == literal(dataset, literal_execute=True))
        .scalar_subquery()
        .label(f"cg_latest_{n}")
    )


def _root(
    root: Root,
    dialect: Dialect,
    reads: Sequence[ReadWhen],
    audit_rows: bool,
    owner: str | None,
) -> Select[Any]:
    if isinstance(root, Lookup):
        return _lookup(root, dialect, reads, audit_rows, owner)
    if isinstance(root, Groups):
        return _groups(root, dialect)
    window, size = _window(root, parent=None)
    kept = window.c[RANK] <= size
    flags: list[ColumnElement[Any]] = []
    for read in reads:
        node, path = _part_node(root, read.path)
        flags.append(func.max(case((and_(kept, _reached(node, path, window, read)), 1), else_=0)))
    if audit_rows:
        flags.append(func.max(case((kept, 1), else_=0)))
    if owner is not None:
        column = window.c[owner]
        subjects = dialect.array(
            column, where=and_(kept, column.is_not(None)), order=[window.c[RANK]]
        )
        flags.append(dialect.text(subjects))
    answer = _connection(root, window, size, dialect, parent=None)
    return select(dialect.text(answer).label("answer"), *flags).select_from(window)


def _lookup(
    root: Lookup,
    dialect: Dialect,
    reads: Sequence[ReadWhen],
    audit_rows: bool,
    owner: str | None,
) -> Select[Any]:
    table = visible_rows(root.table, at_version=root.at_version)
    flags: list[ColumnElement[Any]] = [
        literal(1)
        if r.column is None and not r.path
        else case((_reached(root.node, r.path, table, r), 1), else_=0)
        for r in reads
    ]
    if audit_rows:
        flags.append(literal(1))
    if owner is not None:
        flags.append(table.c[owner])
    rows = _filtered(table, None).where(table.c[root.key] == root.value)
    node = _object(root.node, table, dialect)
    return rows.with_only_columns(
        dialect.text(node).label("answer"), *flags, maintain_column_froms=True
    )


def _groups(root: Groups, dialect: Dialect) -> Select[Any]:
    """The groups as a JSON array in group order, then how many groups there are (the caller
    compares it with the limit, as Repository.aggregate's caller does)."""
    rows = visible_rows(root.table, at_version=root.at_version)
    grouped = aggregate_statement(rows, root.query).subquery()
    group = _group_object(root.fields, grouped, dialect)
    order = order_by(grouped, [SortKey(c) for c in root.query.group_by])
    groups = dialect.array(group, where=true(), order=order)
    return select(dialect.text(groups).label("answer"), func.count()).select_from(grouped)


def _group_object(
    fields: Sequence[tuple[str, object]], grouped: FromClause, dialect: Dialect
) -> ColumnElement[Any]:
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for key, value in fields:
        if value is None:
            pairs.append((key, null()))
        elif value == "count":
            pairs.append((key, grouped.c["m_count_rows"]))
        elif isinstance(value, Obj):
            pairs.append((key, _group_object(value.fields, grouped, dialect)))
        elif isinstance(value, Scalar | Constant):
            pairs.append((key, _value(value, grouped, dialect)))
        else:
            raise Unsupported(f"not a group value: {value!r}")
    return dialect.obj(pairs)


def _reached(
    node: Obj, path: Sequence[str], row: FromClause, read: ReadWhen
) -> ColumnElement[bool]:
    """Whether the field of `read` runs under `row`, whose object is `node`: `path` leads from
    it to the field's object through relations (a row found) and lists (a row kept on the
    page), as today's resolvers run a nested field only for the rows its parent gave."""
    if not path:
        return true() if read.column is None else row.c[read.column].is_not(None)
    value = dict(node.fields)[path[0]]
    if isinstance(value, RowOf):
        target = visible_rows(value.table, at_version=value.at_version).alias()
        found = (
            select(literal(1))
            .select_from(target)
            .where(target.c[value.key] == row.c[value.column])
            .where(_reached(value.node, path[1:], target, read))
            .correlate(row)
        )
        return found.exists()
    if isinstance(value, Connection):
        inner, rest = _part_node(value, path[1:])
        size, _backwards, _cursor = window_of(value.query)
        page = _page(value, parent=row).limit(size).subquery()
        kept = select(literal(1)).select_from(page).where(_reached(inner, rest, page, read))
        return kept.exists()
    raise ValueError(f"{path[0]!r} leads to no rows: {value!r}")


def _part_node(conn: Connection, path: Sequence[str]) -> tuple[Obj, Sequence[str]]:
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


def _page(conn: Connection, parent: FromClause | None) -> Select[Any]:
    """A connection's rows from its cursor in page order, without a limit: the window reads
    one more than the page size (is there more?), a read beneath its rows the page alone."""
    query, table = conn.query, visible_rows(conn.table, at_version=conn.at_version)
    _size, backwards, cursor = window_of(query)
    rows = _filtered(table, query.filter)
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


def _window(conn: Connection, parent: FromClause | None) -> tuple[FromClause, int]:
    """The ranked window of a connection, and its page size."""
    query = conn.query
    size, backwards, _cursor = window_of(query)
    window = _page(conn, parent).limit(size + 1).subquery()
    ranked = select(
        window,
        func.row_number()
        .over(order_by=order_by(window, query.order, reverse=backwards))
        .label(RANK),
        func.count().over().label(SIZE),
    )
    # rows in answer order (SQLite's aggregates read them in this order)
    rank = ranked.selected_columns[RANK]
    return ranked.order_by(rank.desc() if backwards else rank.asc()).subquery(), size


def _connection(
    conn: Connection,
    window: FromClause,
    size: int,
    dialect: Dialect,
    parent: FromClause | None,
) -> ColumnElement[Any]:
    """The connection object: an aggregate over its ranked window."""
    query, table = conn.query, visible_rows(conn.table, at_version=conn.at_version)
    _size, backwards, cursor = window_of(query)
    rank = window.c[RANK]
    kept = rank <= size
    order = [rank.desc() if backwards else rank.asc()]
    more = func.count() > size
    edge_cursor = (
        dialect.cursor([window.c[k.column] for k in query.order], conn.sort_kinds)
        if conn.sort_kinds
        else None
    )
    if edge_cursor is not None and conn.shows_version:
        # storage.paging.pin_cursor: `<cursor>.<version>`
        version = _version(conn.table)
        edge_cursor = edge_cursor.op("||")(literal_column("'.'")).op("||")(cast(version, String))
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for name, part in conn.parts:
        if isinstance(part, Constant):
            pairs.append((name, literal(part.value)))
        elif isinstance(part, TotalCount):
            counted = _filtered(table, query.filter)
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
                pairs.append((name, case((func.count().filter(kept) > 0, total), else_=0)))
        elif isinstance(part, PageInfo):
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
                    edge.append((key, _object(item, window, dialect)))
                else:
                    if edge_cursor is None:
                        raise Unsupported("cursor")
                    edge.append((key, edge_cursor))
            pairs.append((name, dialect.array(dialect.obj(edge), where=kept, order=order)))
        elif isinstance(part, Nodes):
            node = _object(part.node, window, dialect)
            pairs.append((name, dialect.array(node, where=kept, order=order)))
    # an aggregate in any case: a connection is one row, whatever its window holds, even when
    # nothing it asks for is aggregated (`__typename`, a constant `hasPreviousPage`)
    return case((func.count() >= 0, dialect.obj(pairs)))


def _object(node: Obj, row: FromClause, dialect: Dialect) -> ColumnElement[Any]:
    if len(node.fields) > dialect.max_object_pairs:
        raise Unsupported("too many fields in one object")
    return dialect.obj([(key, _value(value, row, dialect)) for key, value in node.fields])


def _value(value: Value, row: FromClause, dialect: Dialect) -> ColumnElement[Any]:
    if isinstance(value, Scalar):
        return dialect.scalar(row.c[value.column], value.kind)
    if isinstance(value, Constant):
        return literal(value.value)
    if isinstance(value, Obj):
        return _object(value, row, dialect)
    if isinstance(value, KeyOf):
        reference = row.c[value.column]
        key = case((reference.is_(None), null()), else_=_object(value.node, row, dialect))
        return dialect.nested(key)
    if isinstance(value, RowOf):
        target = visible_rows(value.table, at_version=value.at_version).alias()
        node = _object(value.node, target, dialect)
        found = (
            select(node)
            .select_from(target)
            .where(target.c[value.key] == row.c[value.column])
            .correlate(row)
            .scalar_subquery()
        )
        return dialect.nested(found)
    window, size = _window(value, parent=row)
    answer = _connection(value, window, size, dialect, parent=row)
    return dialect.nested(select(answer).select_from(window).correlate(row).scalar_subquery())
