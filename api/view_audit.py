"""The `/graphql` view's access records (DESIGN section 4): spooled before a response is sent,
or committed before a restricted read's answer leaves.

- `spool_record`: every request's record, refused, cached or answered, spooled before its
  response is sent (a crash after it loses no record of a sent response), unless the record was
  already committed;
- `secured`: after execution and before any byte is sent, a restricted read's record is
  committed; if it cannot be, the operation runs again with every restricted read refused
  (AUDIT_UNAVAILABLE, schema.access), so public fields are still served, and that second run's
  record is spooled like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from strawberry.types import ExecutionResult

from api.exchange import exchange_of
from api.graphql_errors import INTERNAL
from audit.hook import RequestAudit, Started, error_codes
from schema.context import CityContext


def spool_record(
    audit: RequestAudit, request: Request, status: int, started: Started, codes: list[str]
) -> None:
    """Spool the record of a request answered with `status`, unless it was committed before
    execution ended."""
    exchange = exchange_of(request)
    context = exchange.context
    if context is not None and context.audit_committed:
        return
    if not codes and status >= 500:
        codes = [INTERNAL]
    audit.spool(
        audit.record(
            context=context,
            status=status,
            started=started,
            client_ip=request.client.host if request.client else None,
            codes=codes,
            request_id=exchange.request_id,
            principal=exchange.principal,
            datasets=exchange.cached_datasets,
        )
    )


async def secured(
    audit: RequestAudit,
    request: Request,
    context: CityContext,
    result: ExecutionResult,
    rerun: Callable[[], Awaitable[ExecutionResult]],
) -> ExecutionResult:
    """The result to send once its restricted reads' record is committed, or that of a second
    run without them when it cannot be."""
    context.error_codes = error_codes(result.errors)
    if not context.restricted:
        return result
    if await audit.secure(context, 200, exchange_of(request).started):
        context.audit_committed = True
        return result
    context.restricted, context.audit_unavailable = False, True
    context.subjects.clear()
    context.fields_read.clear()
    context.denials.clear()
    result = await rerun()
    context.error_codes = error_codes(result.errors)
    return result
