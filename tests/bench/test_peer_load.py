"""bench.peer offers both contenders one rate per query: a share of the slower one's."""

from __future__ import annotations

from bench.harness import WrkResult
from bench.peer_load import same_rates


def runs(*rates: float) -> list[WrkResult]:
    return [WrkResult(requests_per_s=r, p50_ms=1, p99_ms=2, requests=1, errors=0) for r in rates]


def test_the_rate_is_a_share_of_the_slower_median_and_only_for_queries_both_answer() -> None:
    closed = {
        ("page", "citygraph"): runs(900, 1_000, 5_000),  # median 1,000
        ("page", "postgraphile"): runs(700, 800, 10),  # median 700: the slower
        ("page", "ceiling"): runs(50, 50, 50),  # not a contender at the same load
        ("staff", "citygraph"): runs(400, 400, 400),  # PostGraphile is not asked
    }
    assert same_rates(closed, share=0.5) == {"page": 350.0}
