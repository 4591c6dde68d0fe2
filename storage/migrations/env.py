"""Alembic environment: runs on a connection handed over by `storage.migrate` (sync, via run_sync)."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import MetaData

config = context.config


def _target_metadata() -> MetaData | None:
    # Only `alembic revision --autogenerate` needs the models; upgrades run the scripts alone.
    department = context.get_x_argument(as_dictionary=True).get("department")
    if department is None:
        return None
    if department == "auth":
        from auth.clients import metadata as auth_metadata

        return auth_metadata
    if department == "audit":
        from audit.store import metadata as audit_metadata

        return audit_metadata
    if department == "loads":
        from storage.citations import CITATIONS
        from storage.loads import LOADS
        from storage.versions import VERSIONS

        metadata = MetaData()
        for table in (LOADS, VERSIONS, CITATIONS):
            table.to_metadata(metadata)
        return metadata
    from schema.datasets import spec_of_model
    from schema.departments import MODELS
    from storage.versions import history_table

    metadata = MetaData()
    for model in MODELS:
        spec = spec_of_model(model)
        if spec.department == department:
            spec.table.to_metadata(metadata)
            if spec.versioned:  # its history (storage.versions), beside it
                history_table(spec.table, metadata)
    return metadata


def run() -> None:
    connection: Any = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through `citygraph migrate` (storage.migrate), not alembic's CLI"
        )
    target = _target_metadata()

    def own_tables(name: str | None, kind: str, _parents: Any) -> bool:
        # autogenerate compares one department with a database holding every branch: the other
        # branches' tables are theirs, not tables this department dropped
        return kind != "table" or target is None or name in target.tables

    context.configure(
        connection=connection,
        target_metadata=target,
        include_name=own_tables,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
