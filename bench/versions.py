"""Storage growth of dataset versions: the Paris files imported ten times with small changes.

    uv run python -m bench.versions                               # SQLite in a scratch folder
    uv run python -m bench.versions --postgres postgresql://postgres@127.0.0.1/postgres
    CITYGRAPH_BENCH_IMPORTS=30 uv run python -m bench.versions     # more imports

Each import after the first edits, removes and adds a few rows of every file (the same files
with about 0.5% of their rows changed, a different 0.5% each time), as a real publisher's
weekly refresh would. The bench prints, per import, the live rows, the history rows and the
database's size, and at the end the growth against what full copies per version would cost.
The baseline is the first import, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bench.peer_database import bench_database
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from schema.ingest.paris import FILES, import_paris
from storage.engines import Databases, async_url
from storage.versions import history_table, read_versions

DATASETS = (
    "districts",
    "quartiers",
    "bikeStations",
    "publicToilets",
    "airQualityStations",
    "airQualityMeasurements",
)
CHANGED = ("paris_velib_stations.csv", "paris_sanisettes.csv")
"""The CSVs each import changes (the measurements and the stations' file stay as they were)."""
CHANGED_SHARE = 0.005


def shared_data() -> Path:
    return Path(os.environ.get("CITYGRAPH_SHARED_DATA", "../shared/data"))


def _change_csv(path: Path, rng: random.Random, round_: int) -> None:
    """Edit, remove and add about 0.5% of a CSV's rows each."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    header, body = rows[0], rows[1:]
    touched = max(1, int(len(body) * CHANGED_SHARE))
    names = [h.lower() for h in header]
    text_column = next(i for i, h in enumerate(names) if "nom" in h or "adresse" in h)
    for index in rng.sample(range(len(body)), touched):  # edits
        body[index][text_column] += f" (r{round_})"
    for index in sorted(rng.sample(range(len(body)), touched), reverse=True):  # removals
        del body[index]
    for n, index in enumerate(rng.sample(range(len(body)), touched)):  # additions
        row = list(body[index])
        row[text_column] += f" bis {round_}.{n}"
        if "identifiant" in names[0]:
            row[0] = str(900_000 + round_ * 1_000 + n)
        body.append(row)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(header)
        writer.writerows(body)


def _change_geojson(path: Path, rng: random.Random, round_: int) -> None:
    """Rename one feature: the territory changes rarely."""
    data = json.loads(path.read_text(encoding="utf-8"))
    feature = rng.choice(data["features"])
    props = feature["properties"]
    key = next((k for k in ("l_ar", "l_qu") if k in props), None)
    if key is not None:
        props[key] = f"{props[key]} (r{round_})"
    path.write_text(json.dumps(data), encoding="utf-8")


async def _size(city: City) -> tuple[int, int, int]:
    """Live rows, history rows and the database's bytes."""
    engine = city.repository("districts").engine
    live = history = 0
    async with engine.connect() as conn:
        for name in DATASETS:
            table = city.repository(name).table
            live += (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            past = history_table(table)
            history += (await conn.execute(select(func.count()).select_from(past))).scalar_one()
        if engine.dialect.name == "postgresql":
            size = (
                await conn.execute(text("SELECT pg_database_size(current_database())"))
            ).scalar_one()
        else:
            pages = (await conn.execute(text("PRAGMA page_count"))).scalar_one()
            page_size = (await conn.execute(text("PRAGMA page_size"))).scalar_one()
            size = pages * page_size
    return int(live), int(history), int(size)


async def run(database: str | None, imports: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "paris"
        folder.mkdir()
        for name in FILES:
            shutil.copy(shared_data() / name, folder / name)
        url = async_url(database) if database else f"sqlite+aiosqlite:///{scratch}/versions.db"
        city = City(Catalog(builtin_specs()), Databases(url))
        await city.migrate()
        rng = random.Random(15)
        sizes = []
        for round_ in range(imports):
            if round_:
                for name in FILES:
                    path = folder / name
                    if name in CHANGED:
                        _change_csv(path, rng, round_)
                    elif name.endswith(".geojson"):
                        _change_geojson(path, rng, round_)
            await import_paris(city, folder)
            sizes.append(await _size(city))
            live, history, size = sizes[-1]
            print(
                f"import {round_ + 1:2}: live rows {live:6}  history rows {history:6}  {size / 1e6:6.2f} MB"
            )
        versions = await read_versions(city.repository("bikeStations").engine, "bikeStations")
        await city.close()
    first_live, _, first_size = sizes[0]
    last_live, last_history, last_size = sizes[-1]
    copies = first_live * imports
    return {
        "imports": imports,
        "bike station versions": len(versions),
        "history rows / live rows": round(last_history / last_live, 2),
        "history rows / full copies": round(last_history / copies, 3),
        "storage growth (last / first import)": round(last_size / first_size, 2),
        "full copies would grow": f"~{imports}x",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        help="a PostgreSQL server's admin URL (postgresql://postgres@127.0.0.1:5432/postgres): "
        "the bench makes a database of its own there and drops it; default: scratch SQLite",
    )
    args = parser.parse_args()
    imports = int(os.environ.get("CITYGRAPH_BENCH_IMPORTS", "10"))
    if args.postgres:
        with bench_database(args.postgres, keep=False) as url:
            result = asyncio.run(run(url, imports))
    else:
        result = asyncio.run(run(None, imports))
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
