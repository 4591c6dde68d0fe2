"""Stored citations: what a public answer asked, which dataset versions it read, and its hash.

A citation's id is derived from what it records, so citing the same answer twice stores one row
and costs one INSERT per process at most (`CitationStore` remembers the ids it wrote).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

CITATIONS = Table(
    "citygraph_citation",
    MetaData(),
    Column("id", String, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("document", Text, nullable=False),
    Column("operation_name", String, nullable=True),
    Column("variables", Text, nullable=True),
    Column("versions", Text, nullable=False),
    Column("answer_sha256", String, nullable=True),
    Column("export_format", String, nullable=True),
)


@dataclass(frozen=True, slots=True)
class Citation:
    """One cited answer: the request, the dataset versions it read, the hash of its `data`."""

    id: str
    document: str
    operation_name: str | None
    variables: dict[str, Any] | None
    versions: dict[str, int]
    answer_sha256: str | None
    """None for an export still being sent: its hash is stored when its last row is."""
    export_format: str | None = None
    """`csv` or `geojson` for an export (its answer is every row it holds), else None."""
    created_at: datetime | None = None

    @classmethod
    def of(
        cls,
        *,
        document: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        versions: dict[str, int],
        answer_sha256: str | None,
        export_format: str | None = None,
    ) -> Citation:
        """A new citation of these facts, under the id they give (`citation_id`)."""
        facts: dict[str, Any] = {
            "document": document,
            "operation_name": operation_name,
            "variables": variables,
            "versions": versions,
            "answer_sha256": answer_sha256,
            "export_format": export_format,
        }
        return cls(id=citation_id(**facts), **facts)


def citation_id(
    *,
    document: str,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    versions: dict[str, int],
    answer_sha256: str | None,
    export_format: str | None = None,
) -> str:
    """The id a citation of these facts has: 26 base32 characters (130 bits) of the SHA-256 of
    `[document, operation_name, variables, versions, answer_sha256, export_format]` as compact
    JSON with sorted keys. `CitedQuery` writes those bytes: one definition, which a cited answer
    continues from the request's part, hashed once.

    An export's id is known before its hash (it goes in a header): it has no hash among its facts.
    """
    query = CitedQuery(
        document=document, operation_name=operation_name, variables=variables, versions=versions
    )
    return query.id_of(answer_sha256, export_format)


class CitedQuery:
    """What every citation of one request at some dataset versions shares, whatever its answer:
    the start of the facts its id is the hash of (`citation_id`), hashed once."""

    __slots__ = ("_started", "head")

    def __init__(
        self,
        *,
        document: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        versions: dict[str, int],
    ) -> None:
        # orjson writes a list as its members joined by commas, with no space: the facts of
        # `citation_id` are these four members, a comma, and `tail`
        self.head = (
            orjson.dumps(
                [document, operation_name, variables, versions], option=orjson.OPT_SORT_KEYS
            )[:-1]
            + b","
        )
        self._started = hashlib.sha256(self.head)

    @staticmethod
    def tail(answer_sha256: str | None, export_format: str | None = None) -> bytes:
        """The end of the facts: the answer's hash and the export's format, and the `]`."""
        return orjson.dumps([answer_sha256, export_format])[1:]

    def id_of(self, answer_sha256: str | None, export_format: str | None = None) -> str:
        """The id of this request's citation with this answer: `citation_id` of the same facts."""
        facts = self._started.copy()
        facts.update(self.tail(answer_sha256, export_format))
        return _id_of(facts.digest())


def _id_of(digest: bytes) -> str:
    """The first 26 characters of a SHA-256 digest in lower-case base32 (RFC 4648)."""
    # base64.b32encode is written in Python (3 µs a digest): the first 130 bits are read here as
    # 13 pairs of characters (1 µs). Every cited answer makes its id anew: no id is remembered,
    # or a repeated answer would cost less than a new one
    bits = int.from_bytes(digest[:17]) >> 6
    return "".join([_BASE32_PAIRS[(bits >> shift) & 0x3FF] for shift in _PAIR_SHIFTS])


_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_BASE32_PAIRS = [a + b for a in _BASE32 for b in _BASE32]
_PAIR_SHIFTS = range(120, -1, -10)


class CitationStore:
    """Citations in one database; the ids already written by this process are not written again."""

    def __init__(self, engine: AsyncEngine, *, remembered: int = 4096) -> None:
        self.engine = engine
        self._written: OrderedDict[str, None] = OrderedDict()
        self._remembered = remembered

    def written(self, citation_id: str) -> bool:
        """Whether this process stored this id lately: `save` would not write it again."""
        if citation_id in self._written:
            self._written.move_to_end(citation_id)
            return True
        return False

    async def save(self, citation: Citation) -> None:
        """Store a citation once (an existing id is left as it is)."""
        if self.written(citation.id):
            return
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(CITATIONS)
            .values(
                id=citation.id,
                created_at=datetime.now(UTC),
                document=citation.document,
                operation_name=citation.operation_name,
                variables=None
                if citation.variables is None
                else orjson.dumps(citation.variables).decode(),
                versions=orjson.dumps(citation.versions, option=orjson.OPT_SORT_KEYS).decode(),
                answer_sha256=citation.answer_sha256,
                export_format=citation.export_format,
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)
        self._written[citation.id] = None
        if len(self._written) > self._remembered:
            self._written.popitem(last=False)

    async def find(self, citation_id: str) -> Citation | None:
        """The stored citation with this id, if any."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(CITATIONS).where(CITATIONS.c.id == citation_id))
            ).first()
        if row is None:
            return None
        created = row.created_at
        if created.tzinfo is None:  # SQLite hands back naive datetimes; every stored time is UTC
            created = created.replace(tzinfo=UTC)
        return Citation(
            id=row.id,
            document=row.document,
            operation_name=row.operation_name,
            variables=None if row.variables is None else orjson.loads(row.variables),
            versions=orjson.loads(row.versions),
            answer_sha256=row.answer_sha256,
            export_format=row.export_format,
            created_at=created,
        )

    async def complete(self, citation_id: str, answer_sha256: str) -> None:
        """Record the hash of an export once its last row is sent (the first complete one wins)."""
        statement = (
            update(CITATIONS)
            .where(CITATIONS.c.id == citation_id, CITATIONS.c.answer_sha256.is_(None))
            .values(answer_sha256=answer_sha256)
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)
