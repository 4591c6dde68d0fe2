"""Rate limits: GCRA per principal and tier, the same in Redis and in-process, shared by processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from api.settings import Settings
from auth.principal import Tier
from storage.breaker import Breaker
from storage.ratelimit import Decision, LocalRateLimiter, Policy, RedisRateLimiter
from storage.redis_client import RedisLink, connect
from storage.resp import Packed
from tests.traffic.conftest import MakeApp, staff_token, traffic_of
from tests.traffic.test_cost import PAGE

STATIONS = "{ bikeStations(first: 2) { nodes { id } } }"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_local_gcra_allows_a_burst_then_one_per_interval() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock=clock)
    policy = Policy(limit=3, period_s=3.0)
    decisions = [await limiter.take("k", policy) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after_s == pytest.approx(1.0)
    clock.now += 1.0
    assert (await limiter.take("k", policy)).allowed
    assert not (await limiter.take("k", policy)).allowed
    assert (await limiter.take("other", policy)).allowed  # keys are independent


def test_the_raw_headers_say_what_the_named_ones_say() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock=clock)
    decision = limiter.take_now("k", Policy(limit=10, period_s=60.0), 3)
    named = {k.lower().encode(): v.encode() for k, v in decision.headers().items()}
    assert dict(decision.raw_headers()) == named
    assert named == {
        b"ratelimit-limit": b"10",
        b"ratelimit-remaining": b"7",
        b"ratelimit-reset": b"18",
    }


async def test_the_redis_script_answers_like_the_local_limiter(redis_url: str) -> None:
    link = RedisLink(connect(redis_url), Breaker("redis"))
    limiter = RedisRateLimiter(link, fallback=LocalRateLimiter())
    policy = Policy(limit=3, period_s=60.0)
    try:
        decisions = [await limiter.take("k", policy) for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert [d.remaining for d in decisions] == [2, 1, 0, 0]
        assert 19 < decisions[3].retry_after_s <= 20
        assert 59 < decisions[3].reset_s <= 60
        # the script is loaded once; after SCRIPT FLUSH, EVALSHA falls back to EVAL
        await link.client.script_flush()
        assert not (await limiter.take("k", policy)).allowed
        assert link.breaker.healthy
    finally:
        await link.close()


async def test_takes_asked_together_share_one_script_call(redis_url: str) -> None:
    link = RedisLink(connect(redis_url), Breaker("redis"))
    limiter = RedisRateLimiter(link, fallback=LocalRateLimiter())
    calls: list[int] = []
    run = limiter._run
    late: list[asyncio.Future[Decision]] = []

    async def counted(keys: list[str], args: list[Packed]) -> bytes:
        calls.append(len(keys))
        if len(calls) == 1:  # asked while the first call is out, over several turns of the
            # loop: they wait for its answer, and go together
            for _ in range(3):
                late.append(asyncio.ensure_future(limiter.take("late", policy)))
                for _ in range(3):
                    await asyncio.sleep(0)
        return await run(keys, args)

    limiter._run = counted  # type: ignore[method-assign]
    policy = Policy(limit=5, period_s=60.0)
    try:
        await link.client.delete(*(f"citygraph:rate:{k}" for k in ("burst", "other", "late")))
        decisions = await asyncio.gather(
            *(limiter.take("burst", policy) for _ in range(8)), limiter.take("other", policy, 2)
        )
        assert calls[0] == 9  # one round trip for the whole wave
        assert [d.remaining for d in await asyncio.gather(*late)] == [4, 3, 2]
        assert calls == [9, 3]
        burst, other = decisions[:8], decisions[8]
        # in the order asked: the same key twice in a batch sees its first take
        assert [d.allowed for d in burst] == [True] * 5 + [False] * 3
        assert [d.remaining for d in burst[:5]] == [4, 3, 2, 1, 0]
        assert other.allowed
        assert other.remaining == 3
        assert (await limiter.take("burst", policy)).allowed is False
        assert calls == [9, 3, 1]
    finally:
        await link.close()


@pytest.mark.parametrize("where", ["local", pytest.param("redis", marks=pytest.mark.redis)])
async def test_a_chained_take_is_made_only_after_an_allowed_one(
    where: str, request: pytest.FixtureRequest
) -> None:
    """A request's cost budget is taken with its rate, and only when the rate admits it."""
    link = None
    limiter: LocalRateLimiter | RedisRateLimiter = LocalRateLimiter()
    if where == "redis":
        link = RedisLink(connect(request.getfixturevalue("redis_url")), Breaker("redis"))
        limiter = RedisRateLimiter(link, fallback=LocalRateLimiter())
    rate, budget = Policy(limit=3, period_s=60.0), Policy(limit=100, period_s=60.0)
    try:
        outcomes = [
            await limiter.take_all((("rate", rate, 1), ("budget", budget, 60))) for _ in range(4)
        ]
        allowed = [[d.allowed if d else None for d in pair] for pair in outcomes]
        # admitted and charged; admitted and refused (nothing charged); a 429 charges nothing
        assert allowed == [[True, True], [True, False], [True, False], [False, None]]
        assert [d.remaining for d in outcomes[1] if d] == [1, 40]
        # the refused and the skipped takes consumed nothing: 40 units are left
        spent = await limiter.take("budget", budget, 40)
        assert (spent.allowed, spent.remaining) == (True, 0)
        if isinstance(limiter, RedisRateLimiter):
            assert limiter.calls == 5  # one call per request, both keys together
    finally:
        if link is not None:
            await link.close()


def test_a_known_document_takes_its_rate_and_budget_in_one_call(
    make_app: MakeApp, redis_url: str
) -> None:
    client = make_app(
        redis_url=redis_url,
        rate_limits={Tier.ANONYMOUS: 4},
        cost_budgets={Tier.ANONYMOUS: 100},
    )
    limiter = traffic_of(client).limiter
    assert isinstance(limiter, RedisRateLimiter)

    def post() -> tuple[int, int, str]:
        """Status, script calls made, and the start of the error's message."""
        before = limiter.calls
        response = client.post("/graphql", json={"query": PAGE})
        errors = response.json().get("errors") or [{"message": ""}]
        return response.status_code, limiter.calls - before, errors[0]["message"][:17]

    assert post() == (200, 2, "")  # new: the rate, then the analysis, then the budget
    assert post() == (200, 1, "")  # known: both in one call
    assert post() == (429, 1, "query cost budget")  # 3 x 41 > 100
    assert post() == (429, 1, "query cost budget")  # the refusal took nothing from the budget
    assert post() == (429, 1, "too many requests")  # the 5th of 4: the budget is not asked
    assert traffic_of(client).stats.refused == {"RATE_LIMITED": 3}


def test_every_response_carries_the_ratelimit_headers(make_app: MakeApp) -> None:
    client = make_app(rate_limits={Tier.ANONYMOUS: 3})
    first = client.get("/graphql", params={"query": STATIONS})
    assert first.headers["ratelimit-limit"] == "3"
    assert first.headers["ratelimit-remaining"] == "2"
    assert first.headers["ratelimit-reset"] == "20"
    # refusals before execution too
    bad = client.post("/graphql", content=b"{", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.headers["ratelimit-remaining"] == "1"


@pytest.mark.parametrize("with_redis", [False, True], ids=["local", "redis"])
def test_a_refused_request_is_a_429_with_retry_after_and_a_graphql_error(
    make_app: MakeApp, with_redis: bool, request: pytest.FixtureRequest
) -> None:
    extra: dict[str, Any] = (
        {"redis_url": request.getfixturevalue("redis_url")} if with_redis else {}
    )
    client = make_app(rate_limits={Tier.ANONYMOUS: 2}, **extra)
    for _ in range(2):
        assert client.get("/graphql", params={"query": STATIONS}).status_code == 200
    refused = client.get("/graphql", params={"query": STATIONS})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["cache-control"] == "no-store"
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert "2 per 60 s" in error["message"]
    assert "data" not in refused.json()


def test_each_principal_has_its_own_bucket(make_app: MakeApp) -> None:
    client = make_app(rate_limits={Tier.ANONYMOUS: 1, Tier.STAFF: 5})
    assert client.get("/graphql", params={"query": STATIONS}).status_code == 200
    assert client.get("/graphql", params={"query": STATIONS}).status_code == 429
    token = staff_token(client, ["registry:read"])
    staff = client.get(
        "/graphql", params={"query": STATIONS}, headers={"Authorization": f"Bearer {token}"}
    )
    assert staff.status_code == 200
    assert staff.headers["ratelimit-limit"] == "5"


def test_anonymous_callers_are_told_apart_by_pseudonymised_address(
    make_app: MakeApp, redis_url: str, tmp_path: Path
) -> None:
    # three processes sharing Redis and the data dir (where the pseudonym keys live)
    shared: dict[str, Any] = {
        "rate_limits": {Tier.ANONYMOUS: 1},
        "redis_url": redis_url,
        "data_dir": tmp_path / "shared",
    }
    one = make_app(ip="10.0.0.1", **shared)
    other_ip = make_app(ip="10.0.0.2", seeded=False, **shared)
    same_ip = make_app(ip="10.0.0.1", seeded=False, **shared)
    assert one.get("/graphql", params={"query": STATIONS}).status_code == 200
    assert one.get("/graphql", params={"query": STATIONS}).status_code == 429
    assert other_ip.get("/graphql", params={"query": STATIONS}).status_code == 200
    assert same_ip.get("/graphql", params={"query": STATIONS}).status_code == 429
    keys = __import__("redis").Redis.from_url(redis_url).keys("citygraph:rate:anonymous:*")
    assert len(keys) == 2
    assert not any(b"10.0.0" in k for k in keys)  # the address itself is never stored


def test_two_processes_share_one_limit(make_app: MakeApp, redis_url: str) -> None:
    client = make_app(rate_limits={Tier.ANONYMOUS: 4}, redis_url=redis_url)
    assert client.get("/graphql", params={"query": STATIONS}).headers["ratelimit-remaining"] == "3"
    # another process takes two units from the same bucket with the same script
    key = next(
        k.decode().removeprefix("citygraph:rate:")
        for k in __import__("redis").Redis.from_url(redis_url).keys("citygraph:rate:anonymous:*")
    )
    script = textwrap.dedent(f"""
        import asyncio
        from storage.breaker import Breaker
        from storage.ratelimit import LocalRateLimiter, Policy, RedisRateLimiter
        from storage.redis_client import RedisLink, connect

        async def main():
            link = RedisLink(connect({redis_url!r}), Breaker("redis"))
            limiter = RedisRateLimiter(link, fallback=LocalRateLimiter())
            for _ in range(2):
                d = await limiter.take({key!r}, Policy(4, 60.0))
                assert d.allowed
            await link.close()

        asyncio.run(main())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    assert client.get("/graphql", params={"query": STATIONS}).headers["ratelimit-remaining"] == "0"
    assert client.get("/graphql", params={"query": STATIONS}).status_code == 429


def test_the_breaker_opens_probes_once_and_closes() -> None:
    clock = Clock()
    breaker = Breaker("redis", failure_threshold=2, reset_after_s=1.0, clock=clock)
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert not breaker.allow()  # open: nothing goes through
    clock.now += 1.0
    assert breaker.allow()  # one probe
    assert not breaker.allow()  # and only one
    breaker.abandon()  # a cancelled probe frees the slot
    assert breaker.allow()
    breaker.failure()  # the probe failed: open again
    assert not breaker.allow()
    clock.now += 1.0
    assert breaker.allow()
    breaker.success()
    assert breaker.healthy
    assert breaker.opened_total == 1


def test_a_limit_finer_than_a_microsecond_is_refused_at_boot(tmp_path: Path) -> None:
    """The Redis script counts in microseconds: 60 s cannot hold more than 60 million units."""
    with pytest.raises(ValueError, match=r"rate_limits\[app\] = 100000000 is more than one per"):
        Settings(data_dir=tmp_path, rate_limits={Tier.APP: 10**8})
    with pytest.raises(ValueError, match=r"cost_budgets\[anonymous\]"):
        Settings(data_dir=tmp_path, cost_budgets={Tier.ANONYMOUS: 60_000_001})
    assert Settings(data_dir=tmp_path, rate_limits={Tier.APP: 60_000_000}).rate_limits
    hourly = Settings(data_dir=tmp_path, rate_period_s=3600, rate_limits={Tier.APP: 10**9})
    assert hourly.rate_limits[Tier.APP] == 10**9
