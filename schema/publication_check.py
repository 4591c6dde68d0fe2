"""Published datasets' tables against their manifests, when a process starts.

A published dataset's table is made by its publication (`citygraph import manifest`), which
changes it in one transaction when a new manifest changes its columns: the manifest is that
table's migration. At start-up, each stored manifest's table is compared with the database:
- missing (an existing publication on a new, empty database): outside production it is made
  empty from the manifest, as the migrations make the built-in tables; production refuses;
- different (columns, types, keys, indexes): refused everywhere, with the differences, since
  only a publication may change it; nothing is altered or dropped.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, Table, inspect

from schema.city import City


class PublishedTableError(RuntimeError):
    """A published dataset's table that does not match its manifest."""


def _differences(conn: Connection, table: Table) -> list[Any] | None:
    """alembic's differences between `table` and the database; None when it is missing."""
    if not inspect(conn).has_table(table.name):
        return None
    wanted = MetaData()
    table.to_metadata(wanted)

    def ours(obj: Any, name: str | None, kind: str, _reflected: bool, _compare: Any) -> bool:
        # the other tables of the database are other datasets' and migrations' business
        return kind != "table" or name == table.name

    context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": ours})
    return list(compare_metadata(context, wanted))


def _describe(diff: Any) -> str:
    step = diff[0] if isinstance(diff, list) else diff  # a column's changes come as a list
    kind = step[0]
    if kind in ("add_column", "remove_column"):
        return (
            f"column {step[3].name} {'missing' if kind == 'add_column' else 'not in the manifest'}"
        )
    if kind.startswith("modify_"):
        return f"column {step[3]} {kind.removeprefix('modify_')} differs"
    return str(kind).replace("_", " ")


async def check_published_tables(city: City, *, create_missing: bool) -> list[str]:
    """Make missing published tables (if asked); raise PublishedTableError on any that differs.

    Returns the names of the datasets whose table was made.
    """
    made: list[str] = []
    problems: list[str] = []
    for spec in city.catalog.datasets:
        if not spec.published:
            continue
        engine = city.repository(spec.name).engine
        async with engine.begin() as conn:
            found = await conn.run_sync(_differences, spec.table)
            if found is None and create_missing:
                await conn.run_sync(spec.table.create)
                made.append(spec.name)
            elif found is None:
                problems.append(f"{spec.name}: its table {spec.table.name} is missing")
            elif found:
                problems.append(f"{spec.name}: {', '.join(_describe(d) for d in found)}")
    if problems:
        raise PublishedTableError(
            "published datasets whose tables do not match their manifests ("
            + "; ".join(problems)
            + "): publish each again with `citygraph import manifest`"
        )
    return made
