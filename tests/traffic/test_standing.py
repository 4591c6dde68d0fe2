"""An app's standing (the developer portal's): its rate and budget as the limiter counts them,
read without spending, in-process and in Redis."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from auth.principal import Principal, Tier
from auth.scopes import Scope
from tests.api.conftest import on_app_loop
from tests.traffic.conftest import MakeApp, traffic_of

# an hour's window: nothing refills while the test runs
SLOW = {"rate_period_s": 3600, "rate_limits": {"app": 50}, "cost_budgets": {"app": 10_000}}
QUERY = {"query": "{ bikeStations(first: 100) { nodes { id } } }"}


def app_token(client: TestClient) -> tuple[str, str]:
    made = client.post("/oauth/register", json={"client_name": "Vélo"})
    assert made.status_code == 201
    client_id, secret = made.json()["client_id"], made.json()["client_secret"]
    token = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert token.status_code == 200
    return client_id, token.json()["access_token"]


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def app(request: pytest.FixtureRequest, make_app: MakeApp) -> TestClient:
    if request.param == "redis":
        return make_app(redis_url=request.getfixturevalue("redis_url"), **SLOW)
    return make_app(**SLOW)


def test_standing_reads_what_requests_spent_and_spends_nothing(app: TestClient) -> None:
    client_id, token = app_token(app)
    for _ in range(3):
        answer = app.post("/graphql", json=QUERY, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
    assert answer.headers["ratelimit-remaining"] == "47"
    principal = Principal(
        tier=Tier.APP, subject=client_id, client_id=client_id, scopes=frozenset({Scope.OPEN_DATA})
    )
    traffic = traffic_of(app)
    for _ in range(2):  # looking twice finds the same: a look takes nothing
        rate, budget = on_app_loop(app, traffic.standing, principal)
        assert rate is not None
        assert budget is not None
        assert (rate.limit, rate.remaining) == (50, 47)
        assert budget.limit == 10_000
        assert budget.remaining <= 10_000 - 300  # three documents of 100 rows at least
    answer = app.post("/graphql", json=QUERY, headers={"Authorization": f"Bearer {token}"})
    assert answer.headers["ratelimit-remaining"] == "46"


def test_an_anonymous_caller_has_no_standing_without_its_request(app: TestClient) -> None:
    with pytest.raises(ValueError, match="anonymous"):
        on_app_loop(app, traffic_of(app).standing, Principal())
