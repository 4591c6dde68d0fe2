"""The databases at start-up: migrated in development and on the embedded default, checked in production.

Every entry point that serves or loads (the app's and each subgraph's lifespan, `serve`, `demo`,
`subgraph serve`, the importers) calls `prepare` first. Outside production it applies whatever
migration is missing, adopting tables made by `create_all` before release 0.2. In production it
applies nothing: a database behind the code stops the process with one line that names the
missing revisions and `citygraph migrate`, the one command that changes a production schema.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.settings import Environment, Settings
from audit.service import AUDIT_DEPARTMENT
from auth.clients import AUTH_DEPARTMENT
from schema.city import City
from schema.publication_check import check_published_tables
from storage.engines import Databases

log = structlog.get_logger("citygraph.databases")


class DatabaseBehind(RuntimeError):
    """A production database that misses migrations; its message is the one line to print."""


def service_branches(databases: Databases) -> dict[str, AsyncEngine]:
    """The branches that are not datasets, each in its database: OAuth clients, the access log."""
    return {
        AUTH_DEPARTMENT: databases.engine_for(AUTH_DEPARTMENT),
        AUDIT_DEPARTMENT: databases.engine_for(AUDIT_DEPARTMENT),
    }


async def prepare(
    settings: Settings, city: City, *, extra: Mapping[str, AsyncEngine] | None = None
) -> list[str]:
    """Bring the city's databases to the code's schema (or check them, in production).

    Returns the revisions applied. Raises DatabaseBehind (production), storage.adopt.SchemaError
    (tables that match no revision), schema.publication_check.PublishedTableError (a published
    dataset's table that its manifest does not describe) and the drivers' errors for an
    unreachable database.
    """
    branches = {**service_branches(city.databases), **(extra or {})}
    production = settings.environment is Environment.PRODUCTION
    if production:
        behind = await city.pending(extra=branches)
        if behind:
            missing = ", ".join(b.describe() for b in behind)
            raise DatabaseBehind(
                f"the database is behind this release: {missing}; run `citygraph migrate`"
            )
        applied = []
    else:
        applied = await city.migrate(extra=branches)
        if applied:
            log.info("migrations applied", revisions=applied)
    made = await check_published_tables(city, create_missing=not production)
    if made:
        log.info("empty tables made for published datasets", datasets=made)
    return applied


async def prepare_at_start(settings: Settings, city: City) -> None:
    """`prepare` for a server's lifespan: an unreachable database is for /readyz to report.

    A database behind the code (production) or tables that match no revision stop the start.
    """
    try:
        await prepare(settings, city)
    except (OSError, SQLAlchemyError) as exc:
        # The type only: a driver's message may quote the URL, password included.
        log.warning("a database could not be prepared", error_type=type(exc).__name__)
