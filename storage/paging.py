"""Keyset (cursor) pagination: a page costs the same on a thousand rows and on ten million.

A cursor is the row's values of the ordering columns followed by its primary key, encoded as
base64url JSON. Ordering is always total (the primary key breaks ties) and puts nulls last in
both directions, on SQLite and PostgreSQL alike.

The SQL is shaped for the planners, which read a page from an index only when the predicate and
the ORDER BY match the index as written. Neither uses NOT NULL to drop an `OR col IS NULL` (that
alone made both engines walk the index from its start to the cursor: 250 ms for a page in the
middle of a million rows) or to see that `DESC NULLS LAST` is a backward scan (PostgreSQL sorted
the whole table for it). So a column declared NOT NULL gets no null handling at all, and a run of
such columns sorted one way is sought with one row-value comparison, `(a, b) > (:a, :b)`, a
range that both engines scan.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

import orjson
from sqlalchemy import and_, false, nulls_first, nulls_last, or_, true, tuple_
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.expression import FromClause

from storage.controls import first_control


class InvalidCursor(ValueError):
    """A cursor that this server did not produce for this ordering."""


@dataclass(frozen=True, slots=True)
class SortKey:
    column: str
    descending: bool = False


def total_order(order: Sequence[SortKey], primary_key: Sequence[str]) -> tuple[SortKey, ...]:
    """The requested order followed by the primary key columns it does not already name."""
    named = {k.column for k in order}
    return (*order, *(SortKey(c) for c in primary_key if c not in named))


def _nullable(col: ColumnElement[Any]) -> bool:
    # Columns of tables, aliases and subqueries carry the table's NOT NULL; anything else (an
    # expression, a label) counts as nullable, which is always correct, only slower.
    return getattr(col, "nullable", True) is not False


def order_by(table: FromClause, keys: Sequence[SortKey], *, reverse: bool = False) -> list[Any]:
    """ORDER BY clauses for `keys`; `reverse` walks the same order backwards."""
    clauses = []
    for key in keys:
        col = table.c[key.column]
        descending = key.descending != reverse
        expr = col.desc() if descending else col.asc()
        if not _nullable(col):
            # no nulls to place: a plain ASC or DESC is an index scan either way, on both engines
            clauses.append(expr)
        else:
            clauses.append(nulls_first(expr) if reverse else nulls_last(expr))
    return clauses


def _beyond(col: ColumnElement[Any], value: Any, descending: bool) -> ColumnElement[bool]:
    if value is None:  # nulls come last: nothing lies beyond a null
        return false()
    beyond = cast("ColumnElement[bool]", col < value if descending else col > value)
    return or_(beyond, col.is_(None)) if _nullable(col) else beyond


def _ahead(col: ColumnElement[Any], value: Any, descending: bool) -> ColumnElement[bool]:
    if value is None:
        return col.is_not(None) if _nullable(col) else true()
    return cast("ColumnElement[bool]", col > value if descending else col < value)


def _equal(col: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    return col.is_(None) if value is None else col == value


def _range_prefix(
    columns: Sequence[ColumnElement[Any]], keys: Sequence[SortKey], values: Sequence[Any]
) -> int:
    """How many leading keys are NOT NULL columns sorted one way with a value in the cursor: the
    keys that one row-value comparison can seek on."""
    count = 0
    for col, key, value in zip(columns, keys, values, strict=True):
        if _nullable(col) or value is None or key.descending != keys[0].descending:
            break
        count += 1
    return count


def _compare(
    columns: Sequence[ColumnElement[Any]], values: Sequence[Any], *, upward: bool, strict: bool
) -> ColumnElement[bool]:
    left: Any = columns[0] if len(columns) == 1 else tuple_(*columns)
    right: Any = values[0] if len(values) == 1 else tuple(values)
    if upward:
        return cast("ColumnElement[bool]", left > right if strict else left >= right)
    return cast("ColumnElement[bool]", left < right if strict else left <= right)


def seek(
    table: FromClause, keys: Sequence[SortKey], values: Sequence[Any], *, backwards: bool = False
) -> ColumnElement[bool]:
    """Rows strictly after (or, `backwards`, before) the row whose sort values are `values`."""
    if not keys:
        return false()
    columns = [table.c[key.column] for key in keys]
    prefix = _range_prefix(columns, keys, values)
    upward = keys[0].descending == backwards
    if prefix == len(keys):
        # the whole order is one range: exact, and what an index scan reads
        return _compare(columns, values, upward=upward, strict=True)
    step = _ahead if backwards else _beyond
    condition = step(columns[-1], values[-1], keys[-1].descending)
    for col, key, value in reversed(list(zip(columns[:-1], keys[:-1], values[:-1], strict=True))):
        here = step(col, value, key.descending)
        condition = or_(here, and_(_equal(col, value), condition))
    if not prefix:
        return condition
    # The expansion is exact, but no index ranges over an OR. Rows at or past the cursor's values
    # on the leading keys is a bound the expansion implies, and one that an index can range over.
    return and_(_compare(columns[:prefix], values[:prefix], upward=upward, strict=False), condition)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor for a row's sort values."""
    raw = orjson.dumps([_plain(v) for v in values])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def pin_cursor(cursor: str, version: int | None) -> str:
    """A cursor that also says which dataset version its page was read from."""
    return cursor if version is None else f"{cursor}.{version}"


def cursor_version(cursor: str) -> tuple[str, int | None]:
    """A cursor without its version, and the version (None for a page of the live rows)."""
    base, dot, version = cursor.rpartition(".")
    if not dot:
        return cursor, None
    if not version.isdigit() or len(version) > 18:
        raise InvalidCursor("the cursor is not one this API produced")
    return base, int(version)


def decode_cursor(cursor: str, keys: Sequence[SortKey], types: Sequence[type]) -> list[Any]:
    """The sort values inside a cursor, typed like the columns; InvalidCursor if it does not fit."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API produced") from exc
    if not isinstance(values, list) or len(values) != len(keys):
        raise InvalidCursor("the cursor does not belong to this ordering")
    if first_control(values) is not None:
        # never one of ours: no stored text holds one (storage.controls)
        raise InvalidCursor("the cursor is not one this API produced")
    typed = []
    for value, kind in zip(values, types, strict=True):
        typed.append(_typed(value, kind))
    return typed


def _typed(value: Any, kind: type) -> Any:
    if value is None:
        return None
    try:
        if kind is datetime:
            return datetime.fromisoformat(value)
        if kind is date:
            return date.fromisoformat(value)
        if kind is bool:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise TypeError
        return value
    except (TypeError, ValueError) as exc:
        raise InvalidCursor("the cursor does not belong to this ordering") from exc
