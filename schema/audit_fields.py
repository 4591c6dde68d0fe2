"""The access log in the schema: auditors query it, citizens read who consulted their records.

- `accessLog(where:, first:, after:)` and `accessLogCounts(by:, where:)`: `audit:read` only.
- `myAccessHistory(first:, after:)`: a citizen (`self`) sees the restricted reads of their own
  records by others: when, which departments, which purpose, which datasets; never who (no staff
  name, subject or client), never other people's entries.

Both go through `AccessGuard` like every restricted field, so reading the log is itself recorded,
durably, before the answer leaves (schema.access). The log's engine comes with the request
(`CityContext.audit_engine`, set by the view); without an access log these fields answer null.

They are part of the gateway's Query type (schema.gateway) and, federated, of one subgraph's
(`schema.federation.AUDIT_DEPARTMENT`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from audit.queries import BadCursor, LogFilter, counts, search
from auth.policy import OWN_ROWS
from auth.scopes import Scope
from schema.access import guarded_field
from schema.context import CityContext
from schema.errors import BadInput

Info = strawberry.Info[CityContext, Any]
PAGE_MAX = 500
AUDIT_DATASET = "accessLog"
"""The name the log goes by in access records' datasets: `accessLog(where: {dataset: ...})` finds
who read the log (no department owns it, so such records name no department)."""


@strawberry.enum(
    description=(
        "How access records are counted: per DAY (UTC, as YYYY-MM-DD), per DEPARTMENT whose data "
        "was read, or per PURPOSE (the declared legal basis; empty when none was declared)."
    )
)
class AccessGrouping(Enum):
    DAY = "day"
    DEPARTMENT = "department"
    PURPOSE = "purpose"


@strawberry.input(description="Conditions on access records; every one given must hold.")
class AccessLogFilter:
    subject: str | None = strawberry.field(
        default=None, description="A resident id: records that read this person's data."
    )
    principal: str | None = strawberry.field(default=None, description="The caller's subject.")
    client_id: str | None = strawberry.field(default=None, description="The caller's client.")
    dataset: str | None = strawberry.field(default=None, description="A dataset read.")
    purpose: str | None = strawberry.field(default=None, description="A legal-basis code.")
    outcome: str | None = strawberry.field(default=None, description="served, denied or failed.")
    since: datetime | None = strawberry.field(
        default=None, description="From this time (UTC when it names no offset)."
    )
    until: datetime | None = strawberry.field(
        default=None, description="Before this time (UTC when it names no offset)."
    )


Where = Annotated[
    AccessLogFilter | None,
    strawberry.argument(description="Conditions the records must meet."),
]
First = Annotated[
    int, strawberry.argument(description=f"How many records, newest first (at most {PAGE_MAX}).")
]
After = Annotated[
    str | None,
    strawberry.argument(description="Cursor of the record to start after (an `endCursor`)."),
]


@strawberry.type(description="One request to the API, as the access log keeps it.")
class AccessRecord:
    at: datetime = strawberry.field(description="When (UTC).")
    request_id: str = strawberry.field(description="The request's id.")
    tier: str = strawberry.field(description="The caller's tier.")
    subject: str | None = strawberry.field(description="The caller's subject.")
    client_id: str | None = strawberry.field(description="The caller's client.")
    pseudonym: str | None = strawberry.field(
        description="An anonymous caller's rotating address pseudonym."
    )
    operation: str | None = strawberry.field(description="The operation's name.")
    document_hash: str | None = strawberry.field(description="SHA-256 of the document.")
    datasets: list[str] = strawberry.field(description="Datasets read.")
    departments: list[str] = strawberry.field(description="Departments whose data was read.")
    fields: list[str] = strawberry.field(description="Restricted fields read (Type.field).")
    subjects: list[str] = strawberry.field(description="Residents whose records were read.")
    restricted: bool = strawberry.field(description="Whether restricted data was served.")
    legal_basis: str | None = strawberry.field(description="The declared legal basis.")
    case_reference: str | None = strawberry.field(description="The declared case reference.")
    outcome: str = strawberry.field(description="served, denied or failed.")
    status: int = strawberry.field(description="The HTTP status.")
    error_codes: list[str] = strawberry.field(description="Codes of the response's errors.")
    latency_ms: float = strawberry.field(description="Time to build the response.")
    chain: str = strawberry.field(description="The chain the record is in.")
    seq: int = strawberry.field(description="Its place in that chain.")


@strawberry.type(description="A page of access records, newest first.")
class AccessLogPage:
    nodes: list[AccessRecord] = strawberry.field(description="The records.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")
    has_next_page: bool = strawberry.field(description="Whether more records follow.")


@strawberry.type(description="How many records fall under one key.")
class AccessCount:
    key: str = strawberry.field(description="The day, department or legal basis.")
    count: int = strawberry.field(description="Records.")


@strawberry.type(description="A consultation of your records by someone else.")
class MyAccess:
    at: datetime = strawberry.field(description="When (UTC).")
    departments: list[str] = strawberry.field(description="Which departments' data.")
    purpose: str | None = strawberry.field(description="The legal basis declared.")
    datasets: list[str] = strawberry.field(description="Which datasets.")


@strawberry.type(description="Your access history, newest first.")
class MyAccessPage:
    nodes: list[MyAccess] = strawberry.field(description="The consultations.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")
    has_next_page: bool = strawberry.field(description="Whether more follow.")


def _record(data: dict[str, Any]) -> AccessRecord:
    names = AccessRecord.__annotations__
    values = {k: v for k, v in data.items() if k in names}
    values["at"] = datetime.fromisoformat(data["at"])
    return AccessRecord(**values)


def _size(first: int) -> int:
    if not 0 <= first <= PAGE_MAX:
        raise BadInput(f"`first` must be between 0 and {PAGE_MAX}")
    return first


def _utc(moment: datetime | None) -> datetime | None:
    # the log's times are UTC, and SQLite compares them as text without their offset
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _filter(where: AccessLogFilter | None) -> LogFilter:
    if where is None:
        return LogFilter()
    return LogFilter(
        subject=where.subject,
        principal=where.principal,
        client_id=where.client_id,
        dataset=where.dataset,
        purpose=where.purpose,
        outcome=where.outcome,
        since=_utc(where.since),
        until=_utc(where.until),
    )


async def resolve_access_log(
    info: Info, where: Where = None, first: First = 50, after: After = None
) -> AccessLogPage | None:
    engine = info.context.audit_engine
    if engine is None:
        return None
    info.context.datasets_read.add(AUDIT_DATASET)
    try:
        page = await search(engine, _filter(where), first=_size(first), after=after)
    except BadCursor as exc:
        raise BadInput(str(exc)) from exc
    return AccessLogPage(
        nodes=[_record(r) for r in page.records],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
    )


async def resolve_access_log_counts(
    info: Info,
    by: Annotated[AccessGrouping, strawberry.argument(description="What to count per.")],
    where: Where = None,
) -> list[AccessCount] | None:
    engine = info.context.audit_engine
    if engine is None:
        return None
    info.context.datasets_read.add(AUDIT_DATASET)
    found = await counts(engine, by.value, _filter(where))
    return [AccessCount(key=key, count=n) for key, n in found]


async def resolve_my_access_history(
    info: Info, first: First = 50, after: After = None
) -> MyAccessPage | None:
    engine = info.context.audit_engine
    principal = info.context.principal
    if engine is None or principal.resident_id is None:
        return None
    info.context.datasets_read.add(AUDIT_DATASET)
    only_theirs = LogFilter(
        subject=principal.resident_id, restricted_only=True, not_principal=principal.subject
    )
    try:
        page = await search(engine, only_theirs, first=_size(first), after=after)
    except BadCursor as exc:
        raise BadInput(str(exc)) from exc
    return MyAccessPage(
        nodes=[
            MyAccess(
                at=datetime.fromisoformat(r["at"]),
                departments=r["departments"],
                purpose=r["legal_basis"],
                datasets=r["datasets"],
            )
            for r in page.records
        ],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
    )


def audit_fields() -> dict[str, Any]:
    """The root fields of the access log, for the gateway's Query type."""
    return {
        "access_log": guarded_field(
            Scope.AUDIT_READ.value,
            resolver=resolve_access_log,
            description="The access log, newest first (auditors). Reading it is recorded too.",
        ),
        "access_log_counts": guarded_field(
            Scope.AUDIT_READ.value,
            resolver=resolve_access_log_counts,
            description="Access records counted per day, department or purpose (auditors).",
        ),
        "my_access_history": guarded_field(
            Scope.SELF.value,
            rows=OWN_ROWS,
            resolver=resolve_my_access_history,
            description="Who consulted your records: when, which department, why (citizens).",
        ),
    }
