"""Where each dataset's rows came from: imported from real files, generated, or published.

The catalog reads this so that it never credits a real publisher for rows the demo generated,
and so that it can say when a dataset was last loaded (dct:modified). One small table per
database, next to the datasets it describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

Origin = Literal["imported", "generated", "published"]

LOADS = Table(
    "citygraph_load",
    MetaData(),
    Column("dataset", String, primary_key=True),
    Column("origin", String, nullable=False),
    Column("source", String, nullable=True),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    Column("row_count", Integer, nullable=True),
)


@dataclass(frozen=True, slots=True)
class Load:
    dataset: str
    origin: Origin
    source: str | None
    loaded_at: datetime
    row_count: int | None


async def record_loads(
    engine: AsyncEngine, *, datasets: dict[str, int | None], origin: Origin, source: str | None
) -> None:
    """Record that these datasets (name -> rows loaded) were just loaded from `source`."""
    if not datasets:
        return
    now = datetime.now(UTC)
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {"dataset": name, "origin": origin, "source": source, "loaded_at": now, "row_count": count}
        for name, count in datasets.items()
    ]
    stmt = insert(LOADS)
    stmt = stmt.on_conflict_do_update(
        index_elements=["dataset"],
        set_={c: stmt.excluded[c] for c in ("origin", "source", "loaded_at", "row_count")},
    )
    async with engine.begin() as conn:  # the table is the `loads` branch's (storage.migrate)
        await conn.execute(stmt, rows)


async def read_loads(engine: AsyncEngine) -> dict[str, Load]:
    """Every load recorded in this database; none when nothing was ever recorded."""
    try:
        async with engine.connect() as conn:
            result = await conn.execute(select(LOADS))
            rows = result.all()
    except (OperationalError, ProgrammingError):
        return {}  # no table yet: nothing was loaded through citygraph's loaders
    return {
        r.dataset: Load(r.dataset, r.origin, r.source, _aware(r.loaded_at), r.row_count)
        for r in rows
    }


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time citygraph stores is UTC
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
