"""The one access record of an export request (DESIGN section 4, docs/audit.md).

An export runs its GraphQL pages outside the `/graphql` view, so it keeps its own record, through
the same hook (`audit.hook.RequestAudit`) and by the same rules:

- a refused export (bad parameters, a denied field, too many rows) is spooled with its status and
  codes; nothing was served, so nothing it read is listed as served;
- an export that read no restricted data is spooled before its first byte, as the view does: a
  crash mid-stream loses no record of data that left;
- an export that read restricted data is read whole and its record committed before its first
  byte (fail closed); when the log cannot take it, the export is refused with AUDIT_UNAVAILABLE.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request

from api.exchange import exchange_of
from api.exports.refusals import coded
from audit.hook import RequestAudit, Started
from schema.context import CityContext
from schema.errors import AUDIT_UNAVAILABLE


class ExportRecord:
    """What one export request will be recorded as; `None` audit records nothing."""

    def __init__(self, audit: RequestAudit | None, request: Request) -> None:
        self.audit = audit
        self.request = request
        self.started = Started.now()
        self.context: CityContext | None = None
        self.recorded = False

    def follow(self, context: CityContext, *, document: str | None, operation: str | None) -> None:
        """Record what this context reads: the export's pages all run with it."""
        self.context = context
        if self.audit is not None:
            context.document, context.operation_name = document, operation
            context.audit_engine = self.audit.engine

    @property
    def restricted(self) -> bool:
        """Whether the export read restricted data, whose record must be committed before it leaves."""
        return self.audit is not None and self.context is not None and self.context.restricted

    def spool(self, status: int, codes: Iterable[str] = ()) -> None:
        """Spool the request's record, once: a public export's, or a refusal's."""
        if self.audit is None or self.recorded:
            return
        self.recorded = True
        request = self.request
        exchange = exchange_of(request)
        self.audit.spool(
            self.audit.record(
                context=self.context,
                status=status,
                started=self.started,
                client_ip=request.client.host if request.client else None,
                codes=codes,
                request_id=exchange.request_id,
                principal=exchange.principal,
            )
        )

    def refused(self, status: int, codes: Iterable[str]) -> None:
        """Spool the record of an export refused before its first byte."""
        context = self.context
        if context is not None:  # what the pages read was not served
            context.restricted = False
            context.subjects.clear()
            context.fields_read.clear()
        self.spool(status, codes)

    async def secure(self) -> None:
        """Commit a restricted export's record now; Refused (AUDIT_UNAVAILABLE) if it cannot be."""
        if self.audit is None or self.context is None or self.recorded:
            return
        if not await self.audit.secure(self.context, 200, self.started):
            raise coded(
                AUDIT_UNAVAILABLE,
                "the access log cannot be written right now, so restricted data is not exported",
            )
        self.recorded = True
