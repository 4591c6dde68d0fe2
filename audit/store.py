"""The log's tables and the appender that chains records into them.

    audit_log     one row per record: (chain_id, seq) key, the canonical body, prev and hmac, and
                  a few columns copied from the body for queries (verify checks they still agree)
    audit_access  (chain_id, seq, kind, value) for kind in subject, dataset, department: what a
                  record is about, indexed for "whose records" and "which dataset" queries, and
                  by (chain_id, seq) for the record's own rows (no primary key: see the table)

Both are append-only: triggers refuse UPDATE, DELETE (and TRUNCATE on PostgreSQL), and
`grant_append_only(role)` leaves the application's role INSERT and SELECT only. The tables and
their triggers are made by the `audit` migration branch (storage/migrations/versions/audit).

Concurrency: one chain per writer process (`chain_id` = host, pid and a random suffix), whose
head lives in memory behind an asyncio lock. Two workers, or two instances on one database, never
write to the same chain, so there is no lock to take across processes and no gap to race into;
the database only has to keep each transaction whole. When a commit's outcome is unknown (the
connection died during COMMIT), the head is read back from the table before the next append.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit.bulk import driver_insert, insert_rows, recordset, recordset_insert, sqlite_file
from audit.chain import GENESIS, canonical, link
from audit.records import AccessRecord
from storage import direct_reads
from storage.engines import sqlite_connect, writing

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("chain_id", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("record_id", String(32), nullable=False, unique=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("tier", String(16), nullable=False),
    Column("subject", String(255), nullable=True, index=True),
    Column("client_id", String(255), nullable=True, index=True),
    Column("outcome", String(16), nullable=False),
    Column("restricted", Boolean, nullable=False),
    Column("legal_basis", String(100), nullable=True),
    Column("status", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("body", Text, nullable=False, comment="canonical JSON the HMAC covers"),
    Column("prev", String(64), nullable=False),
    Column("hmac", String(64), nullable=False),
    PrimaryKeyConstraint("chain_id", "seq"),
)

audit_access = Table(
    "audit_access",
    metadata,
    Column("chain_id", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False, comment="subject, dataset or department"),
    Column("value", String(255), nullable=False),
    # no primary key: a unique (chain_id, seq, kind, value) cost a restricted read's commit a
    # wide random index entry per resident (docs/audit.md); a record's rows share one entry of
    # this index (deduplicated), and verification counts them against the signed body
    Index("ix_audit_access_chain_seq", "chain_id", "seq"),
    Index("ix_audit_access_kind_value", "kind", "value"),
)

KINDS = {"subject": "subjects", "dataset": "datasets", "department": "departments"}
"""audit_access kinds and the body lists they copy."""


async def grant_append_only(engine: AsyncEngine, role: str) -> None:
    """Leave `role` (the application's PostgreSQL role) INSERT and SELECT on the log, nothing else."""
    async with engine.begin() as conn:
        quoted = conn.dialect.identifier_preparer.quote(role)
        for table in ("audit_log", "audit_access"):
            await conn.exec_driver_sql(f"REVOKE ALL ON {table} FROM {quoted}")
            await conn.exec_driver_sql(f"GRANT SELECT, INSERT ON {table} TO {quoted}")


def new_chain_id() -> str:
    """A chain of its own for this process: host, pid and a random suffix (pids are reused)."""
    host = socket.gethostname()[:24]
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


Prepared = tuple[str, dict[str, Any]]
"""A record ready to chain: its canonical body text, and that body as a dict."""


def prepare(record: AccessRecord) -> Prepared:
    body = record.body()
    return canonical(body), body


def row_of(item: Prepared, *, chain_id: str, seq: int, prev: str, key: bytes) -> dict[str, Any]:
    """The audit_log row of a record at this place in a chain."""
    text, body = item
    return {
        "chain_id": chain_id,
        "seq": seq,
        "record_id": body["record_id"],
        "at": datetime.fromisoformat(body["at"]),
        "tier": body["tier"],
        "subject": body["subject"],
        "client_id": body["client_id"],
        "outcome": body["outcome"],
        "restricted": body["restricted"],
        "legal_basis": body["legal_basis"],
        "status": body["status"],
        "latency_ms": body["latency_ms"],
        "body": text,
        "prev": prev,
        "hmac": link(key, chain_id=chain_id, seq=seq, prev=prev, body=text),
    }


def access_rows(body: dict[str, Any], *, chain_id: str, seq: int) -> list[dict[str, Any]]:
    """The audit_access rows of a record."""
    return [
        {"chain_id": chain_id, "seq": seq, "kind": kind, "value": value}
        for kind, name in KINDS.items()
        for value in body[name]
    ]


@cache
def postgresql_append(dialect: Dialect) -> str:
    """PostgreSQL: the records' audit_log rows (`$1`, a JSON array, `bulk.recordset`), and each
    one's audit_access rows read from its own body by the same statement.

    A staff page of 100 residents is 100 access rows a record: built as dicts, encoded, sent
    and parsed back (`json_populate_recordset`) they cost the server and PostgreSQL more than
    the log row itself. Taken from the body the chain signs, they also cannot disagree with it.
    """
    kinds = ", ".join(f"('{kind}', '{name}')" for kind, name in KINDS.items())
    # each body parsed once, as jsonb, for its three lists: `body::json -> list` parsed the text
    # again for each (a public record's append cost PostgreSQL 13-20% more)
    return (
        f"WITH logged AS ({recordset_insert(audit_log, dialect)} "  # noqa: S608 (our constants)
        "RETURNING chain_id, seq, body::jsonb AS doc) "
        "INSERT INTO audit_access (chain_id, seq, kind, value) "
        "SELECT l.chain_id, l.seq, k.kind, v.value FROM logged l "
        f"CROSS JOIN (VALUES {kinds}) AS k (kind, list) "
        "CROSS JOIN LATERAL jsonb_array_elements_text(l.doc -> k.list) AS v (value)"
    )


class AuditStoreError(RuntimeError):
    """The log could not be written (the database is down, full, or refuses).

    Its message is the error's class and the driver's code for it (`OperationalError
    (SQLITE_BUSY)`, `IntegrityError (23505)`): what an operator needs to tell a lock from a full
    disk or a refused connection, and never the driver's own text, which may quote values.
    """

    @classmethod
    def of(cls, exc: BaseException) -> AuditStoreError:
        orig = getattr(exc, "orig", None) or exc
        code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)
        name = type(exc).__name__
        return cls(f"{name} ({code})" if code else name)


SQLITE_HEAD = "SELECT seq, hmac FROM audit_log WHERE chain_id = ? ORDER BY seq DESC LIMIT 1"
"""A chain's head, read inside the append's own transaction on its thread (ChainAppender)."""


@dataclass
class Head:
    seq: int = 0
    hmac: str = GENESIS


@dataclass
class Linked:
    """A group of records chained: their audit_log rows, their audit_access rows, the new head."""

    rows: list[dict[str, Any]]
    side: list[dict[str, Any]]
    head: Head


class ChainAppender:
    """Appends records to this process's chain, one transaction per call (audit.bulk: one hop)."""

    def __init__(self, engine: AsyncEngine, key: bytes, chain_id: str | None = None) -> None:
        self.engine = engine
        self.key = key
        self.chain_id = chain_id or new_chain_id()
        self.head = Head()
        self._lock = asyncio.Lock()
        self._head_known = chain_id is None  # a new chain starts empty
        self._sqlite_file = sqlite_file(engine.url)
        self._thread_lock = threading.Lock()
        """SQLite: a caller cancelled mid-append leaves its thread running; the next one waits."""

    async def _reload_head(self, conn: AsyncConnection) -> None:
        row = (
            await conn.execute(
                select(audit_log.c.seq, audit_log.c.hmac)
                .where(audit_log.c.chain_id == self.chain_id)
                .order_by(audit_log.c.seq.desc())
                .limit(1)
            )
        ).first()
        self.head = Head(row.seq, row.hmac) if row else Head()

    async def known(self, record_ids: Sequence[str]) -> set[str]:
        """Which of these records are in the log already (a replay after a crash mid-flush)."""
        if not record_ids:
            return set()
        try:
            async with self.engine.connect() as conn:
                rows = await conn.execute(
                    select(audit_log.c.record_id).where(audit_log.c.record_id.in_(list(record_ids)))
                )
                return {r.record_id for r in rows}
        except Exception as exc:  # SQLAlchemy's and the drivers' errors alike
            raise AuditStoreError.of(exc) from exc

    async def append(self, records: Sequence[AccessRecord]) -> None:
        """Chain and commit `records` in order, all or none; AuditStoreError when that fails."""
        await self.append_prepared([prepare(r) for r in records])

    async def append_prepared(self, records: Sequence[Prepared]) -> None:
        """`append` for records already in canonical form (the spool's lines, a commit group)."""
        if not records:
            return
        async with self._lock:
            try:
                if self._sqlite_file is not None:
                    await asyncio.to_thread(self._append_sqlite, self._sqlite_file, records)
                elif self.engine.dialect.name == "postgresql":
                    await self._append_postgresql(records)
                else:
                    await self._append_core(records)
            except Exception as exc:  # SQLAlchemy's and the drivers' errors alike
                raise AuditStoreError.of(exc) from exc

    def _link(self, records: Sequence[Prepared], head: Head, *, side: bool = True) -> Linked:
        """The rows of `records` chained after `head`, and the head they leave; without their
        audit_access rows unless `side`."""
        seq, prev = head.seq, head.hmac
        rows: list[dict[str, Any]] = []
        access: list[dict[str, Any]] = []
        for item in records:
            seq += 1
            row = row_of(item, chain_id=self.chain_id, seq=seq, prev=prev, key=self.key)
            rows.append(row)
            if side:
                access.extend(access_rows(item[1], chain_id=self.chain_id, seq=seq))
            prev = row["hmac"]
        return Linked(rows, access, Head(seq, prev))

    def _append_sqlite(self, path: str, records: Sequence[Prepared]) -> None:
        """The whole transaction, on a worker thread: the file is locked for its work alone."""
        dialect = self.engine.dialect
        with self._thread_lock, contextlib.closing(sqlite_connect(path)) as conn:
            conn.execute("BEGIN IMMEDIATE")  # waits for other writers under the busy timeout
            try:
                if not self._head_known:
                    row = conn.execute(SQLITE_HEAD, (self.chain_id,)).fetchone()
                    self.head = Head(*row) if row else Head()
                self._head_known = False  # until this commit is known to have happened
                linked = self._link(records, self.head)
                for table, rows in ((audit_log, linked.rows), (audit_access, linked.side)):
                    fast = driver_insert(table, dialect)
                    assert fast is not None  # noqa: S101 (sqlite3's parameters are positional)
                    if rows:
                        conn.executemany(fast.sql, fast.rows(rows))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self.head, self._head_known = linked.head, True

    async def _append_postgresql(self, records: Sequence[Prepared]) -> None:
        """One statement for both tables, in autocommit: one round trip per group
        (`postgresql_append`: the audit_access rows come from the bodies, in the database).

        While the head is known the statement goes straight through asyncpg
        (storage.direct_reads' pool): no pre-ping, no SQLAlchemy connection wrapper; a restricted
        read waits on this commit before its answer leaves.
        """
        statement = postgresql_append(self.engine.dialect)
        if not self._head_known:
            async with self.engine.connect() as conn:
                await self._reload_head(conn)
        self._head_known = False  # until this commit is known to have happened
        linked = self._link(records, self.head, side=False)
        await direct_reads.execute(self.engine, statement, (recordset(linked.rows),))
        self.head, self._head_known = linked.head, True

    async def _append_core(self, records: Sequence[Prepared]) -> None:
        async with writing(self.engine) as conn:  # reads the head, then writes
            if not self._head_known:
                await self._reload_head(conn)
            self._head_known = False  # until this commit is known to have happened
            linked = self._link(records, self.head)
            await insert_rows(conn, audit_log, linked.rows)
            if linked.side:
                await insert_rows(conn, audit_access, linked.side)
        self.head, self._head_known = linked.head, True


async def chain_ids(conn: AsyncConnection) -> list[str]:
    """Every chain in the log."""
    rows = await conn.execute(
        select(audit_log.c.chain_id).distinct().order_by(audit_log.c.chain_id)
    )
    return [r.chain_id for r in rows]


async def chain_rows(
    conn: AsyncConnection, chain_id: str, *, page: int = 5_000
) -> AsyncIterator[tuple[Any, list[tuple[str, str]]]]:
    """The rows of one chain in sequence order, each with its audit_access (kind, value) pairs,
    sorted, and as many times as the table holds them (no key makes a pair unique)."""
    after = -1
    while True:
        rows = (
            await conn.execute(
                select(audit_log)
                .where(audit_log.c.chain_id == chain_id, audit_log.c.seq > after)
                .order_by(audit_log.c.seq)
                .limit(page)
            )
        ).all()
        if not rows:
            return
        side: dict[int, list[tuple[str, str]]] = {}
        for s in await conn.execute(
            select(audit_access.c.seq, audit_access.c.kind, audit_access.c.value).where(
                audit_access.c.chain_id == chain_id,
                audit_access.c.seq > after,
                audit_access.c.seq <= rows[-1].seq,
            )
        ):
            side.setdefault(s.seq, []).append((s.kind, s.value))
        for row in rows:
            yield row, sorted(side.get(row.seq, ()))
        after = rows[-1].seq


async def count(conn: AsyncConnection) -> int:
    """Records in the log."""
    return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())
