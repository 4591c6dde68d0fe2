"""The access record: what one request to the API did, as the audit log keeps it.

A record holds no token, secret or restricted value: who asked (subject, client, tier, or for an
anonymous caller a rotating pseudonym of the address), what was asked (operation name and a hash of
the document, never the document's literals), what was read (datasets, restricted fields, the
resident ids whose records were read), why (the declared purpose), and how it ended.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """How a request ended."""

    SERVED = "served"
    """Answered without any error."""
    DENIED = "denied"
    """Some field or the whole request was refused (access, token, audit unavailable)."""
    FAILED = "failed"
    """A bad request or an unexpected error."""


DENIAL_CODES = frozenset(
    {"UNAUTHENTICATED", "FORBIDDEN", "PURPOSE_REQUIRED", "AUDIT_UNAVAILABLE", "RATE_LIMITED"}
)
"""Error codes that make an outcome `denied` rather than `failed`."""


def outcome_of(status: int, codes: list[str] | tuple[str, ...]) -> Outcome:
    """The outcome of a response from its HTTP status and error codes."""
    if not codes and status < 400:
        return Outcome.SERVED
    if any(code in DENIAL_CODES for code in codes) or status in (401, 403, 429):
        return Outcome.DENIED
    return Outcome.FAILED


_OPERATION = re.compile(r"^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


def operation_of(document: str | None, operation_name: str | None) -> str | None:
    """The operation's name: the one the request chose, else the document's first one."""
    if operation_name or not document:
        return operation_name
    match = _OPERATION.match(document)
    return match.group(1) if match else None


def document_hash(document: str | None) -> str | None:
    """SHA-256 of a GraphQL document: identifies a query without keeping its literals."""
    if document is None:
        return None
    return hashlib.sha256(document.encode()).hexdigest()


RecordBody = dict[str, Any]
"""A record as plain JSON values (`AccessRecord.body()`): what the spool and the chain hold."""


@dataclass(slots=True)
class AccessRecord:
    """One request, as the log keeps it; `body()` is what the chain's HMAC covers."""

    request_id: str
    at: datetime
    tier: str
    outcome: str
    status: int
    latency_ms: float
    subject: str | None = None
    client_id: str | None = None
    pseudonym: str | None = None
    """For anonymous callers only: a keyed, rotating pseudonym of their address."""
    operation: str | None = None
    document_hash: str | None = None
    datasets: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    """Restricted fields read (`Type.field`); public ones are implied by the document."""
    subjects: list[str] = field(default_factory=list)
    """Resident ids whose restricted records were read."""
    restricted: bool = False
    legal_basis: str | None = None
    case_reference: str | None = None
    error_codes: list[str] = field(default_factory=list)
    record_id: str = field(default_factory=lambda: next_record_id())

    def body(self) -> RecordBody:
        """The record as plain JSON values, lists sorted: the canonical form's content."""
        # runs for every request: a literal dict (not dataclasses.asdict, which deep-copies),
        # and the lists, nearly always empty or one long, sorted only when there is something to sort
        return {
            "request_id": self.request_id,
            "at": _utc(self.at).isoformat(timespec="microseconds"),
            "tier": self.tier,
            "outcome": self.outcome,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "subject": self.subject,
            "client_id": self.client_id,
            "pseudonym": self.pseudonym,
            "operation": self.operation,
            "document_hash": self.document_hash,
            "datasets": _sorted(self.datasets),
            "departments": _sorted(self.departments),
            "fields": _sorted(self.fields),
            "subjects": _sorted(self.subjects),
            "restricted": self.restricted,
            "legal_basis": self.legal_basis,
            "case_reference": self.case_reference,
            "error_codes": _sorted(self.error_codes),
            "record_id": self.record_id,
        }

    @classmethod
    def from_body(cls, data: dict[str, Any]) -> AccessRecord:
        """The record a body (from the log or the spool) stands for."""
        values = dict(data)
        values["at"] = datetime.fromisoformat(values["at"])
        return cls(**values)


class UniqueIds:
    """Ids: a random prefix per process and a counter, 32 hex digits like a UUID's.

    As unique as uuid4 (64 random bits per process, then a count) without a system call per
    id; a forked worker draws its own prefix as it starts (os.register_at_fork).
    """

    def __init__(self) -> None:
        self._prefix = ""
        self._count = itertools.count()
        self._draw()
        os.register_at_fork(after_in_child=self._draw)

    def _draw(self) -> None:
        self._prefix, self._count = secrets.token_hex(8), itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._count):016x}"


_record_ids = UniqueIds()
_request_ids = UniqueIds()


def next_record_id() -> str:
    """A new record id."""
    return _record_ids.next()


def next_request_id() -> str:
    """A new request id, for a request that came without a usable `X-Request-Id`."""
    return _request_ids.next()


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is UTC else at.astimezone(UTC)


def _sorted(values: list[str]) -> list[str]:
    return sorted(set(values)) if len(values) > 1 else list(values)


def now() -> datetime:
    """The current time, with its timezone (audit times are never naive)."""
    return datetime.now(UTC)


class _Clock:
    """The current UTC time as a record's `at` text, the seconds' part formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        second, ns = divmod(time.time_ns(), 1_000_000_000)
        if second != self._second:
            at = datetime.fromtimestamp(second, UTC)
            self._second, self._prefix = second, at.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{ns // 1000:06d}+00:00"


now_text = _Clock()
"""`now().isoformat(timespec="microseconds")`, a third of the cost: it runs for every request."""
