"""Apply the migrations of some departments to a database: `citygraph migrate` and tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Any = None) -> Config:
    """Alembic's configuration for our scripts, with one version folder per department."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    versions = sorted(
        p for p in (MIGRATIONS / "versions").iterdir() if p.is_dir() and not p.name.startswith("_")
    )
    config.set_main_option("version_locations", " ".join(str(p) for p in versions))
    config.set_main_option("path_separator", "space")
    config.attributes["connection"] = connection
    return config


def branches() -> list[str]:
    """Departments that have migrations."""
    script = ScriptDirectory.from_config(alembic_config())
    return sorted({label for rev in script.walk_revisions() for label in rev.branch_labels})


async def upgrade(engine: AsyncEngine, departments: Iterable[str]) -> None:
    """Bring each department's tables in this database to its latest revision."""
    targets = [f"{d}@head" for d in departments]

    def run(sync: Any) -> None:
        config = alembic_config(sync)
        for target in targets:
            command.upgrade(config, target)

    async with engine.begin() as conn:
        await conn.run_sync(run)
