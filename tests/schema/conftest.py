"""A small, hand-made city on SQLite and on PostgreSQL, and a helper to query it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from auth.principal import ANONYMOUS, Principal
from schema.city import City, builtin_specs
from schema.context import CityContext
from schema.datasets import Catalog
from schema.gateway import QueryLimits, build_gateway_schema
from storage.engines import Databases
from tests.services import engine_url

CATALOG = Catalog(builtin_specs())
GATEWAY = build_gateway_schema(CATALOG, QueryLimits(page_default=10, page_max=100))

SQUARE = '{"type":"Polygon","coordinates":[[[2.30,48.85],[2.31,48.85],[2.31,48.86],[2.30,48.86],[2.30,48.85]]]}'

DISTRICTS: list[dict[str, Any]] = [
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


FRACTIONS = [
    datetime(2019, 6, 5, 1, 2, 3, 450_000, tzinfo=UTC),
    # given at +02:00: stored, and answered, in UTC
    datetime(2019, 6, 5, 3, 2, 3, 1, tzinfo=timezone(timedelta(hours=2))),
]
"""Measurement times with a fraction of a second, after the 48 whole hours: Python writes six
digits of it (`.450000`), or none for a whole second, whatever each engine stores."""


def measurements() -> list[dict[str, Any]]:
    start = datetime(2019, 6, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(48)]
    return [
        {
            "station_id": "FR04014",
            "parameter": "no2",
            "measured_at": moment,
            "city": "Paris",
            "country": "FR",
            "value": 10.0 + (h * 3.3) % 25,
            "unit": "µg/m³",
        }
        for h, moment in enumerate([*hours, *FRACTIONS])
    ]


HOUSEHOLDS: list[dict[str, Any]] = [
    {
        "id": f"H{i}",
        "address": f"{i} rue de Rivoli",
        "district_code": "75101",
        "quartier_code": "7510101",
    }
    for i in range(1, 4)
]
RESIDENTS: list[dict[str, Any]] = [
    {
        "id": f"R{i}",
        "given_name": given,
        "family_name": family,
        "birth_date": date(1950 + 7 * i, 1 + i, 10 + i),
        "sex": "FMX"[i % 3],
        "household_id": f"H{1 + i % 3}",
        "address": f"{i} rue de Rivoli",
        "district_code": DISTRICTS[i % 3]["code"],
        "quartier_code": f"{DISTRICTS[i % 3]['code']}01",
    }
    for i, (given, family) in enumerate(
        [
            ("Jeanne", "Martin"),
            ("Louis", "Bernard"),
            ("Awa", "Diallo"),
            ("Chen", "Li"),
            ("Marie", "Petit"),
        ]
    )
]
CASES: list[dict[str, Any]] = [
    {
        "id": f"C{i}",
        "resident_id": f"R{i % 5}",
        "benefit_type": ("housing", "family")[i % 2],
        "status": "open",
        "opened_on": date(2023, 1 + i, 1),
        "closed_on": date(2024, 6, 30) if i % 3 == 0 else None,
        "monthly_amount_eur": 100 * (i + 1),
        "district_code": DISTRICTS[i % 3]["code"],
    }
    for i in range(7)
]
ASSESSMENTS: list[dict[str, Any]] = [
    {
        "id": f"T{i}",
        "resident_id": f"R{i % 4}",
        "year": 2024,
        "parcel_ref": f"75101-AB-{i:04d}",
        "assessed_value_eur": 5000 + i * 100,
        "tax_due_eur": 800 + i * 10,
        "district_code": "75101",
    }
    for i in range(6)
]
PERMITS: list[dict[str, Any]] = [
    {
        "id": f"PC{i}",
        "address": f"{i} rue X",
        "kind": "extension",
        "status": "filed",
        "filed_on": date(2024, 1, 1 + i),
        "decided_on": None,
        "floor_area_m2": 20 + i,
        "district_code": "75101",
        "applicant_name": name,
        "applicant_id": applicant,
    }
    for i, (name, applicant) in enumerate(
        [("Jeanne Martin", "R0"), ("SCI Rivoli", None), ("Louis Bernard", "R1")]
    )
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
    await city.migrate()
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
    await city.repository("households").upsert(HOUSEHOLDS)
    await city.repository("residents").upsert(RESIDENTS)
    await city.repository("benefitCases").upsert(CASES)
    await city.repository("taxAssessments").upsert(ASSESSMENTS)
    await city.repository("buildingPermits").upsert(PERMITS)


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Backend]:
    """The fixture city on each engine; PostgreSQL gets a database of its own."""
    url = engine_url(request, tmp_path / "city.db")
    city = City(CATALOG, Databases(url))
    await fill(city)
    yield Backend(request.param, city)
    await city.close()


@pytest.fixture
def principal() -> Any:
    """Build principals: `principal("registry:read", purpose="CRPA-L311")`, `principal(citizen="R0")`."""
    from auth.principal import Purpose, Tier
    from auth.scopes import Scope

    def make(
        *scopes: str,
        purpose: str | None = None,
        covers: tuple[str, ...] | None = None,
        tier: Tier | None = None,
        citizen: str | None = None,
    ) -> Principal:
        granted = frozenset(Scope(s) for s in scopes)
        if citizen is not None:
            return Principal(
                tier=Tier.CITIZEN,
                subject=f"citizen-{citizen}",
                scopes=granted | {Scope.SELF},
                resident_id=citizen,
            )
        declared = None
        if purpose is not None:
            declared = Purpose(
                purpose, "CASE-2026-0042", frozenset(Scope(s) for s in (covers or scopes))
            )
        return Principal(
            tier=tier or Tier.STAFF,
            subject="agent-7",
            client_id="frontend",
            scopes=granted,
            purpose=declared,
        )

    return make
