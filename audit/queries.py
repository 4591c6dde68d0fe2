"""Reading the log: auditors' searches and counts, citizens' own history (keyset pages, newest first)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, String, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.store import audit_access, audit_log


class BadCursor(ValueError):
    """A cursor this log did not hand out."""


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Conditions on records; every one given must hold."""

    subject: str | None = None
    """A resident whose records were read."""
    principal: str | None = None
    client_id: str | None = None
    dataset: str | None = None
    purpose: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    restricted_only: bool = False
    not_principal: str | None = None
    """Leave out this principal's own requests (a citizen's history of others' reads)."""


@dataclass(frozen=True, slots=True)
class Page:
    records: list[dict[str, Any]]
    end_cursor: str | None
    has_next_page: bool


def encode_cursor(row: Any) -> str:
    key = [row.at.isoformat(), row.chain_id, row.seq]
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode()


def _after(cursor: str) -> ColumnElement[bool]:
    try:
        at, chain_id, seq = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        moment = datetime.fromisoformat(at)
    except (ValueError, TypeError) as exc:
        raise BadCursor("this cursor was not handed out by the access log") from exc
    c = audit_log.c
    # newest first: the next page holds what sorts after (at, chain, seq) in descending order
    return or_(
        c.at < moment,
        and_(c.at == moment, c.chain_id < chain_id),
        and_(c.at == moment, c.chain_id == chain_id, c.seq < seq),
    )


def _has(kind: str, value: str) -> ColumnElement[bool]:
    # an alias, correlated to the log only: the count per department joins audit_access too, and
    # auto-correlation would otherwise take this subquery's own table away from it
    a = audit_access.alias("wanted").c
    return (
        select(a.seq)
        .where(
            a.chain_id == audit_log.c.chain_id,
            a.seq == audit_log.c.seq,
            a.kind == kind,
            a.value == value,
        )
        .correlate(audit_log)
        .exists()
    )


def _filtered(query: Select[Any], f: LogFilter) -> Select[Any]:
    c = audit_log.c
    conditions: list[ColumnElement[bool]] = []
    if f.subject is not None:
        conditions.append(_has("subject", f.subject))
    if f.dataset is not None:
        conditions.append(_has("dataset", f.dataset))
    if f.principal is not None:
        conditions.append(c.subject == f.principal)
    if f.client_id is not None:
        conditions.append(c.client_id == f.client_id)
    if f.purpose is not None:
        conditions.append(c.legal_basis == f.purpose)
    if f.outcome is not None:
        conditions.append(c.outcome == f.outcome)
    if f.restricted_only:
        conditions.append(c.restricted.is_(True))
    if f.not_principal is not None:
        conditions.append(or_(c.subject.is_(None), c.subject != f.not_principal))
    if f.since is not None:
        conditions.append(c.at >= f.since)
    if f.until is not None:
        conditions.append(c.at < f.until)
    return query.where(*conditions)


async def search(
    engine: AsyncEngine, f: LogFilter, *, first: int, after: str | None = None
) -> Page:
    """One page of the records matching `f`, newest first."""
    c = audit_log.c
    query = _filtered(select(c.at, c.chain_id, c.seq, c.body), f)
    if after:
        query = query.where(_after(after))
    query = query.order_by(c.at.desc(), c.chain_id.desc(), c.seq.desc()).limit(first + 1)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    shown = rows[:first]
    return Page(
        records=[{**orjson.loads(r.body), "chain": r.chain_id, "seq": r.seq} for r in shown],
        end_cursor=encode_cursor(shown[-1]) if shown else None,
        has_next_page=len(rows) > first,
    )


async def counts(engine: AsyncEngine, by: str, f: LogFilter) -> list[tuple[str, int]]:
    """Records matching `f` per day (UTC), department or purpose."""
    c = audit_log.c
    dialect = engine.dialect.name
    key: ColumnElement[Any]
    if by == "day":
        key = (
            func.to_char(func.timezone("UTC", c.at), "YYYY-MM-DD")
            if dialect == "postgresql"
            else func.substr(cast(c.at, String), 1, 10)
        )
        query = select(key.label("key"), func.count().label("n"))
    elif by == "department":
        a = audit_access.c
        key = a.value
        query = (
            select(key.label("key"), func.count().label("n"))
            .select_from(audit_log)
            .join(audit_access, and_(a.chain_id == c.chain_id, a.seq == c.seq))
            .where(a.kind == "department")
        )
    elif by == "purpose":
        key = func.coalesce(c.legal_basis, "")
        query = select(key.label("key"), func.count().label("n"))
    else:
        raise ValueError(f"cannot count by {by}")
    query = _filtered(query, f).group_by(key).order_by(key)
    async with engine.connect() as conn:
        return [(r.key, int(r.n)) for r in await conn.execute(query)]
