"""bench.harness's wrk report parser, on reports as wrk 4 prints them."""

from __future__ import annotations

import pytest

from bench.harness import parse_wrk, wrk_script

CLEAN = """Running 5s test @ http://127.0.0.1:39177/graphql
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.82ms   10.31ms 154.64ms   97.12%
    Req/Sec     1.88k   211.40     2.10k    84.00%
  Latency Distribution
     50%    3.82ms
     75%    4.30ms
     90%    5.01ms
     99%    1.02s
  9402 requests in 5.00s, 41.62MB read
Requests/sec:   1880.17
Transfer/sec:      8.32MB
"""

FAILING = """Running 1s test @ http://127.0.0.1:5432/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   740.00us    0.00us 740.00us  100.00%
    Req/Sec     0.00      0.00     0.00      -nan%
  Latency Distribution
     50%  740.00us
     75%  740.00us
     90%  740.00us
     99%  740.00us
  12 requests in 1.00s, 0.00B read
  Socket errors: connect 0, read 724, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:     12.00
Transfer/sec:       0.00B
"""


def test_a_clean_report_gives_rate_and_percentiles_in_milliseconds() -> None:
    result = parse_wrk(CLEAN)
    assert result.requests_per_s == pytest.approx(1880.17)
    assert result.p50_ms == pytest.approx(3.82)
    assert result.p99_ms == pytest.approx(1020.0)  # seconds are converted
    assert result.requests == 9402
    assert result.errors == 0


def test_socket_errors_and_bad_statuses_are_counted() -> None:
    result = parse_wrk(FAILING)
    assert result.p50_ms == pytest.approx(0.74)  # microseconds too
    assert result.errors == 724 + 12
    assert result.timeouts == 3


def test_a_report_without_latency_percentiles_is_refused() -> None:
    without = "\n".join(line for line in CLEAN.splitlines() if "%    " not in line)
    with pytest.raises(ValueError, match="wrk --latency"):
        parse_wrk(without)


def test_a_wrk_script_sends_the_body_and_headers(tmp_path) -> None:
    script = wrk_script(
        tmp_path / "q.lua", method="POST", body=b'{"query": "{ a }"}', headers={"Accept": "x/y"}
    )
    text = script.read_text()
    assert "wrk.method = 'POST'" in text
    assert "wrk.headers['Accept'] = 'x/y'" in text
    assert (tmp_path / "q.body").read_bytes() == b'{"query": "{ a }"}'
