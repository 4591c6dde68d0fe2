"""The JSON expressions that PostgreSQL and SQLite spell differently, and nothing else.

Both must give a document that parses to exactly what today's path answers (cursors byte for
byte). Where an engine cannot, `cursor` says so by returning None and the field is not compiled.
PostgreSQL writes floats in their shortest exact form (PostgreSQL 12 and later), as Python does;
SQLite's JSON functions round floats to 15 digits, so SQLite gets Python's own text of each float
(`citygraph_real`, registered by storage.engines), and Python's own cursor encoding
(`citygraph_cursor`): the same function today's path calls.

A datetime is written as today's path answers it, Python's `isoformat()` of the value the driver
and the column type read: six digits of fraction or none, then `+00:00` when that value has a
zone (`utc_offset`). PostgreSQL spells it with `to_char` (its `to_json` trims the fraction's
zeros); SQLite reads its stored text with SQLAlchemy's own parser (`citygraph_datetime`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    bindparam,
    case,
    cast,
    false,
    func,
    literal_column,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel.sql.sqltypes import UTCDateTime

from storage.compiled.shapes import ValueKind

KIND_CODES: dict[ValueKind, str] = {
    "int": "i",
    "str": "s",
    "float": "f",
    "bool": "b",
    "date": "d",
    "datetime": "s",  # given as its text (`datetime_text`), which is what Python's cursor holds
    "geojson": "g",
    "measure": "f",
    "average": "f",
}
"""One letter per kind, as `citygraph_cursor` reads them."""

KEYS = "cg_keys"
"""The statement parameter that holds `_entities`' keys (`Dialect.keys`), given at run time."""
POSITION = "cg_position"
"""A key's place among them: the answer's order."""

UTC_OFFSET = "+00:00"
"""What `isoformat()` writes after an aware UTC datetime."""


class Unsupported(Exception):
    """The tree asks for something this dialect cannot write as today's path would."""


def graphql_name(name: str) -> str:
    """`name`, checked to be a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`): nothing to escape in SQL."""
    if not name.replace("_", "a").isalnum() or not name.isascii():
        raise ValueError(f"not a GraphQL name: {name!r}")
    return name


def key(name: str) -> ColumnElement[Any]:
    """A JSON key as SQL text."""
    return literal_column(f"'{graphql_name(name)}'")


class JsonText(TypeDecorator[str]):
    """Text that is already JSON (an object, an array, a nested field's answer): embedded as it is."""

    impl = Text
    cache_ok = True


def _text(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return type_coerce(value, JsonText())


def _json(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """A value as JSON text: JSON text as it is, anything else through `to_json`; null for NULL."""
    if not isinstance(value.type, JsonText):
        value = cast(func.to_json(value), Text)
    return _text(func.coalesce(value, literal_column("'null'")))


def _joined(parts: Sequence[ColumnElement[Any]]) -> ColumnElement[Any]:
    """`a || b || ...`: concat() takes at most 100 arguments, an object may have 50 members."""
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||")(part)
    return _text(joined)


class Dialect:
    """What differs between engines, PostgreSQL's spelling.

    Objects and arrays are built as text (`'{"id":' || to_json(id)::text || ...`, `string_agg`),
    not with json_build_object/json_agg, which space their members (`{"id" : 1}`): the text is
    the compact form a citation hashes (api.citing.canonical), with nothing to parse again.
    GeoJSON is the exception: it is embedded as stored (`spaced`).
    """

    name = "postgresql"
    max_object_pairs = 50
    """Kept from json_build_object's limit (100 arguments): one object, at most 50 members."""
    zoned_when_stored = True
    """A DateTime column with a zone is read back with it (asyncpg: timestamptz, aware UTC)."""

    def obj(self, pairs: Sequence[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
        if not pairs:
            return _text(literal_column("'{}'"))
        parts: list[ColumnElement[Any]] = []
        for index, (name, value) in enumerate(pairs):
            opening = "{" if index == 0 else ","
            parts += [literal_column(f"'{opening}\"{graphql_name(name)}\":'"), _json(value)]
        parts.append(literal_column("'}'"))
        return _joined(parts)

    def array(
        self, value: ColumnElement[Any], *, where: ColumnElement[bool] | None, order: Sequence[Any]
    ) -> ColumnElement[Any]:
        """A JSON array of `value` over the rows meeting `where` (None: every row), in `order`;
        [] for none."""
        separator: ColumnElement[Any] = literal_column("','")
        if order:  # PostgreSQL's `string_agg(x, ',' ORDER BY ...)`
            separator = aggregate_order_by(separator, *order)
        aggregated = func.string_agg(_json(value), separator)
        items = aggregated if where is None else aggregated.filter(where)
        return _joined(
            [
                literal_column("'['"),
                func.coalesce(items, literal_column("''")),
                literal_column("']'"),
            ]
        )

    def boolean(self, condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return condition

    def constant(self, value: bool) -> ColumnElement[Any]:
        return true() if value else false()

    def scalar(self, column: ColumnElement[Any], kind: ValueKind) -> ColumnElement[Any]:
        if kind == "datetime":
            return self.datetime_text(column)
        if kind == "measure":
            return cast(column, Float)
        if kind == "average":
            return cast(func.round(cast(column, Numeric), 9), Float)
        # GeoJSON as stored, which may hold whitespace: see `spaced`
        return _text(column) if kind == "geojson" else column

    def nested(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """A JSON value that a scalar subquery returns, embedded as JSON (not as a string)."""
        return _text(value)

    def json_value(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """A value as JSON text (`"R1"`, `null`), JSON as it is."""
        return _json(value)

    def spaced(self, kinds: Sequence[ValueKind]) -> bool:
        """Whether an answer with values of these kinds may not be in orjson's form: stored
        GeoJSON keeps its own spacing (PostgreSQL) and its numbers as written (`2.30`, both)."""
        return "geojson" in kinds

    def cursor(
        self, columns: Sequence[ColumnElement[Any]], kinds: Sequence[ValueKind]
    ) -> ColumnElement[Any] | None:
        """storage.paging.encode_cursor in SQL: base64url of the compact JSON array, unpadded."""
        if any(kind not in ("int", "str", "bool", "date", "datetime") for kind in kinds):
            # a float: to_json(2.0::float8) is 2 where orjson writes 2.0, and its digits are not
            # always the shortest (src/common/d2s.c leaves out the interval's bounds): 6.29...56e+16
            # where orjson writes 6.29...6e+16, which no rewriting of the text can tell
            return None
        parts: list[ColumnElement[Any]] = [literal_column("'['")]
        for index, (column, kind) in enumerate(zip(columns, kinds, strict=True)):
            if index:
                parts.append(literal_column("','"))
            value = self.datetime_text(column) if kind == "datetime" else column
            parts.append(func.coalesce(cast(func.to_json(value), Text), literal_column("'null'")))
        parts.append(literal_column("']'"))
        raw = func.convert_to(func.concat(*parts), literal_column("'UTF8'"))
        encoded = func.rtrim(func.encode(raw, literal_column("'base64'")), literal_column("'='"))
        # base64 lines break every 76 characters: translate drops the newlines with +/ -> -_
        return func.translate(encoded, literal_column("E'+/\\n'"), literal_column("'-_'"))

    def text(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return cast(value, Text)

    def answer(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """A root field's JSON as the driver should hand it over. PostgreSQL: its UTF-8 bytes
        (`bytea`), which asyncpg copies as they are, where text is decoded to a str that the
        response then encodes back to UTF-8: 7 µs of a 12 kB page's 41 µs of client CPU."""
        return func.convert_to(self.text(value), literal_column("'UTF8'"))

    def utc_offset(self, column: ColumnElement[Any]) -> str:
        """What `isoformat()` writes after the values today's path reads from a datetime column:
        `+00:00` for sqlmodel's UTCDateTime, which gives every value its zone; for a plain
        DateTime, what the driver reads (`zoned_when_stored`)."""
        kind = column.type
        if isinstance(kind, UTCDateTime):
            return UTC_OFFSET
        if isinstance(kind, DateTime):  # plain: another TypeDecorator may read it its own way
            return UTC_OFFSET if kind.timezone and self.zoned_when_stored else ""
        raise Unsupported(f"a datetime column of type {kind!r}")

    def datetime_text(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """A datetime column's value as Python's `isoformat()` writes it, as SQL text.

        `to_char` in UTC (a timestamptz is shown in the session's zone otherwise) with all six
        digits of the fraction, then no fraction when they are all zeros, as Python writes it.
        """
        offset = self.utc_offset(column)
        moment = func.timezone(literal_column("'UTC'"), column) if offset else column
        shown = func.to_char(moment, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS.US'"))
        whole = func.replace(shown, literal_column("'.000000'"), literal_column("''"))
        return whole.op("||")(literal_column(f"'{offset}'")) if offset else whole

    def parses(self, statement: ClauseElement) -> bool:
        """Whether the engine's parser takes a statement this deep (PostgreSQL's stack grows)."""
        return True

    def keys(self, name: str, key_type: TypeEngine[Any]) -> FromClause:
        """The `_entities` keys given at run time as rows: each key, under `name`, and its
        position (`KEYS`: an array of the key column's type, `$1::INTEGER[]`, so that the join
        on the key compares a column with its own type and uses its index)."""
        given = bindparam(KEYS, type_=ARRAY(key_type), required=False)
        rows = func.unnest(given).table_valued("value", with_ordinality="position")
        listed = rows.render_derived(name="cg_given")
        return select(listed.c.value.label(name), listed.c.position.label(POSITION)).subquery(
            "cg_keys"
        )

    def keys_value(self, keys: Sequence[str | int], key_type: TypeEngine[Any]) -> Any:
        """The value of `KEYS` for these keys; Unsupported for an integer the parameter cannot
        hold, which today's path sends as it is, and PostgreSQL refuses with an error."""
        if isinstance(key_type, Integer):
            _within(keys, _bits(key_type))
        return list(keys)


class SQLiteDialect(Dialect):
    """SQLite's spelling (3.30 or later: FILTER on aggregates)."""

    name = "sqlite"
    max_object_pairs = 1_000
    zoned_when_stored = False
    """SQLite keeps a datetime as naive text in UTC, read back naive whatever the column says."""

    def obj(self, pairs: Sequence[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
        args: list[ColumnElement[Any]] = []
        for name, value in pairs:
            args += [key(name), value]
        return func.json_object(*args)

    def array(
        self, value: ColumnElement[Any], *, where: ColumnElement[bool] | None, order: Sequence[Any]
    ) -> ColumnElement[Any]:
        # no ORDER BY inside aggregates before SQLite 3.44: the rows come in the order of the
        # ordered subquery they are read from (storage.compiled.objects orders it)
        items = func.json_group_array(value)
        return items if where is None else items.filter(where)

    def boolean(self, condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return case((condition, func.json("true")), else_=func.json("false"))

    def constant(self, value: bool) -> ColumnElement[Any]:
        return func.json("true" if value else "false")

    def scalar(self, column: ColumnElement[Any], kind: ValueKind) -> ColumnElement[Any]:
        if kind == "bool":
            return case(
                (column.is_(None), None),
                (column == 0, func.json("false")),
                else_=func.json("true"),
            )
        if kind in ("float", "measure"):
            return func.json(func.citygraph_real(column))
        if kind == "average":
            return func.json(func.citygraph_real(func.citygraph_round9(column)))
        if kind == "geojson":
            return func.json(column)
        if kind == "datetime":
            return self.datetime_text(column)
        return column

    def nested(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        # a subquery's result loses SQLite's JSON subtype: json() gives it back
        return func.json(value)

    def json_value(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.json_quote(value)  # JSON (its subtype) as it is

    def cursor(
        self, columns: Sequence[ColumnElement[Any]], kinds: Sequence[ValueKind]
    ) -> ColumnElement[Any] | None:
        codes = "".join(KIND_CODES[k] for k in kinds)
        values = [
            self.datetime_text(column) if kind == "datetime" else column
            for column, kind in zip(columns, kinds, strict=True)
        ]
        return func.citygraph_cursor(literal_column(f"'{codes}'"), *values)

    def text(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return value

    def answer(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return value  # sqlite3 reads text as a str whatever it is asked

    def datetime_text(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        # the stored text parsed as SQLAlchemy reads it, written by Python (storage.engines)
        offset = self.utc_offset(column)
        return func.citygraph_datetime(column, literal_column(f"'{offset}'"))

    def parses(self, statement: ClauseElement) -> bool:
        """Whether SQLite's parser takes the statement. Its stack is fixed (100 symbols before
        SQLite 3.46) and a level of nested lists fills a third of it (each `json_object(`,
        `json((SELECT`, `CASE WHEN` holds a few), so deep nesting may not parse at all. SQLite
        itself says: the statement is prepared, not run, on an empty in-memory database of the
        library the engine uses, which parses it whole before it looks for any table."""
        compiled = statement.compile(
            dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True}
        )
        try:
            _parser().execute(f"EXPLAIN {compiled}")
        except sqlite3.Error as exc:
            return "parser stack overflow" not in str(exc)
        return True  # pragma: no cover - an empty database has no table to read

    def keys(self, name: str, key_type: TypeEngine[Any]) -> FromClause:
        # `KEYS`: a JSON array of the keys, whose index json_each gives; an integer key is an
        # INTEGER value, compared with an INTEGER column as is (json_each's have no affinity)
        given = bindparam(KEYS, type_=Text, required=False)
        listed = func.json_each(given).table_valued("key", "value").alias("cg_given")
        return select(listed.c.value.label(name), listed.c.key.label(POSITION)).subquery("cg_keys")

    def keys_value(self, keys: Sequence[str | int], key_type: TypeEngine[Any]) -> Any:
        # SQLite's integers are 64 bits whatever the column's type: today's path finds no row
        # for a larger key than its column holds, as json_each's join does
        _within(keys, 64)
        return orjson.dumps(list(keys)).decode()


def _bits(key_type: Integer) -> int:
    """How many bits PostgreSQL's integer type holds."""
    if isinstance(key_type, BigInteger):
        return 64
    return 16 if isinstance(key_type, SmallInteger) else 32


def _within(keys: Sequence[str | int], bits: int) -> None:
    """Unsupported unless every integer among `keys` fits in `bits` signed bits."""
    bound = 1 << (bits - 1)
    if any(isinstance(k, int) and not -bound <= k < bound for k in keys):
        raise Unsupported(f"an integer key out of the {bits}-bit range")


@cache
def _parser() -> sqlite3.Connection:
    """An empty in-memory database, only ever asked to prepare statements."""
    return sqlite3.connect(":memory:", check_same_thread=False)


POSTGRESQL = Dialect()
SQLITE = SQLiteDialect()


def dialect_named(name: str) -> Dialect | None:
    """The dialect of an engine's backend name; None for an engine the compiler does not speak."""
    return {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(name)
