"""Apps with the traffic pipeline (cache, limits, persisted queries), in-process or on a real Redis.

`make_app(**settings)` builds a seeded app on loopback (so the built-in server issues tokens) and
yields a TestClient that has run its lifespan; `staff_token` signs a person's token with that app's
own keys, as `citygraph token` does.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Environment, Settings
from api.traffic import Traffic
from auth.keys import KeyStore
from auth.server import sign_access_token
from tests.api.conftest import city_of, on_app_loop, seed

BASE = "http://127.0.0.1:8000"
PURPOSE = {"Citygraph-Purpose": "legal-basis=CGCT-L2122-32; case=EC-2026-118"}

MakeApp = Callable[..., TestClient]


def traffic_of(client: TestClient) -> Traffic:
    """The pipeline of the client's app."""
    for route in client.app.routes:  # type: ignore[attr-defined]
        endpoint = getattr(route, "app", None)
        endpoint = getattr(endpoint, "api", endpoint)  # /graphql: GraphiQL's front, then the API
        traffic = getattr(endpoint, "traffic", None)
        if isinstance(traffic, Traffic):
            return traffic
    raise AssertionError("the app has no traffic pipeline")


def settings_dir(client: TestClient) -> Path:
    path: Path = client.app.state.citygraph.settings.data_dir  # type: ignore[attr-defined]
    return path


def staff_token(client: TestClient, scopes: list[str], subject: str = "agent-7") -> str:
    """A person's token signed with the app's own keys."""
    keys = KeyStore(settings_dir(client) / "keys").signing_keys()
    return sign_access_token(
        keys=keys,
        issuer=BASE,
        audience=BASE,
        subject=subject,
        client_id="citygraph-dev",
        scopes=scopes,
        lifetime_s=600,
        extra={},
        now=None,
    )


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[MakeApp]:
    """Seeded apps with settings overrides, shut down after the test."""
    numbers = itertools.count()
    with contextlib.ExitStack() as stack:

        def make(*, ip: str = "127.0.0.1", seeded: bool = True, **overrides: Any) -> TestClient:
            data_dir = overrides.pop("data_dir", None) or tmp_path / f"city{next(numbers)}"
            settings = Settings(
                data_dir=data_dir, environment=Environment.TEST, public_url=BASE, **overrides
            )
            client = stack.enter_context(
                TestClient(create_app(settings), base_url=BASE, client=(ip, 50000))
            )
            if seeded:
                on_app_loop(client, seed, city_of(client))
            return client

        yield make
