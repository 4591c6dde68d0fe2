"""A circuit breaker for one remote dependency (Redis): fail fast while it is down, probe, recover.

States: closed (calls go through), open (calls are refused at once, for `reset_after_s`), half-open
(one probe call goes through; success closes, failure opens again). `failure_threshold` consecutive
failures open the breaker. Time comes from `clock` (monotonic seconds) so tests can drive it.

Why: with a 50 ms timeout a frozen Redis costs 50 ms per call; the breaker turns that into ~0 for
every request but one probe per `reset_after_s`, and the probe is what notices recovery.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

import structlog

log = structlog.get_logger("citygraph.breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    """Counts consecutive failures of a dependency and decides whether to try it."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 3,
        reset_after_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.opened_total = 0
        """How many times the breaker opened: a counter for metrics."""
        self._probing = False

    @property
    def healthy(self) -> bool:
        """Whether the dependency is believed up (closed)."""
        return self.state is BreakerState.CLOSED

    def allow(self) -> bool:
        """Whether a call may be tried now; in half-open state only one probe at a time."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self.clock() - self.opened_at < self.reset_after_s:
                return False
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        """The call worked."""
        if self.state is not BreakerState.CLOSED:
            log.warning("dependency recovered", dependency=self.name)
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._probing = False

    def abandon(self) -> None:
        """The call was cancelled before it said anything: let the next one probe."""
        self._probing = False

    def failure(self) -> None:
        """The call failed (error or timeout)."""
        self._probing = False
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            if self.state is BreakerState.CLOSED:  # a failed probe is not news
                self.opened_total += 1
                log.warning(
                    "dependency down: serving from local fallbacks",
                    dependency=self.name,
                    failures=self.failures,
                )
            self.state = BreakerState.OPEN
            self.opened_at = self.clock()
