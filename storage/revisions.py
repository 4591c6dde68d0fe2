"""The revision scripts: alembic's configuration, the scripts read once, and the branches.

One branch per department (each may live in its own database), plus `auth` (the OAuth clients),
`audit` (the access log) and `loads` (storage.loads, in every database that holds datasets).
The scripts are read once per process: alembic's own commands re-read them on every call, which
cost ~40 ms per branch, and every test app, demo and server start upgrades.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import Script, ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
LOADS_BRANCH = "loads"


def alembic_config(connection: Any = None) -> Config:
    """Alembic's configuration for our scripts, with one version folder per branch."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    versions = sorted(
        p for p in (MIGRATIONS / "versions").iterdir() if p.is_dir() and not p.name.startswith("_")
    )
    config.set_main_option("version_locations", " ".join(str(p) for p in versions))
    config.set_main_option("path_separator", "space")
    config.attributes["connection"] = connection
    return config


@cache
def scripts() -> ScriptDirectory:
    """Every revision script, read once."""
    return ScriptDirectory.from_config(alembic_config())


def branches() -> list[str]:
    """Every branch that has migrations."""
    return sorted({label for rev in scripts().walk_revisions() for label in rev.branch_labels})


def lineage(branch: str) -> list[Script]:
    """A branch's revisions, oldest first."""
    return list(reversed(list(scripts().iterate_revisions(f"{branch}@head", "base"))))
