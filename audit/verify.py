"""`citygraph audit verify`: walk every chain and report the first record that breaks it.

A record is broken when its sequence number is not the one after its predecessor's (a gap: a
deleted record, or one inserted with a made-up number), when its `prev` is not its predecessor's
HMAC (a reordering or a deletion), when its HMAC does not match its body (an edit, or a record
forged without the key), or when the columns copied from its body (and its audit_access rows) no
longer agree with the body. Deleting the tail of a chain, or a whole chain, leaves what remains
valid: an earlier checkpoint (audit.checkpoint) names each chain's head, and verify checks that
those heads are still there.
"""

from __future__ import annotations

import hmac as hmac_lib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.chain import GENESIS, link
from audit.store import KINDS, chain_ids, chain_rows

COPIED = (
    "record_id",
    "tier",
    "subject",
    "client_id",
    "outcome",
    "restricted",
    "legal_basis",
    "status",
)


@dataclass(frozen=True, slots=True)
class Broken:
    """The first record of a chain that fails a check, and why."""

    seq: int
    reason: str


@dataclass(slots=True)
class ChainReport:
    """One chain: how many records verified, its head, and the first break if any."""

    chain_id: str
    records: int = 0
    head_seq: int = 0
    head_hmac: str = GENESIS
    broken: Broken | None = None


@dataclass(slots=True)
class Report:
    """Every chain, plus what an earlier checkpoint says is missing."""

    chains: list[ChainReport] = field(default_factory=list)
    missing: list[Broken] = field(default_factory=list)
    """Checkpointed heads no longer in the log (seq of the head, reason naming its chain)."""

    @property
    def ok(self) -> bool:
        return not self.missing and all(c.broken is None for c in self.chains)

    def problems(self) -> list[str]:
        """One line per problem, for people."""
        lines = [
            f"chain {c.chain_id}: record {c.broken.seq}: {c.broken.reason}"
            for c in self.chains
            if c.broken is not None
        ]
        return lines + [m.reason for m in self.missing]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_row(row: Any, side: list[tuple[str, str]], body: dict[str, Any]) -> str | None:
    """Why the copied columns of a row, or its access rows (`side`, sorted), disagree with its
    body, or None. A pair twice in `side` disagrees: it would count twice in the auditors' counts."""
    for name in COPIED:
        if getattr(row, name) != body.get(name):
            return f"column {name} does not match the signed body"
    if _utc(row.at) != datetime.fromisoformat(body["at"]):
        return "column at does not match the signed body"
    expected = sorted((kind, v) for kind, name in KINDS.items() for v in body.get(name, []))
    if side != expected:
        return "its subject, dataset or department rows do not match the signed body"
    return None


async def verify_chain(engine: AsyncEngine, key: bytes, chain_id: str) -> ChainReport:
    """Check one chain from its first record to its head."""
    report = ChainReport(chain_id)
    async with engine.connect() as conn:
        async for row, side in chain_rows(conn, chain_id):
            expected_seq = report.head_seq + 1
            if row.seq != expected_seq:
                report.broken = Broken(
                    expected_seq, f"missing (the next record found is {row.seq})"
                )
                return report
            if row.prev != report.head_hmac:
                report.broken = Broken(row.seq, "does not follow the record before it")
                return report
            computed = link(key, chain_id=chain_id, seq=row.seq, prev=row.prev, body=row.body)
            if not hmac_lib.compare_digest(computed, row.hmac):
                report.broken = Broken(row.seq, "its HMAC does not match its content")
                return report
            try:
                problem = check_row(row, side, orjson.loads(row.body))
            except (ValueError, KeyError, TypeError):
                problem = "its body is not a record"
            if problem is not None:
                report.broken = Broken(row.seq, problem)
                return report
            report.records += 1
            report.head_seq, report.head_hmac = row.seq, row.hmac
    return report


async def verify(
    engine: AsyncEngine, key: bytes, *, checkpoint_heads: dict[str, tuple[int, str]] | None = None
) -> Report:
    """Verify every chain, and that every head of an earlier checkpoint is still in its chain."""
    async with engine.connect() as conn:
        ids = await chain_ids(conn)
    report = Report([await verify_chain(engine, key, chain_id) for chain_id in ids])
    by_id = {c.chain_id: c for c in report.chains}
    for chain_id, (seq, head_hmac) in sorted((checkpoint_heads or {}).items()):
        chain = by_id.get(chain_id)
        if chain is None:
            report.missing.append(
                Broken(seq, f"chain {chain_id}: every record is gone (the checkpoint had {seq})")
            )
        elif chain.broken is None and chain.head_seq < seq:
            report.missing.append(
                Broken(
                    chain.head_seq + 1,
                    f"chain {chain_id}: record {chain.head_seq + 1}: missing, the chain was "
                    f"truncated (the checkpoint had {seq} records)",
                )
            )
        elif chain.broken is None and chain.head_seq >= seq:
            # the checkpointed head must be the very record still at that place
            async with engine.connect() as conn:
                async for row, _side in chain_rows(conn, chain_id):
                    if row.seq == seq and row.hmac != head_hmac:
                        report.missing.append(
                            Broken(
                                seq, f"chain {chain_id}: record {seq}: differs from the checkpoint"
                            )
                        )
                    if row.seq >= seq:
                        break
    return report
