"""Prometheus metrics at `GET /metrics` (DESIGN section 8): one registry per app, read at scrape time.

- `Metrics` owns a `CollectorRegistry` of its own, never prometheus_client's global one: tests build
  many apps in one process, and each app's series must be its own.
- `CityCollector` reads, when Prometheus scrapes, the counters the app keeps anyway:
  `Traffic.stats` (cache, 304s, refusals per code), the Redis breaker (up or not, times opened),
  the audit writer (`store_available`). The request path does no work for them. Database
  readiness is not polled here: that is /readyz's job, and a scrape must not wait on a database.
- The app's edge (api.edge) counts and times requests of a fixed set of routes (`/graphql`);
  every other path passes straight through. Labels come from fixed sets only (the
  route template, the method folded to GET/POST/OTHER, the status our own code answered), so no
  client can grow the number of series. It keeps plain numbers (`RouteCounts`) that
  `RequestCollector` turns into a counter and a histogram at scrape time: about 1.5 µs a request.
- Access: `metrics_enabled=false` removes the route (404) and leaves the middleware nothing to
  measure;
  `metrics_token` makes /metrics ask for `Authorization: Bearer <token>` (401 otherwise).

Processes: every process reports its own series (its counters live in its memory), and
Prometheus scrapes each process as its own target. `serve --workers N` (docs/serving.md) puts N
workers behind one port, and a scrape is answered by whichever worker took the connection: each
series then jumps between workers' counts. Aggregating them needs prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR), which our scrape-time collector does not support;
until then, scrape one worker per container for exact series.
"""

from __future__ import annotations

import bisect
import hmac
import itertools
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from api.settings import Settings
from api.traffic import Traffic
from audit.service import AuditLog

MEASURED_ROUTES = ("/graphql",)
"""Routes whose requests are counted and timed; a path is its own (fixed) route template."""

METHODS = frozenset({"GET", "POST"})
"""Methods named in labels; any other is OTHER, so a client cannot invent series."""

DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""Seconds: from a cached answer (~50 µs) to the slowest page worth telling apart."""
BUCKET_LABELS = (*(repr(float(bound)) for bound in DURATION_BUCKETS), "+Inf")


class CityCollector:
    """The app's own counters, read at scrape time."""

    def __init__(self, traffic: Traffic, audit: AuditLog | None) -> None:
        self.traffic = traffic
        self.audit = audit

    def collect(self) -> Iterable[Metric]:
        stats = self.traffic.stats
        yield CounterMetricFamily(
            "citygraph_cache_hits_total", "Responses served from the response cache.", stats.hits
        )
        yield CounterMetricFamily(
            "citygraph_cache_misses_total",
            "Cacheable queries looked up and not found (or stale) in the response cache.",
            stats.misses,
        )
        yield CounterMetricFamily(
            "citygraph_cache_stores_total", "Responses stored in the response cache.", stats.stored
        )
        yield CounterMetricFamily(
            "citygraph_not_modified_total",
            "GET requests answered 304 because If-None-Match held the current ETag.",
            stats.not_modified,
        )
        refused = CounterMetricFamily(
            "citygraph_requests_refused_total",
            "Requests refused before execution, by error code (RATE_LIMITED, QUERY_TOO_COSTLY...).",
            labels=["code"],
        )
        for code, count in sorted(stats.refused.items()):
            refused.add_metric([code], count)
        yield refused

        link = self.traffic.link
        if link is not None:  # no Redis configured: no dependency to report on
            breaker = link.breaker
            up = GaugeMetricFamily(
                "citygraph_dependency_up",
                "1 while the dependency's circuit breaker is closed; 0 while it is open or probing.",
                labels=["dependency"],
            )
            up.add_metric([breaker.name], 1.0 if breaker.healthy else 0.0)
            yield up
            opened = CounterMetricFamily(
                "citygraph_breaker_opened_total",
                "Times the dependency's circuit breaker opened (dependency found down).",
                labels=["dependency"],
            )
            opened.add_metric([breaker.name], breaker.opened_total)
            yield opened

        if self.audit is not None:
            yield GaugeMetricFamily(
                "citygraph_audit_store_up",
                "1 while the last write to the access log succeeded; 0 while records wait spooled.",
                1.0 if self.audit.writer.store_available else 0.0,
            )
            yield GaugeMetricFamily(
                "citygraph_audit_spool_segments",
                "Spool segments of this process not yet in the log (one is being written); more "
                "means the log is behind or down.",
                self.audit.writer.spooled_segments(),
            )


class RouteCounts:
    """Requests and latency buckets of one route, in plain numbers, by (method, status).

    The event loop is the only writer, so an increment needs no lock; the scrape reads them on
    the same loop. With prometheus_client's Counter and Histogram (a lock per increment, a loop
    over the buckets) the middleware cost ~4 µs a request; with these, ~1.5 µs.
    """

    def __init__(self, route: str) -> None:
        self.route = route
        self.series: dict[tuple[str, int], list[float]] = {}
        """Per (method, status): one count per bucket (the last is +Inf), then the sum of seconds."""

    def observe(self, method: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = "OTHER"
        found = self.series.get((method, status))
        if found is None:
            # statuses come from our own code (a dozen at most), never from the client
            found = self.series[(method, status)] = [0.0] * (len(DURATION_BUCKETS) + 2)
        found[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        found[-1] += seconds


class RequestCollector:
    """The measured routes' counts as a counter (by status) and a histogram (by status class)."""

    def __init__(self, routes: Iterable[RouteCounts]) -> None:
        self.routes = list(routes)

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "citygraph_http_requests_total",
            "HTTP requests answered, by route, method and status code.",
            labels=["route", "method", "status"],
        )
        # status class, not code: each label set costs a series per bucket
        durations = HistogramMetricFamily(
            "citygraph_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route, method and "
            "status class.",
            labels=["route", "method", "status_class"],
        )
        for route in self.routes:
            classes: dict[tuple[str, str], list[float]] = {}
            for (method, status), found in sorted(route.series.items()):
                requests.add_metric([route.route, method, str(status)], sum(found[:-1]))
                merged = classes.setdefault((method, f"{status // 100}xx"), [0.0] * len(found))
                for i, number in enumerate(found):
                    merged[i] += number
            for (method, status_class), found in classes.items():
                cumulative = list(itertools.accumulate(found[:-1]))
                buckets = list(zip(BUCKET_LABELS, cumulative, strict=True))
                durations.add_metric([route.route, method, status_class], buckets, found[-1])
        yield requests
        yield durations


class Metrics:
    """The app's registry, its /metrics route and what its middleware measures."""

    def __init__(self, settings: Settings, *, traffic: Traffic, audit: AuditLog | None) -> None:
        self.enabled = settings.metrics_enabled
        self.token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        self.measured: dict[str, RouteCounts] = (
            {route: RouteCounts(route) for route in MEASURED_ROUTES} if self.enabled else {}
        )
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.registry.register(CityCollector(traffic, audit))
        self.registry.register(RequestCollector(self.measured.values()))

    def routes(self) -> list[BaseRoute]:
        """`GET /metrics`, unless metrics are off."""
        return [Route("/metrics", self.endpoint, methods=["GET"])] if self.enabled else []

    async def endpoint(self, request: Request) -> Response:
        """The registry in Prometheus' text exposition format."""
        if self.token is not None and not _bearer_matches(request, self.token):
            return PlainTextResponse(
                "a bearer token is required", 401, headers={"WWW-Authenticate": "Bearer"}
            )
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # constant time: the comparison must not tell a prober how much of the token was right
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())
