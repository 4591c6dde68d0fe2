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
    Guarded,
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
    levels: Sequence[Guarded] = (),
    versions: Sequence[str] = (),
) -> Select[Any]:
    """The statement of one root field: its JSON text, then one read flag per `reads`.

    `audit_rows` adds whether any row was read; `owner` then the owners of the rows read (a
    lookup: its row's owner; a page: a JSON array of them): the subjects of an access record.
    Then for each of `levels`, whether any row is at its path and, when it has an owner
    column, their owners (JSON, nested as the lists and relations are that lead there).
    Last come the latest version numbers of the `versions` datasets, read in the statement's
    own snapshot: the versions its live rows are (storage.versions: a load writes its rows and
    its version in one transaction).
    """
    latest = [latest_version(name, n) for n, name in enumerate(versions)]
    statement = _root(root, dialect, reads, audit_rows, owner, levels)
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
    levels: Sequence[Guarded],
) -> Select[Any]:
    if isinstance(root, Lookup):
        return _lookup(root, dialect, reads, audit_rows, owner, levels)
    if isinstance(root, Groups):
        return _groups(root, dialect)
    if isinstance(root, Entities):
        return _entities(root, dialect, reads, audit_rows, owner, levels)
    frame = window_of_connection(root, parent=None)
    window, kept = frame.rows, frame.shown
    flags: list[ColumnElement[Any]] = []
    for read in reads:
        node, path = part_node(root, read.path)
        reached = _reached(node, path, window, read.column)
        flags.append(func.max(case((and_(kept, reached), 1), else_=0)))
    if audit_rows:
        flags.append(func.max(case((kept, 1), else_=0)))
    if owner is not None:
        column = window.c[owner]
        subjects = dialect.array(column, where=and_(kept, column.is_not(None)), order=frame.order)
        flags.append(dialect.text(subjects))
    for level in levels:
        node, path = part_node(root, level.path)
        reached = _reached(node, path, window, level.column)
        flags.append(func.max(case((and_(kept, reached), 1), else_=0)))
        if level.owner is not None:
            owners, _ = _owners(node, path, window, level.owner, dialect)
            flags.append(dialect.text(dialect.array(owners, where=kept, order=[])))
    answer = connection(root, frame, dialect, parent=None)
    return select(dialect.answer(answer).label("answer"), *flags).select_from(window)


def _lookup(
    root: Lookup,
    dialect: Dialect,
    reads: Sequence[ReadWhen],
    audit_rows: bool,
    owner: str | None,
    levels: Sequence[Guarded],
) -> Select[Any]:
    table = visible_rows(root.table, at_version=root.at_version)
    flags: list[ColumnElement[Any]] = [
        literal(1)
        if r.column is None and not r.path
        else case((_reached(root.node, r.path, table, r.column), 1), else_=0)
        for r in reads
    ]
    if audit_rows:
        flags.append(literal(1))
    if owner is not None:
        flags.append(table.c[owner])
    for level in levels:
        flags.append(case((_reached(root.node, level.path, table, level.column), 1), else_=0))
        if level.owner is not None:
            owners, _ = _owners(root.node, level.path, table, level.owner, dialect)
            flags.append(dialect.json_value(owners))
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
    levels: Sequence[Guarded],
) -> Select[Any]:
    """The entities as a JSON array in the keys' order, then one read flag per `reads`, then
    (`audit_rows`) whether any key found its row and (`owner`) a JSON array of the found rows'
    owners, in the keys' order: the subjects of the access record; then the `levels`' flags
    and owners (root_statement).

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
        case((and_(found, _reached(root.node, read.path, row, read.column)), 1), else_=0).label(
            f"cg_read_{n}"
        )
        for n, read in enumerate(reads)
    ]
    if audit_rows:
        flags.append(case((found, 1), else_=0).label("cg_found"))
    if owner is not None:
        flags.append(case((found, row.c[owner]), else_=null()).label("cg_owner"))
    for n, level in enumerate(levels):
        reached = and_(found, _reached(root.node, level.path, row, level.column))
        flags.append(case((reached, 1), else_=0).label(f"cg_level_{n}"))
        if level.owner is not None:
            owners, _ = _owners(root.node, level.path, row, level.owner, dialect)
            owners = case((found, dialect.json_value(owners)), else_=null())
            flags.append(owners.label(f"cg_owners_{n}"))
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
    for n, level in enumerate(levels):
        read_flags.append(func.max(ordered.c[f"cg_level_{n}"]))
        if level.owner is not None:
            owners = ordered.c[f"cg_owners_{n}"]
            found_owners = dialect.array(
                dialect.nested(owners), where=owners.is_not(None), order=order
            )
            read_flags.append(dialect.text(found_owners))
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
    node: Obj, path: Sequence[str], row: FromClause, column: str | None
) -> ColumnElement[bool]:
    """Whether a field runs under `row`, whose object is `node`: `path` leads from it to the
    field's object through relations (a row found) and lists (a row kept on the page), as
    today's resolvers run a nested field only for the rows its parent gave; there, for a row
    whose `column` is not null (a relation's reference), or any row (None)."""
    if not path:
        return true() if column is None else row.c[column].is_not(None)
    value = dict(node.fields)[path[0]]
    if isinstance(value, RowOf):
        target = visible_rows(value.table, at_version=value.at_version).alias()
        found = (
            select(literal(1))
            .select_from(target)
            .where(target.c[value.key] == row.c[value.column])
            .where(_reached(value.node, path[1:], target, column))
            .correlate(row)
        )
        return found.exists()
    if isinstance(value, Connection):
        inner, rest = part_node(value, path[1:])
        size, _backwards, _cursor = window_of(value.query)
        page = page_rows(value, parent=row).limit(size).subquery()
        kept = select(literal(1)).select_from(page).where(_reached(inner, rest, page, column))
        return kept.exists()
    raise ValueError(f"{path[0]!r} leads to no rows: {value!r}")


def _owners(
    node: Obj, path: Sequence[str], row: FromClause, owner: str, dialect: Dialect
) -> tuple[ColumnElement[Any], bool]:
    """The owners of the rows at `path` beneath `row` (whose object is `node`), the rows today's
    guards meet there (as _reached walks to them): `row`'s own `owner` when `path` is empty, a
    value (False); else JSON (True), an array per list on the way, nested as the lists are."""
    if not path:
        return row.c[owner], False
    value = dict(node.fields)[path[0]]
    if isinstance(value, RowOf):
        target = visible_rows(value.table, at_version=value.at_version).alias()
        inner, is_json = _owners(value.node, path[1:], target, owner, dialect)
        found = (
            select(inner)
            .select_from(target)
            .where(target.c[value.key] == row.c[value.column])
            .correlate(row)
            .scalar_subquery()
        )
        return (dialect.nested(found), True) if is_json else (found, False)
    if isinstance(value, Connection):
        inner_node, rest = part_node(value, path[1:])
        size, _backwards, _cursor = window_of(value.query)
        page = page_rows(value, parent=row).limit(size).subquery()
        item, _ = _owners(inner_node, rest, page, owner, dialect)
        listed = select(dialect.array(item, where=None, order=[])).select_from(page)
        return dialect.nested(listed.scalar_subquery()), True
    raise ValueError(f"{path[0]!r} leads to no rows: {value!r}")
