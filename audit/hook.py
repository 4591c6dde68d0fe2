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

from audit.records import AccessRecord, document_hash, now, operation_of, outcome_of
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
    ) -> AccessRecord:
        """The record of a request; `context` is None when it was not executed (refused before,
        or answered from a cache), and `principal` then says who asked, when that is known, and
        `datasets` what a cached answer was made of."""
        principal = context.principal if context is not None else principal
        error_codes = sorted({*codes, *(context.error_codes if context else ())})
        datasets = sorted(context.datasets_read if context else datasets)
        anonymous = principal is None or principal.tier is Tier.ANONYMOUS
        purpose = principal.purpose if principal is not None else None
        restricted = bool(context and context.restricted)
        return AccessRecord(
            request_id=(context.request_id if context else request_id) or "",
            at=now(),
            tier=str(principal.tier if principal else Tier.ANONYMOUS),
            outcome=str(outcome_of(status, error_codes)),
            status=status,
            latency_ms=(time.perf_counter() - started.at) * 1000,
            subject=principal.subject if principal else None,
            client_id=principal.client_id if principal else None,
            pseudonym=self.pseudonyms(client_ip) if anonymous else None,
            operation=operation_of(context.document, context.operation_name) if context else None,
            document_hash=document_hash(context.document) if context else None,
            datasets=datasets,
            departments=sorted({self.departments[d] for d in datasets if d in self.departments}),
            fields=sorted(context.fields_read) if context else [],
            subjects=sorted(context.subjects) if context else [],
            restricted=restricted,
            # the purpose matters where restricted data was read; a case reference is no secret
            legal_basis=purpose.legal_basis if purpose and restricted else None,
            case_reference=purpose.case_reference if purpose and restricted else None,
            error_codes=error_codes,
        )

    async def secure(self, context: Audited, status: int, started: Started) -> bool:
        """For a request that read restricted data: commit its record now. False if that failed."""
        record = self.record(context=context, status=status, started=started, client_ip=None)
        try:
            await self.writer.commit(record)
        except AuditUnavailable:
            return False
        return True

    def spool(self, record: AccessRecord) -> None:
        """Any other request's record: spooled now, in the log with the next batch."""
        try:
            self.writer.submit(record)
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
