"""The access log of one process: its store, chain, writer and request hook, opened by the lifespan."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.chain import load_key
from audit.hook import RequestAudit
from audit.pseudonym import Pseudonyms
from audit.store import ChainAppender, create_tables
from audit.writer import AuditWriter

log = structlog.get_logger("citygraph.audit")

AUDIT_DEPARTMENT = "audit"
"""The log lives in this department's database (the default one unless overridden)."""


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
        pseudonym_period_s: int = 86_400,
        create: bool = True,
    ) -> None:
        self.engine = engine
        self.create = create
        self.key = load_key(directory, chain_key)
        self.appender = ChainAppender(engine, self.key)
        self.writer = AuditWriter(
            self.appender,
            directory / "spool",
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            commit_timeout_s=commit_timeout_s,
        )
        self.requests = RequestAudit(
            self.writer,
            Pseudonyms(directory / "pseudonym-keys", period_s=pseudonym_period_s),
            departments,
        )

    async def open(self) -> None:
        """Create the tables outside production, replay the spool, start the flusher."""
        if self.create:
            try:
                await create_tables(self.engine)
            except Exception as exc:  # an unreachable store: records wait in the spool
                log.warning("could not create the audit tables", error_type=type(exc).__name__)
        await self.writer.open()

    async def close(self) -> None:
        """Flush every record it can (graceful shutdown); the rest stays spooled."""
        await self.writer.close()
