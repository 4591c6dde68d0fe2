"""What the HTTP view calls: one access record per request, durable first when it read restricted data.

The view knows requests and GraphQL contexts; this module knows records. It reads the context
through the `Audited` protocol (so audit/ never imports the schema) and the request through plain
values, and never looks at a token, a header's value other than the client address, or a result.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from audit.records import (
    RecordBody,
    document_hash,
    next_record_id,
    now_text,
    operation_of,
    outcome_of,
)
from audit.writer import AuditUnavailable, AuditWriter
from auth.principal import Principal, Tier
from auth.pseudonym import Pseudonyms

log = structlog.get_logger("citygraph.audit")


class Audited(Protocol):
    """The parts of a request's GraphQL context an access record is made of."""

    principal: Principal
    request_id: str
    datasets_read: set[str]
    subjects: set[str]
    fields_read: set[str]
    restricted: bool
    error_codes: list[str]
    operation_name: str | None
    document: str | None


@dataclass(frozen=True, slots=True)
class Started:
    """When a request started (a monotonic clock), for its latency."""

    at: float

    @classmethod
    def now(cls) -> Started:
        return cls(time.perf_counter())


class RequestAudit:
    """Builds each request's record and hands it to the writer."""

    def __init__(
        self,
        writer: AuditWriter,
        pseudonyms: Pseudonyms,
        departments: Mapping[str, str],
    ) -> None:
        self.writer = writer
        self.engine = writer.appender.engine
        """The log's database, which the auditors' and citizens' fields read."""
        self.pseudonyms = pseudonyms
        self.departments = dict(departments)

    def record(
        self,
        *,
        context: Audited | None,
        status: int,
        started: Started,
        client_ip: str | None,
        codes: Iterable[str] = (),
        request_id: str | None = None,
        principal: Principal | None = None,
        datasets: Iterable[str] = (),
    ) -> RecordBody:
        """The record of a request, as its body (`AccessRecord.body()`'s form); `context` is None
        when it was not executed (refused before, or answered from a cache), and `principal` then
        says who asked, when that is known, and `datasets` what a cached answer was made of.

        Built straight into the body: this runs for every request, cache hits included, and the
        spool wants nothing else (tests hold it to `AccessRecord`'s fields and form).
        """
        if context is not None:
            principal = context.principal
            error_codes = sorted({*codes, *context.error_codes})
            read = sorted(context.datasets_read)
            restricted = context.restricted
            operation = operation_of(context.document, context.operation_name)
            digest = document_hash(context.document)
            fields = sorted(context.fields_read)
            subjects = sorted(context.subjects)
            request_id = context.request_id
        else:
            error_codes = sorted(set(codes)) if codes else []
            read = sorted(set(datasets)) if datasets else []
            restricted, operation, digest, fields, subjects = False, None, None, [], []
        departments = self.departments
        if principal is None:
            tier, subject, client_id, purpose = Tier.ANONYMOUS, None, None, None
        else:
            tier, subject, client_id = principal.tier, principal.subject, principal.client_id
            purpose = principal.purpose if restricted else None
        return {
            "request_id": request_id or "",
            "at": now_text(),
            "tier": tier.value,
            "outcome": outcome_of(status, error_codes).value,
            "status": status,
            "latency_ms": round((time.perf_counter() - started.at) * 1000, 3),
            "subject": subject,
            "client_id": client_id,
            "pseudonym": self.pseudonyms(client_ip) if tier is Tier.ANONYMOUS else None,
            "operation": operation,
            "document_hash": digest,
            "datasets": read,
            "departments": sorted({departments[d] for d in read if d in departments}),
            "fields": fields,
            "subjects": subjects,
            "restricted": restricted,
            # the purpose matters where restricted data was read; a case reference is no secret
            "legal_basis": purpose.legal_basis if purpose else None,
            "case_reference": purpose.case_reference if purpose else None,
            "error_codes": error_codes,
            "record_id": next_record_id(),
        }

    async def secure(self, context: Audited, status: int, started: Started) -> bool:
        """For a request that read restricted data: commit its record now. False if that failed."""
        body = self.record(context=context, status=status, started=started, client_ip=None)
        try:
            await self.writer.commit(body)
        except AuditUnavailable:
            return False
        return True

    def spool(self, body: RecordBody) -> None:
        """Any other request's record: spooled now, in the log with the next batch."""
        try:
            self.writer.submit(body)
        except OSError as exc:
            # a full or broken disk: public data keeps flowing (its record is lost, loudly);
            # restricted reads never depend on the spool, they are committed or refused
            log.error("cannot spool an access record", error_type=type(exc).__name__)


def error_codes(errors: Iterable[Any] | None) -> list[str]:
    """The codes of a result's errors (uncoded ones count as INTERNAL_SERVER_ERROR)."""
    found = []
    for error in errors or ():
        code = (getattr(error, "extensions", None) or {}).get("code")
        found.append(code if isinstance(code, str) else "INTERNAL_SERVER_ERROR")
    return found
