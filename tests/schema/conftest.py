"""A small, hand-made city on SQLite and on PostgreSQL, and a helper to query it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auth.principal import ANONYMOUS, Principal
from schema.city import City, builtin_specs
from schema.context import CityContext
from schema.datasets import Catalog
from schema.gateway import QueryLimits, build_gateway_schema
from storage.engines import Databases

CATALOG = Catalog(builtin_specs())
GATEWAY = build_gateway_schema(CATALOG, QueryLimits(page_default=10, page_max=100))

SQUARE = '{"type":"Polygon","coordinates":[[[2.30,48.85],[2.31,48.85],[2.31,48.86],[2.30,48.86],[2.30,48.85]]]}'

DISTRICTS = [
    {
        "code": f"751{n:02d}",
        "number": n,
        "name": name,
        "label": f"{n}e Ardt",
        "area_m2": 1e6 * n,
        "perimeter_m": 4000.0 + n,
        "population": 1000 * n,
        "latitude": 48.85 + n / 1000,
        "longitude": 2.30 + n / 1000,
        "geometry": SQUARE,
    }
    for n, name in ((1, "Louvre"), (2, "Bourse"), (3, "Temple"))
]

NAMES = [
    "Élysée",
    "élysée - Matignon",
    "Gare de l'Est",
    "100% Vélo",
    "a_b station",
    "Abbesses",
    "Zola",
    "Opéra",
    "Œuvre",
    "Bastille",
]


def bike_stations() -> list[dict[str, Any]]:
    rows = []
    for i in range(30):
        rows.append(
            {
                "id": f"S{i:03d}",
                "name": f"{NAMES[i % len(NAMES)]} {i}",
                "capacity": (i * 7) % 40 + 5,
                "latitude": 48.85 + (i % 10) * 0.002,
                "longitude": 2.30 + (i // 10) * 0.003,
                # every fourth station is outside the city: its district is null
                "district_code": None if i % 4 == 3 else DISTRICTS[i % 3]["code"],
            }
        )
    return rows


def measurements() -> list[dict[str, Any]]:
    start = datetime(2019, 6, 1, tzinfo=UTC)
    return [
        {
            "station_id": "FR04014",
            "parameter": "no2",
            "measured_at": start + timedelta(hours=h),
            "city": "Paris",
            "country": "FR",
            "value": 10.0 + (h * 3.3) % 25,
            "unit": "µg/m³",
        }
        for h in range(48)
    ]


@dataclass
class Backend:
    name: str
    city: City

    async def run(
        self, query: str, variables: dict[str, Any] | None = None, principal: Principal = ANONYMOUS
    ) -> dict[str, Any]:
        """Execute a document and return {"data":..., "errors": [codes]}."""
        result = await GATEWAY.execute(
            query,
            variable_values=variables,
            context_value=CityContext(loaders=self.city.loaders(), principal=principal),
        )
        errors = [
            {"code": (e.extensions or {}).get("code"), "path": e.path, "message": e.message}
            for e in result.errors or []
        ]
        return {"data": result.data, "errors": errors}


async def fill(city: City) -> None:
    """The fixture rows of every test in this folder."""
    await city.create_tables()
    await city.repository("districts").upsert(DISTRICTS)
    await city.repository("quartiers").upsert(
        [
            {
                "code": f"{d['code']}0{q}",
                "number": (d["number"] - 1) * 4 + q,
                "name": f"Q{d['number']}-{q}",
                "district_code": d["code"],
                "area_m2": 2.5e5,
                "perimeter_m": 2000.0,
                "latitude": 48.85,
                "longitude": 2.30,
                "geometry": SQUARE,
            }
            for d in DISTRICTS
            for q in range(1, 5)
        ]
    )
    await city.repository("bikeStations").upsert(bike_stations())
    await city.repository("airQualityStations").upsert(
        [
            {"id": "FR04014", "latitude": 48.8375, "longitude": 2.3939, "district_code": "75103"},
        ]
    )
    await city.repository("airQualityMeasurements").upsert(measurements())


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Backend]:
    """The fixture city on each engine; PostgreSQL gets a database of its own."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/city.db"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    city = City(CATALOG, Databases(url))
    await fill(city)
    yield Backend(request.param, city)
    await city.close()
