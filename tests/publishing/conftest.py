"""Manifests and CSVs written into a temporary folder, a city to publish into, and a query helper."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from auth.principal import ANONYMOUS, Principal
from schema.city import City, builtin_specs
from schema.context import CityContext
from schema.datasets import Catalog
from schema.gateway import build_gateway_schema
from schema.ingest import ImportReport
from schema.publishing import load_catalog, publish
from storage.engines import Databases
from tests.services import engine_url

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "street-trees" / "manifest.toml"


def box(south: float, west: float, north: float, east: float) -> str:
    """A rectangle as GeoJSON text."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


# Three rectangular "arrondissements": two side by side in the north, one below both.
DISTRICTS = [
    {"code": "75101", "number": 1, "name": "Louvre", "geometry": box(48.86, 2.30, 48.90, 2.35)},
    {"code": "75102", "number": 2, "name": "Bourse", "geometry": box(48.86, 2.35, 48.90, 2.40)},
    {"code": "75113", "number": 13, "name": "Gobelins", "geometry": box(48.82, 2.30, 48.86, 2.40)},
]


def district_rows() -> list[dict[str, Any]]:
    return [
        d
        | {
            "label": f"{d['number']}e Ardt",
            "area_m2": 1.0,
            "perimeter_m": 1.0,
            "population": 1,
            "latitude": 48.86,
            "longitude": 2.35,
        }
        for d in DISTRICTS
    ]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def to_toml(data: dict[str, Any]) -> str:
    """Just enough TOML for manifests: top-level keys, tables and arrays of tables."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict | list)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in item.items()]
        elif isinstance(value, list):
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def manifest_data(**dataset: Any) -> dict[str, Any]:
    """A small valid manifest of benches: id, kind, seats, installed, public flag, position."""
    return {
        "dataset": {
            "name": "benches",
            "singular": "bench",  # the default singular only drops the s: "benche"
            "department": "facilities",
            "title": "Benches",
            "description": "Public benches (test data).",
            "publisher": "Test city",
            "license": "ODbL-1.0",
            "license_url": "https://opendatacommons.org/licenses/odbl/1-0/",
            "attribution": "Test city",
        }
        | dataset,
        "csv": {"file": "benches.csv", "delimiter": ";"},
        "columns": [
            {
                "header": "ID",
                "name": "id",
                "type": "string",
                "description": "Bench id.",
                "primary_key": True,
            },
            {"header": "KIND", "name": "kind", "type": "string", "description": "Kind of bench."},
            {"header": "SEATS", "name": "seats", "type": "integer", "description": "Seats."},
            {
                "header": "INSTALLED",
                "name": "installed",
                "type": "date",
                "description": "Installed on.",
            },
            {
                "header": "LAT",
                "name": "lat",
                "type": "float",
                "role": "latitude",
                "description": "Latitude.",
            },
            {
                "header": "LON",
                "name": "lon",
                "type": "float",
                "role": "longitude",
                "description": "Longitude.",
            },
        ],
    }


BENCHES_CSV = """ID;KIND;SEATS;INSTALLED;LAT;LON
B1;wood;3;2020-05-01;48.87;2.32
B2;stone;4;2019-01-15;48.88;2.37
B3;wood;2;;48.84;2.31
B4;metal;5;2021-07-30;48.70;2.10
B5;wood;;2018-03-03;;
"""
"""B1 is in 75101, B2 in 75102, B3 in 75113, B4 outside every district, B5 has no position."""


@dataclass
class Workspace:
    """A folder holding manifests and CSVs, the city's data dir, and its databases."""

    root: Path
    data_dir: Path
    databases: Databases

    def write(
        self,
        data: dict[str, Any],
        csv_text: str | None = None,
        *,
        name: str = "manifest.toml",
        csv_name: str | None = None,
        encoding: str = "utf-8",
    ) -> Path:
        """Write a manifest (and its CSV); returns the manifest's path."""
        path = self.root / name
        path.write_text(to_toml(data), encoding="utf-8")
        if csv_text is not None:
            (self.root / (csv_name or data["csv"]["file"])).write_text(csv_text, encoding=encoding)
        return path

    async def publish(self, manifest: Path) -> ImportReport:
        return await publish(manifest=manifest, data_dir=self.data_dir, databases=self.databases)

    async def seed_districts(self) -> None:
        city = City(load_catalog(self.data_dir), self.databases)
        await city.migrate()
        await city.repository("districts").upsert(district_rows())

    async def query(
        self,
        document: str,
        principal: Principal = ANONYMOUS,
        variables: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Execute a document against the schema the next start would build: {"data", "errors"}."""
        catalog = load_catalog(self.data_dir)
        city = City(catalog, self.databases)
        result = await build_gateway_schema(catalog).execute(
            document,
            variable_values=variables,
            context_value=CityContext(loaders=city.loaders(), principal=principal),
        )
        errors = [
            {"code": (e.extensions or {}).get("code"), "path": e.path, "message": e.message}
            for e in result.errors or []
        ]
        return {"data": result.data, "errors": errors}


@pytest.fixture
async def workspace(tmp_path: Path) -> AsyncIterator[Workspace]:
    """A workspace on SQLite in a temporary folder, its database migrated as a city's is."""
    databases = Databases(f"sqlite+aiosqlite:///{tmp_path / 'city' / 'city.db'}")
    await City(Catalog(builtin_specs()), databases).migrate()
    yield Workspace(tmp_path, tmp_path / "city", databases)
    await databases.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def engine_workspace(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Workspace]:
    """A workspace on each engine: for what the engines must answer alike."""
    url = engine_url(request, tmp_path / "city" / "city.db")
    databases = Databases(url)
    await City(Catalog(builtin_specs()), databases).migrate()
    yield Workspace(tmp_path, tmp_path / "city", databases)
    await databases.dispose()
