"""The one way a database gets its schema: the migrations, applied under a lock, adopting old tables.

- `upgrade(engine, branches)`: bring those branches (one per department, plus `auth`, `audit`
  and `loads`) to their heads in this database, in one transaction, under the database's
  migration lock (storage.schema_lock), so that two processes starting at once do not both
  migrate. A branch whose tables exist but that alembic does not know (a database made by
  `create_all` before release 0.2) is first recognised and stamped (storage.adopt).
- `pending(engine, branches)`: what `upgrade` would do, without doing it: production servers
  refuse to start on a database behind the code, and say which revisions are missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from alembic.migration import MigrationContext
from alembic.runtime.environment import EnvironmentContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.adopt import SchemaError, recognise
from storage.revisions import alembic_config, lineage, scripts
from storage.schema_lock import schema_lock

__all__ = ["Behind", "SchemaError", "pending", "upgrade"]

log = structlog.get_logger("citygraph.migrate")


@dataclass(frozen=True)
class Behind:
    """A branch of one database that is not at its head."""

    branch: str
    current: str | None
    """The revision recorded, None when alembic has none for the branch."""
    missing: tuple[str, ...]
    """Revisions to apply, oldest first."""
    unversioned: bool = False
    """Its tables are there but unknown to alembic: `citygraph migrate` adopts them."""

    def describe(self) -> str:
        if self.unversioned:
            return f"{self.branch} (tables not yet under migrations)"
        return f"{self.branch} ({', '.join(self.missing)})"


def _current(conn: Connection) -> dict[str, str]:
    """branch -> revision recorded in this database's alembic_version."""
    heads = MigrationContext.configure(conn).get_current_heads()
    found: dict[str, str] = {}
    known = {script.revision for script in scripts().walk_revisions()}
    for head in heads:
        if head not in known:
            raise SchemaError(
                f"the database is at revision {head}, which this release does not know: "
                "a newer release migrated it; run that release (or newer)"
            )
        for script in scripts().iterate_revisions(head, "base"):
            for label in script.branch_labels:
                found.setdefault(label, head)
    return found


def _missing(branch: str, current: str | None) -> tuple[str, ...]:
    revisions = [s.revision for s in lineage(branch)]
    if current is None:
        return tuple(revisions)
    return tuple(revisions[revisions.index(current) + 1 :])


def _pending(conn: Connection, wanted: Iterable[str]) -> list[Behind]:
    current = _current(conn)
    behind = []
    for branch in sorted(set(wanted)):
        at = current.get(branch)
        missing = _missing(branch, at)
        if not missing:
            continue
        unversioned = at is None and recognise(conn, branch, lineage(branch), probe=True)
        behind.append(Behind(branch, at, missing, unversioned=bool(unversioned)))
    return behind


async def pending(engine: AsyncEngine, wanted: Iterable[str]) -> list[Behind]:
    """The branches of this database that `upgrade` would change."""
    targets = list(wanted)
    async with engine.connect() as conn:
        return await conn.run_sync(_pending, targets)


def _upgrade(conn: Connection, wanted: list[str]) -> list[str]:
    if conn.dialect.name == "postgresql":
        # the second process waits here until the first commits, then finds nothing to do
        conn.exec_driver_sql("SET LOCAL lock_timeout = '120s'")
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('citygraph migrations'))")
    script = scripts()
    current = _current(conn)
    context = MigrationContext.configure(conn)
    for branch in wanted:
        if branch in current:
            continue
        adopted = recognise(conn, branch, lineage(branch))
        if adopted is not None:
            context.stamp(script, adopted)
            log.info("adopted tables made before migrations", branch=branch, revision=adopted)
    applied: list[str] = []
    for branch in wanted:
        applied += _missing(branch, _current(conn).get(branch))
    if not applied:
        return []
    targets = tuple(f"{branch}@head" for branch in wanted)

    def steps(rev: Any, _context: Any) -> Any:
        return script._upgrade_revs(targets, rev)  # type: ignore[arg-type]  # alembic takes a tuple of heads

    with EnvironmentContext(alembic_config(conn), script, fn=steps, destination_rev=targets):
        script.run_env()
    return applied


async def upgrade(engine: AsyncEngine, wanted: Iterable[str]) -> list[str]:
    """Bring these branches of this database to their heads; the revisions applied, oldest first.

    SchemaError (nothing changed) when a branch's tables exist unversioned and match none of its
    revisions.
    """
    targets = sorted(set(wanted))
    async with schema_lock(engine), engine.begin() as conn:
        return await conn.run_sync(_upgrade, targets)
