"""Dataset versions: every load of a public dataset is a numbered version, earlier ones queryable.

History is system-versioned, beside the live table: `<table>_history` holds every row image the
dataset ever served, each with the interval of versions it was valid in (`cg_valid_from`
inclusive, `cg_valid_to` exclusive, NULL while current). A load that leaves a row as it was adds
nothing for it; an edited row closes its old image and opens a new one; a removed row is closed.
So ten loads with small changes cost the rows that changed, never ten copies.

The live table stays what it always was, and today's reads never touch the history: only a read
pinned to a version does (`rows_at`). `visible_at` is the one version predicate both read paths
(the repositories and a compiled statement) put on a history table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    DateTime,
    FromClause,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ColumnElement

VALID_FROM = "cg_valid_from"
VALID_TO = "cg_valid_to"

VERSIONS = Table(
    "citygraph_version",
    MetaData(),
    Column("dataset", String, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("origin", String, nullable=False),
    Column("source", String, nullable=True),
    Column("row_count", Integer, nullable=False),
    Column("content_sha256", String, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Version:
    """One load of a dataset: its number, when, from where, and what it held."""

    dataset: str
    number: int
    created_at: datetime
    origin: str
    source: str | None
    row_count: int
    content_sha256: str

    @property
    def id(self) -> str:
        """The version's public id, `bikeStations@3`."""
        return version_id(self.dataset, self.number)


def version_id(dataset: str, number: int) -> str:
    return f"{dataset}@{number}"


class UnknownVersion(ValueError):
    """An `asOf` or a citation names a version or a time the dataset does not have."""


def parse_version_id(text: str) -> tuple[str, int] | None:
    """`bikeStations@3` as (dataset, number); None when the text is not a version id."""
    dataset, sep, number = text.rpartition("@")
    if not sep or not dataset or not number.isdigit():
        return None
    return dataset, int(number)


# the history tables ------------------------------------------------------------------------

_HISTORY = "citygraph_history"
"""The key, in a dataset table's `info`, of its history table (made once per table object)."""


def history_name(table_name: str) -> str:
    return f"{table_name}_history"


def history_table(table: Table, metadata: MetaData | None = None) -> Table:
    """The history table of a dataset table: its columns, unconstrained, and the validity interval.

    Made once per table object (and per `metadata` when one is given, for the migrations).
    """
    if metadata is None:
        found: Table | None = table.info.get(_HISTORY)
        if found is not None:
            return found
    name = history_name(table.name)
    keys = [c.name for c in table.primary_key.columns]
    history = Table(
        name,
        metadata if metadata is not None else MetaData(),
        *(Column(c.name, c.type, nullable=c.nullable) for c in table.columns),
        Column(VALID_FROM, Integer, nullable=False),
        Column(VALID_TO, Integer, nullable=True),
        Index(f"ix_{name}_key", *keys, VALID_TO),
        Index(f"ix_{name}_valid", VALID_FROM, VALID_TO),
    )
    if metadata is None:
        table.info[_HISTORY] = history
    return history


def visible_at(
    history: Table | FromClause, number: int | ColumnElement[int]
) -> ColumnElement[bool]:
    """The rows of a history table that version `number` held: the one version predicate.

    `number` may be an SQL expression: the compiled path binds it as a statement parameter.
    """
    return and_(
        history.c[VALID_FROM] <= number,
        or_(history.c[VALID_TO].is_(None), history.c[VALID_TO] > number),
    )


def rows_at(table: Table, number: int | ColumnElement[int] | None) -> FromClause:
    """What to select a dataset's rows from: the live table, or its rows as of version `number`.

    The pinned form is a subquery named like the table, with the table's columns only, so every
    statement built over the live table (filters, keyset seeks, aggregates) runs on it unchanged.
    """
    if number is None:
        return table
    history = history_table(table)
    return (
        select(*(history.c[c.name] for c in table.columns))
        .where(visible_at(history, number))
        .subquery(table.name)
    )


# writing a version ---------------------------------------------------------------------------


async def commit_version(
    conn: AsyncConnection,
    *,
    dataset: str,
    table: Table,
    origin: str,
    source: str | None,
) -> Version:
    """Record the live table's rows as the dataset's next version, inside the load's transaction.

    The live table is compared with the history's current images, in SQL: images no live row
    equals are closed, live rows no current image equals are opened. Being in the writer's
    transaction, a reader sees the new rows and the new version together, or neither.
    """
    history = history_table(table)
    last = await conn.execute(
        select(func.max(VERSIONS.c.number)).where(VERSIONS.c.dataset == dataset)
    )
    number = int(last.scalar() or 0) + 1
    names = [c.name for c in table.columns]
    keys = {c.name for c in table.primary_key.columns}
    current = history.c[VALID_TO].is_(None)
    # keys are never null: plain equality lets the database hash or index the anti-joins
    # (IS NOT DISTINCT FROM, which the other columns need, would make them nested loops)
    same = and_(
        *(
            history.c[n] == table.c[n]
            if n in keys
            else history.c[n].is_not_distinct_from(table.c[n])
            for n in names
        )
    )
    live_has_it = exists(select(literal(1)).select_from(table).where(same))
    await conn.execute(update(history).where(current, ~live_has_it).values({VALID_TO: number}))
    history_has_it = exists(select(literal(1)).select_from(history).where(current, same))
    await conn.execute(
        insert(history).from_select(
            [*names, VALID_FROM],
            select(*(table.c[n] for n in names), literal(number)).where(~history_has_it),
        )
    )
    count, digest = await content_digest(conn, table)
    version = Version(
        dataset=dataset,
        number=number,
        created_at=datetime.now(UTC),
        origin=origin,
        source=source,
        row_count=count,
        content_sha256=digest,
    )
    await conn.execute(
        insert(VERSIONS).values(
            dataset=dataset,
            number=number,
            created_at=version.created_at,
            origin=origin,
            source=source,
            row_count=count,
            content_sha256=digest,
        )
    )
    return version


async def forget_versions(conn: AsyncConnection, *, dataset: str, table: Table) -> None:
    """Drop a dataset's history and versions: its table is remade with other columns."""
    await conn.run_sync(history_table(table).drop, checkfirst=True)
    await conn.execute(VERSIONS.delete().where(VERSIONS.c.dataset == dataset))


async def content_digest(conn: AsyncConnection, table: FromClause | Table) -> tuple[int, str]:
    """How many rows, and the SHA-256 of them in primary-key order, one JSON array per line."""
    keys = list(table.primary_key.columns) if isinstance(table, Table) else []
    statement = select(table).order_by(*keys)
    digest = hashlib.sha256()
    count = 0
    result = await conn.stream(statement)
    async for part in result.partitions(5_000):
        for row in part:
            digest.update(orjson.dumps(list(row), default=str))
            digest.update(b"\n")
            count += 1
    return count, digest.hexdigest()


# reading versions ----------------------------------------------------------------------------


def _aware(created: datetime) -> datetime:
    if created.tzinfo is None:  # SQLite hands back naive datetimes; every stored time is UTC
        return created.replace(tzinfo=UTC)
    return created


def _version(row: Any) -> Version:
    return Version(
        dataset=row.dataset,
        number=row.number,
        created_at=_aware(row.created_at),
        origin=row.origin,
        source=row.source,
        row_count=row.row_count,
        content_sha256=row.content_sha256,
    )


async def read_versions(engine: AsyncEngine, dataset: str | None = None) -> list[Version]:
    """The versions in this database (of one dataset), oldest first; none before the table exists."""
    statement = select(VERSIONS).order_by(VERSIONS.c.dataset, VERSIONS.c.number)
    if dataset is not None:
        statement = statement.where(VERSIONS.c.dataset == dataset)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
    except (OperationalError, ProgrammingError):
        return []
    return [_version(r) for r in rows]


async def latest_numbers(engine: AsyncEngine, datasets: list[str]) -> dict[str, int]:
    """The current version number of each of these datasets (those that have one)."""
    statement = (
        select(VERSIONS.c.dataset, func.max(VERSIONS.c.number))
        .where(VERSIONS.c.dataset.in_(datasets))
        .group_by(VERSIONS.c.dataset)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return {name: int(number) for name, number in rows}


async def find_version(engine: AsyncEngine, dataset: str, number: int) -> Version:
    """One version, or UnknownVersion."""
    statement = select(VERSIONS).where(VERSIONS.c.dataset == dataset, VERSIONS.c.number == number)
    async with engine.connect() as conn:
        row = (await conn.execute(statement)).first()
    if row is None:
        raise UnknownVersion(f"{version_id(dataset, number)} is not a version of {dataset}")
    return _version(row)


async def version_at(engine: AsyncEngine, dataset: str, moment: datetime) -> Version:
    """The dataset's version current at `moment`, or UnknownVersion if it had none yet."""
    moment = moment.astimezone(UTC)  # stored times are UTC, and SQLite compares them as text
    statement = (
        select(VERSIONS)
        .where(VERSIONS.c.dataset == dataset, VERSIONS.c.created_at <= moment)
        .order_by(VERSIONS.c.number.desc())
        .limit(1)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(statement)).first()
    if row is None:
        raise UnknownVersion(
            f"{dataset} had no version at {moment.isoformat()}: its first load is later"
        )
    return _version(row)


async def numbers_as_of(
    conn: AsyncConnection,
    datasets: Sequence[str],
    *,
    named: tuple[str, int] | None = None,
    moment: datetime | None = None,
) -> tuple[datetime | None, dict[str, int | None]]:
    """What an `asOf` reads, in one statement: its moment (the time of the `named` version, or
    `moment`) and the version of each dataset current then, as `find_version` and `version_at`
    decide it (the named version for its own dataset). None where there is none.
    """
    when: Any
    columns: list[Any] = []
    if named is not None:
        when = (
            select(VERSIONS.c.created_at)
            .where(VERSIONS.c.dataset == named[0], VERSIONS.c.number == named[1])
            .scalar_subquery()
        )
        columns.append(when.label("moment"))
    elif moment is not None:
        when = moment = moment.astimezone(UTC)  # as version_at compares it
    else:
        raise ValueError("an asOf names a version or a moment")
    asked = [d for d in dict.fromkeys(datasets) if named is None or d != named[0]]
    for dataset in asked:
        columns.append(
            select(VERSIONS.c.number)
            .where(VERSIONS.c.dataset == dataset, VERSIONS.c.created_at <= when)
            .order_by(VERSIONS.c.number.desc())
            .limit(1)
            .scalar_subquery()
        )
    row = (await conn.execute(select(*columns))).one() if columns else ()
    values = list(row)
    if named is not None:
        found = values.pop(0)
        moment = None if found is None else _aware(found)
    numbers: dict[str, int | None] = dict(zip(asked, values, strict=True))
    if named is not None:
        numbers[named[0]] = None if moment is None else named[1]
    return moment, {d: numbers[d] for d in datasets}
