"""One SELECT per root field that builds the field's JSON, from a bound tree (storage.compiled.shapes).

The root rows (a page, a lookup, groups) and their JSON (storage.compiled.objects: objects,
relations and connections, nested as correlated subqueries of the row they hang from) make one
statement, whatever its depth. The first column is the JSON (on PostgreSQL its UTF-8 bytes:
Dialect.answer); the others say which nested datasets were read (shapes.ReadWhen): for a field
beneath the root rows, whether some root row leads, level by level, to a row it runs for
(`_reached`); then the access record's facts and the latest versions of the datasets read live.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    and_,
    case,
    func,
    literal,
    null,
    select,
    true,
)
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.expression import FromClause

from storage.compiled.dialect import POSITION, Dialect, Unsupported
from storage.compiled.objects import (
    connection,
    filtered,
    object_of,
    page_rows,
    part_node,
    value_of,
    visible_rows,
    window_of_connection,
)
from storage.compiled.shapes import (
    Connection,
    Constant,
    Entities,
    Groups,
    Lookup,
    Obj,
    ReadWhen,
    Root,
    RowOf,
    Scalar,
)
from storage.paging import SortKey, order_by
from storage.repository import aggregate_statement, window_of
from storage.versions import VERSIONS


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
    if isinstance(root, Entities):
        return _entities(root, dialect, reads, audit_rows, owner)
    frame = window_of_connection(root, parent=None)
    window, kept = frame.rows, frame.shown
    flags: list[ColumnElement[Any]] = []
    for read in reads:
        node, path = part_node(root, read.path)
        flags.append(func.max(case((and_(kept, _reached(node, path, window, read)), 1), else_=0)))
    if audit_rows:
        flags.append(func.max(case((kept, 1), else_=0)))
    if owner is not None:
        column = window.c[owner]
        subjects = dialect.array(column, where=and_(kept, column.is_not(None)), order=frame.order)
        flags.append(dialect.text(subjects))
    answer = connection(root, frame, dialect, parent=None)
    return select(dialect.answer(answer).label("answer"), *flags).select_from(window)


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
    rows = filtered(table, None).where(table.c[root.key] == root.value)
    node = object_of(root.node, table, dialect)
    return rows.with_only_columns(
        dialect.answer(node).label("answer"), *flags, maintain_column_froms=True
    )


def _entities(
    root: Entities,
    dialect: Dialect,
    reads: Sequence[ReadWhen],
    audit_rows: bool,
    owner: str | None,
) -> Select[Any]:
    """The entities as a JSON array in the keys' order, then one read flag per `reads`, then
    (`audit_rows`) whether any key found its row and (`owner`) a JSON array of the found rows'
    owners, in the keys' order: the subjects of the access record.

    The keys are rows (Dialect.keys); an owner's rows are joined to them on its key, and a key
    without a row is null; a stub's row is the key itself, under the key column's name, which
    its lists correlate to as to a row of its table. Each key gives an entity, duplicates too.
    """
    keys = dialect.keys(root.key, root.key_type)
    row: FromClause = keys
    source: FromClause = keys
    found: ColumnElement[bool] = true()
    if root.table is not None:
        row = visible_rows(root.table, at_version=root.at_version)
        source = keys.outerjoin(row, row.c[root.key] == keys.c[root.key])
        found = row.c[root.key].is_not(None)
    entity = object_of(root.node, row, dialect)
    if root.table is not None:
        entity = case((found, entity), else_=null())
    flags = [
        case((and_(found, _reached(root.node, read.path, row, read)), 1), else_=0).label(
            f"cg_read_{n}"
        )
        for n, read in enumerate(reads)
    ]
    if audit_rows:
        flags.append(case((found, 1), else_=0).label("cg_found"))
    if owner is not None:
        flags.append(case((found, row.c[owner]), else_=null()).label("cg_owner"))
    # in the keys' order: SQLite's json_group_array reads the rows as this subquery gives them
    ordered = (
        select(keys.c[POSITION], dialect.nested(entity).label("cg_entity"), *flags)
        .select_from(source)
        .order_by(keys.c[POSITION])
        .subquery("cg_entities")
    )
    order = [ordered.c[POSITION]]
    answer = dialect.array(dialect.nested(ordered.c.cg_entity), where=None, order=order)
    read_flags: list[ColumnElement[Any]] = [
        func.max(ordered.c[f"cg_read_{n}"]) for n in range(len(reads))
    ]
    if audit_rows:
        read_flags.append(func.max(ordered.c.cg_found))
    if owner is not None:
        subjects = ordered.c.cg_owner
        read_flags.append(
            dialect.text(dialect.array(subjects, where=subjects.is_not(None), order=order))
        )
    return select(dialect.answer(answer).label("answer"), *read_flags).select_from(ordered)


def _groups(root: Groups, dialect: Dialect) -> Select[Any]:
    """The groups as a JSON array in group order, then how many groups there are (the caller
    compares it with the limit, as Repository.aggregate's caller does)."""
    rows = visible_rows(root.table, at_version=root.at_version)
    grouped = aggregate_statement(rows, root.query).subquery()
    group = _group_object(root.fields, grouped, dialect)
    order = order_by(grouped, [SortKey(c) for c in root.query.group_by])
    groups = dialect.array(group, where=None, order=order)
    return select(dialect.answer(groups).label("answer"), func.count()).select_from(grouped)


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
            pairs.append((key, value_of(value, grouped, dialect)))
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
        inner, rest = part_node(value, path[1:])
        size, _backwards, _cursor = window_of(value.query)
        page = page_rows(value, parent=row).limit(size).subquery()
        kept = select(literal(1)).select_from(page).where(_reached(inner, rest, page, read))
        return kept.exists()
    raise ValueError(f"{path[0]!r} leads to no rows: {value!r}")
