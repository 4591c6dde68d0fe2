"""Recognise tables made before migrations: which revision of a branch a database already holds.

Until release 0.2 a server outside production made its tables itself (`create_all`), so every
embedded default and every compose stack has tables that alembic does not know. Before upgrading
such a database, `storage.migrate` asks `recognise` which revision of each branch its tables are
at: that revision's schema is built in a scratch place by the migrations themselves (an in-memory
database for SQLite; a schema inside a rolled-back savepoint for PostgreSQL, so its types and
defaults are the server's own) and compared with the live tables, table by table: columns (type,
nullability, default), primary key, indexes, unique constraints, foreign keys and triggers (the
audit log's append-only guards are part of its schema). The newest matching revision is stamped;
a database that matches none is refused with the differences, and nothing is changed or dropped.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import Script
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine.interfaces import ReflectedColumn

from storage.revisions import scripts

_SNAPSHOTS: dict[tuple[str, str], dict[str, TableShape]] = {}
_SCHEMA_PREFIX = re.compile(r"\"?citygraph_scratch_[0-9a-f]+\"?\.")


class SchemaError(RuntimeError):
    """A database whose tables match no revision of a branch; nothing was changed."""


@dataclass(frozen=True)
class TableShape:
    """What a table is made of, as the database reports it."""

    columns: tuple[tuple[str, str, bool, str | None], ...]
    primary_key: tuple[str, ...]
    indexes: frozenset[tuple[str | None, tuple[str, ...], bool]]
    uniques: frozenset[tuple[str, ...]]
    foreign_keys: frozenset[tuple[tuple[str, ...], str, tuple[str, ...]]]
    triggers: frozenset[str]


def _type(conn: Connection, column: ReflectedColumn) -> str:
    try:
        return str(column["type"].compile(dialect=conn.dialect))
    except Exception:  # a type the dialect cannot render back: compare its repr
        return repr(column["type"])


def _default(value: Any) -> str | None:
    return None if value is None else _SCHEMA_PREFIX.sub("", " ".join(str(value).split()))


def _triggers(conn: Connection, schema: str | None) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
        ).all()
    else:
        rows = conn.execute(
            text(
                "SELECT c.relname, t.tgname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND n.nspname = coalesce(:schema, current_schema())"
            ),
            {"schema": schema},
        ).all()
    for table, name in rows:
        found.setdefault(table, set()).add(name)
    return found


def shapes(
    conn: Connection, *, schema: str | None = None, only: set[str] | None = None
) -> dict[str, TableShape]:
    """The tables of this database (or of `schema`; those named in `only`), by name."""
    inspector = inspect(conn)
    triggers = _triggers(conn, schema)
    found = {}
    for table in inspector.get_table_names(schema=schema):
        if table == "alembic_version" or (only is not None and table not in only):
            continue
        columns = inspector.get_columns(table, schema=schema)
        found[table] = TableShape(
            columns=tuple(
                (c["name"], _type(conn, c), bool(c["nullable"]), _default(c.get("default")))
                for c in columns
            ),
            primary_key=tuple(
                inspector.get_pk_constraint(table, schema=schema)["constrained_columns"]
            ),
            indexes=frozenset(
                (i["name"], tuple(str(c) for c in i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table, schema=schema)
            ),
            uniques=frozenset(
                tuple(u["column_names"])
                for u in inspector.get_unique_constraints(table, schema=schema)
            ),
            foreign_keys=frozenset(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in inspector.get_foreign_keys(table, schema=schema)
            ),
            triggers=frozenset(triggers.get(table, ())),
        )
    return found


def _build(conn: Connection, revision: str) -> None:
    """Run a branch's migrations up to `revision` on `conn` (an empty place)."""
    script = scripts()
    context = MigrationContext.configure(
        conn, opts={"render_as_batch": conn.dialect.name == "sqlite"}
    )
    with Operations.context(context):
        for step in script._upgrade_revs(revision, ()):  # type: ignore[arg-type]  # from base
            step.migration_fn()


def snapshot(conn: Connection, revision: str) -> dict[str, TableShape]:
    """The tables a revision's lineage makes, on this connection's kind of database."""
    key = (conn.dialect.name, revision)
    if key not in _SNAPSHOTS:
        if conn.dialect.name == "sqlite":
            scratch = create_engine("sqlite://")
            try:
                with scratch.begin() as place:
                    _build(place, revision)
                    _SNAPSHOTS[key] = shapes(place)
            finally:
                scratch.dispose()
        else:
            # DDL is transactional on PostgreSQL: build in a scratch schema, read, roll back
            schema = f"citygraph_scratch_{secrets.token_hex(4)}"
            savepoint = conn.begin_nested()
            try:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
                conn.exec_driver_sql(f"SET LOCAL search_path TO {schema}")
                _build(conn, revision)
                _SNAPSHOTS[key] = shapes(conn, schema=schema)
            finally:
                savepoint.rollback()
    return _SNAPSHOTS[key]


def differences(expected: dict[str, TableShape], live: dict[str, TableShape]) -> list[str]:
    """How the live tables differ from the expected ones; tables not expected are not looked at."""
    found = []
    for table, want in sorted(expected.items()):
        have = live.get(table)
        if have is None:
            found.append(f"table {table} is missing")
            continue
        want_cols = {c[0]: c for c in want.columns}
        have_cols = {c[0]: c for c in have.columns}
        for name in sorted(want_cols.keys() - have_cols.keys()):
            found.append(f"{table}.{name} is missing")
        for name in sorted(have_cols.keys() - want_cols.keys()):
            found.append(f"{table}.{name} is not in the revision")
        for name in sorted(want_cols.keys() & have_cols.keys()):
            _, wtype, wnull, wdefault = want_cols[name]
            _, htype, hnull, hdefault = have_cols[name]
            if wtype != htype:
                found.append(f"{table}.{name} is {htype}, not {wtype}")
            if wnull != hnull:
                found.append(f"{table}.{name} is {'' if hnull else 'NOT '}NULL, not the other way")
            if wdefault != hdefault:
                found.append(f"{table}.{name} defaults to {hdefault}, not {wdefault}")
        for part in ("primary_key", "indexes", "uniques", "foreign_keys", "triggers"):
            if getattr(want, part) != getattr(have, part):
                found.append(f"{table}: {part.replace('_', ' ')} differ")
    return found


def recognise(
    conn: Connection, branch: str, revisions: Sequence[Script], *, probe: bool = False
) -> str | None:
    """The newest revision of `branch` whose tables this database holds exactly, None when it
    holds none of them (a new database). With `probe`, only whether it holds any (the head's
    revision, or None), without comparing.

    Raises SchemaError, naming the differences, when the branch's tables are
    there but match no revision.
    """
    head = revisions[-1].revision
    expected = {table for script in revisions for table in snapshot(conn, script.revision)}
    present = expected & set(inspect(conn).get_table_names())
    if not present:
        return None
    if probe:
        return head
    live = shapes(conn, only=present)
    closest: list[str] | None = None
    for script in reversed(revisions):
        found = differences(snapshot(conn, script.revision), live)
        if not found:
            return script.revision
        if closest is None or len(found) < len(closest):
            closest = found
    assert closest is not None  # noqa: S101 - a branch has at least one revision
    raise SchemaError(
        f"the {branch} tables match no revision of its migrations, so nothing was changed: "
        + "; ".join(closest)
    )
