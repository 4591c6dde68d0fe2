"""Write a department's next migration: `scripts/new-migration DEPARTMENT "message"`.

Compares the department's models with a scratch SQLite database upgraded to every branch's head:
alembic autogenerates only against a database at all the heads it knows ("Target database is not
up to date" otherwise), and the environment compares the department's tables alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from alembic import command

from storage.engines import make_engine
from storage.migrate import upgrade
from storage.revisions import MIGRATIONS, alembic_config, branches


async def autogenerate(department: str, message: str) -> None:
    """Compare the department's models with its head and write the difference as a revision."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite+aiosqlite:///{scratch}/scratch.db")
        known = department in branches()
        if known:
            await upgrade(engine, branches())
        folder = MIGRATIONS / "versions" / department
        folder.mkdir(exist_ok=True)

        def run(sync: Any) -> None:
            config = alembic_config(sync)
            config.cmd_opts = argparse.Namespace(x=[f"department={department}"])
            if known:
                command.revision(
                    config, message=message, autogenerate=True, head=f"{department}@head"
                )
            else:
                # only the new branch is visible: alembic refuses to autogenerate while other
                # branches' heads are missing from the scratch database
                config.set_main_option("version_locations", str(folder))
                command.revision(
                    config,
                    message=message,
                    autogenerate=True,
                    head="base",
                    branch_label=department,
                    version_path=str(folder),
                )

        async with engine.begin() as conn:
            await conn.run_sync(run)
        await engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit('usage: scripts/new-migration DEPARTMENT "message"')
    asyncio.run(autogenerate(sys.argv[1], sys.argv[2]))
    print(f"written under {Path(MIGRATIONS / 'versions' / sys.argv[1])}")  # noqa: T201
