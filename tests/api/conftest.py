"""The real app on an empty data dir (test environment: it creates its tables), seeded with a few rows.

`make_client(**settings)` builds an app with its own settings and yields a starlette TestClient that
has run the lifespan; rows are written through the city's repositories on the client's event loop.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Environment, Settings
from bench.harness import asgi_scope
from schema.city import City

GRAPHQL_RESPONSE = "application/graphql-response+json"
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

# names that CSV must quote, and that LIKE would misread if the filters did not escape them
STATION_NAMES = [
    "Bastille",
    "100% Vélo",
    "a_b station",
    "axb station",
    'Quai "Nord", côté Seine',
    "Gare\r\nde l'Est",
    "Opéra",
    "%' OR 1=1 --",
    "Zola",
    "Œuvre",
]


def bike_stations() -> list[dict[str, Any]]:
    return [
        {
            "id": f"S{i:03d}",
            "name": name,
            "capacity": 10 + 3 * i,
            "latitude": 48.85 + i * 0.001,
            "longitude": 2.30 + i * 0.002,
            # every fourth station is outside the city
            "district_code": None if i % 4 == 3 else DISTRICTS[i % 3]["code"],
        }
        for i, name in enumerate(STATION_NAMES)
    ]


PERMITS = [
    {
        "id": f"PC 075 101 24 V000{i}",
        "address": f"{i} rue de Rivoli",
        "kind": "extension",
        "status": "granted",
        "filed_on": date(2024, 1, i + 1),
        "decided_on": None,
        "floor_area_m2": 100 + i,
        "district_code": "75101",
        "applicant_name": f"Applicant {i}",
        "applicant_id": None,
    }
    for i in range(3)
]

RESIDENTS = [
    {
        "id": "R1",
        "given_name": "Marie",
        "family_name": "Curie",
        "birth_date": date(1967, 11, 7),
        "sex": "F",
        "household_id": "H1",
        "address": "1 rue Cuvier",
        "district_code": "75101",
        "quartier_code": "7510101",
    }
]


async def seed(city: City) -> None:
    """The rows every API test can count on."""
    await city.repository("districts").upsert(DISTRICTS)
    await city.repository("bikeStations").upsert(bike_stations())
    await city.repository("buildingPermits").upsert(PERMITS)
    await city.repository("residents").upsert(RESIDENTS)


MakeClient = Callable[..., TestClient]


def city_of(client: TestClient) -> City:
    """The city the client's app serves."""
    city: City = client.app.state.citygraph.city  # type: ignore[attr-defined]
    return city


def http_scope(*headers: tuple[bytes, bytes], method: str = "POST") -> dict[str, Any]:
    """The ASGI scope of a request to /graphql with these headers, for a test that drives the
    app by hand (its own `receive` and `send`)."""
    return asgi_scope(method, "/graphql", list(headers), server=("127.0.0.1", 8000))


def on_app_loop(client: TestClient, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run a coroutine function on the app's event loop (its engines belong to that loop)."""
    assert client.portal is not None, "the client's lifespan has not started"
    return client.portal.call(fn, *args)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[MakeClient]:
    """Builds seeded apps with settings overrides; each is shut down after the test."""
    numbers = itertools.count()
    with contextlib.ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            data_dir = tmp_path / f"city{next(numbers)}"
            settings = Settings(data_dir=data_dir, environment=Environment.TEST, **overrides)
            client = stack.enter_context(TestClient(create_app(settings)))
            on_app_loop(client, seed, city_of(client))
            return client

        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    """A seeded app with default settings."""
    return make_client()
