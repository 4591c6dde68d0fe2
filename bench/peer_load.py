"""The tail at the same load: citygraph and PostGraphile each offered one rate per query.

wrk's p99 (bench.peer's first table) is each server's p99 at its own maximum: the faster server is
measured under more load, and with two cores the database, wrk and the server share them. Here,
per query, both are offered the same open-loop rate (bench.open_loop: a share of the slower one's
closed-loop req/s), in interleaved rounds, and their p99s are compared at that rate.
"""

from __future__ import annotations

import asyncio
import statistics

from bench.harness import WrkResult
from bench.open_loop import PacedResult, paced

Key = tuple[str, str]
"""(query, contender)"""
Request = tuple[str, bytes, dict[str, str]]
"""URL, body and headers of one contender's request for one query."""
PAIR = ("citygraph", "postgraphile")


def same_rates(closed: dict[Key, list[WrkResult]], *, share: float) -> dict[str, float]:
    """Per query both contenders answer: `share` of the slower one's median closed-loop req/s."""
    queries = {query for query, who in closed if who == PAIR[1]}
    return {
        query: share
        * min(statistics.median(r.requests_per_s for r in closed[(query, who)]) for who in PAIR)
        for query in sorted(queries)
    }


def run(url: str, body: bytes, headers: dict[str, str], rate: float, seconds: float) -> PacedResult:
    """One open-loop run on a fresh event loop (uvloop when installed: finer timers)."""
    coroutine = paced(url, body=body, headers=headers, rate=rate, seconds=seconds)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the lock
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def at_the_same_load(
    requests: dict[Key, Request], rates: dict[str, float], *, rounds: int, seconds: float
) -> dict[Key, list[PacedResult]]:
    """Interleaved rounds: in each, every query at its rate against both contenders in turn."""
    samples: dict[Key, list[PacedResult]] = {(query, who): [] for query in rates for who in PAIR}
    for n in range(rounds):
        print(f"  same load, round {n + 1} of {rounds}")
        for key in samples:
            url, body, headers = requests[key]
            result = run(url, body, headers, rates[key[0]], seconds)
            if result.errors:
                raise RuntimeError(f"{key}: {result.errors} requests failed at {result.rate:.0f}/s")
            samples[key].append(result)
    return samples


def report_same_load(
    samples: dict[Key, list[PacedResult]], rates: dict[str, float], rounds: int, seconds: float
) -> None:
    print(
        f"\nat the same load: open loop, latency from each request's due time,"
        f" median of {rounds} interleaved rounds of {seconds:.0f} s"
    )
    print(
        f"  {'query':<32} {'req/s':>7} {'contender':<13}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'max ms':>7}"
    )
    for (query, who), runs in samples.items():
        print(
            f"  {query:<32} {rates[query]:7.0f} {who:<13}"
            f" {statistics.median(r.p50_ms for r in runs):7.2f}"
            f" {statistics.median(r.p99_ms for r in runs):7.2f}"
            f" {statistics.median(r.p999_ms for r in runs):8.2f}"
            f" {statistics.median(r.max_ms for r in runs):7.1f}"
        )
    print("\n  cg/pg p99 at the same load, median of the rounds' own ratios (target <= 1.0)")
    for query in rates:
        ours, theirs = samples[(query, PAIR[0])], samples[(query, PAIR[1])]
        ratio = statistics.median(a.p99_ms / b.p99_ms for a, b in zip(ours, theirs, strict=True))
        print(f"  {query:<32} {ratio:6.2f}")
