"""What auditing every request costs: a public query with the access log on and off, in one run.

    uv run python -m bench.audit            # in-process ASGI, interleaved rounds

Two apps over the same SQLite city, one with `audit_enabled=False`; the audited one spools a
record per request and flushes them in batches, as in production. The target (DESIGN section 9)
is a ratio of at least 0.90. A small page is measured as well as the 100-row one: the smaller the
request, the larger the share the record takes, so it is the harder case.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import orjson

from api.app import create_app
from api.settings import Environment, Settings
from bench.harness import call, interleaved
from bench.page import HEADERS, prepare

QUERIES = {
    "100-row page": "{ bikeStations(first: 100) { edges { node { id name capacity latitude longitude districtCode } } } }",
    "5-row page": "{ bikeStations(first: 5) { edges { node { id name } } } }",
}


def settings(data_dir: Path, *, audit_enabled: bool) -> Settings:
    """The same settings but for the log; no rate limit or response cache to measure around."""
    extra: dict[str, Any] = {}
    if "rate_limits" in Settings.model_fields:  # the traffic pipeline, where it is installed
        extra["rate_limits"] = {}
        extra["cost_budgets"] = {}
    if "cache_enabled" in Settings.model_fields:
        extra["cache_enabled"] = False
    return Settings(
        data_dir=data_dir, environment=Environment.TEST, audit_enabled=audit_enabled, **extra
    )


async def measure(data_dir: Path, seconds: float, rounds: int) -> dict[str, float]:
    """Ratio audited / unaudited throughput for each query."""
    audited = create_app(settings(data_dir, audit_enabled=True))
    unaudited = create_app(settings(data_dir, audit_enabled=False))
    ratios = {}
    async with (
        audited.router.lifespan_context(audited),
        unaudited.router.lifespan_context(unaudited),
    ):
        if True:
            for name, query in QUERIES.items():
                body = orjson.dumps({"query": query})
                status, payload = await call(audited, "POST", "/graphql", body, HEADERS)
                if status != 200 or b'"errors"' in payload:
                    raise SystemExit(f"the query failed: {payload[:300]!r}")
                rates = await interleaved(
                    {
                        "audit on": lambda b=body: call(audited, "POST", "/graphql", b, HEADERS),  # type: ignore[misc]
                        "audit off": lambda b=body: call(unaudited, "POST", "/graphql", b, HEADERS),  # type: ignore[misc]
                    },
                    rounds=rounds,
                    seconds=seconds,
                )
                ratios[name] = rates["audit on"] / rates["audit off"]
                print(f"{name} ({len(payload)} bytes)")
                for contender, value in rates.items():
                    print(f"  {contender:>9}: {value:9.0f} req/s")
                print(
                    f"  ratio on / off: {ratios[name]:.3f} ({(1 - ratios[name]) * 100:+.1f}% lost)"
                )
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        asyncio.run(prepare(data_dir, args.stations))
        ratios = asyncio.run(measure(data_dir, args.seconds, args.rounds))
    worst = min(ratios.values())
    verdict = "meets" if worst >= 0.90 else "misses"
    print(f"worst ratio {worst:.3f}: {verdict} the target of 0.90")


if __name__ == "__main__":
    main()
