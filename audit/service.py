"""The access log of one process: its store, chain, writer and request hook, opened by the lifespan.

`AuditLog.from_settings` is how an app gets one: the one-process app and every federation
subgraph build theirs the same way, so a request is recorded wherever it is served.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.chain import load_key
from audit.hook import RequestAudit
from audit.shipper import ShipperMode
from audit.store import ChainAppender, new_chain_id
from audit.writer import AuditWriter
from auth.pseudonym import Pseudonyms
from storage.engines import Databases

log = structlog.get_logger("citygraph.audit")

AUDIT_DEPARTMENT = "audit"
"""The log lives in this department's database (the default one unless overridden)."""

_SERVER_NAME = re.compile(r"[^a-z0-9_]+")


class AuditSettings(Protocol):
    """The settings the log is built from (api.settings.Settings; audit/ does not import api/)."""

    @property
    def data_dir(self) -> Path: ...
    @property
    def audit_enabled(self) -> bool: ...
    @property
    def audit_dir(self) -> Path: ...
    @property
    def audit_chain_key(self) -> str | None: ...
    @property
    def audit_batch_size(self) -> int: ...
    @property
    def audit_flush_interval_s(self) -> float: ...
    @property
    def audit_commit_timeout_s(self) -> float: ...
    @property
    def audit_shipper(self) -> ShipperMode: ...
    @property
    def audit_pseudonym_period_s(self) -> int: ...
    @property
    def environment(self) -> str: ...


class _Dataset(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def department(self) -> str: ...


class DatasetCatalog(Protocol):
    """What the log needs of the catalog: which department each dataset belongs to."""

    @property
    def datasets(self) -> Sequence[_Dataset]: ...


class AuditLog:
    """Everything the app needs to record requests; `open()` and `close()` from the lifespan."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        directory: Path,
        departments: Mapping[str, str],
        chain_key: str | None = None,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        commit_timeout_s: float = 2.0,
        shipper: ShipperMode = "inline",
        pseudonyms: Pseudonyms | None = None,
        server: str | None = None,
    ) -> None:
        self.engine = engine
        self.key = load_key(directory, chain_key)
        # a subgraph's chain is named after its department (`registry@host-pid-random`): which
        # server recorded a request is then in every record's place in the log, not in its body
        # (chain ids are 64 characters at most, and name a spool folder)
        chain_id = (
            f"{_SERVER_NAME.sub('-', server.lower())[:16]}@{new_chain_id()}" if server else None
        )
        self.appender = ChainAppender(engine, self.key, chain_id)
        self.writer = AuditWriter(
            self.appender,
            directory / "spool",
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            commit_timeout_s=commit_timeout_s,
            shipper=shipper,
        )
        self.requests = RequestAudit(
            self.writer,
            # the rate limiter's own (api.traffic), so a caller's 429 and records match
            pseudonyms or Pseudonyms(directory / "pseudonym-keys"),
            departments,
        )

    @classmethod
    def from_settings(
        cls,
        settings: AuditSettings,
        databases: Databases,
        catalog: DatasetCatalog,
        *,
        server: str | None = None,
    ) -> AuditLog | None:
        """The log of an app built from these settings; None when they turn it off (benchmarks).

        `server` names the chain of a process that serves one department (a federation subgraph).
        """
        if not settings.audit_enabled:
            return None
        return cls(
            databases.engine_for(AUDIT_DEPARTMENT),
            directory=settings.audit_dir,
            departments={s.name: s.department for s in catalog.datasets},
            chain_key=settings.audit_chain_key,
            batch_size=settings.audit_batch_size,
            flush_interval_s=settings.audit_flush_interval_s,
            commit_timeout_s=settings.audit_commit_timeout_s,
            shipper=settings.audit_shipper,
            pseudonyms=pseudonyms_of(settings),
            server=server,
        )

    async def open(self) -> None:
        """Start the writer (and its shipper child); the tables are the `audit` branch's."""
        await self.writer.open()

    async def close(self) -> None:
        """Ship every record it can and stop the shipper (graceful shutdown); the rest stays spooled."""
        await self.writer.close()


def pseudonyms_of(settings: AuditSettings) -> Pseudonyms:
    """The pseudonyms of anonymous callers' addresses that every part of an app uses."""
    return Pseudonyms.for_data_dir(settings.data_dir, period_s=settings.audit_pseudonym_period_s)
