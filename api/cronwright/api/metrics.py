"""Prometheus metrics of the facade at `/metrics`, in a registry of its own per app (tests
make several apps in one process).

Requests are counted by dialect, route template and status, never by raw path: ids in
paths would make one series per job. Methods outside the standard set count as "other",
paths no route matches as route "unmatched", so every label stays bounded whatever
clients send. The cache and watch figures are read from the store when scraped.

Watch lag (`cronwright_api_watch_lag_seconds`) is the time since the API server last told
the store anything about CronJobSpecs: a watch event of any type, bookmarks included, or
a full list. Every change reaches the facade as such an event, and the API server sends a
bookmark on an idle watch about once a minute, so a value well above a minute means the
watch is stuck or broken and GETs may serve stale jobs (a client still reads its own
writes: they go into the cache at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cronwright.api.auth import Facade

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Requests answer from the cache in about a millisecond; writes wait for the API server.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
UNMATCHED = "unmatched"
OUTSIDE = "none"


class FacadeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cronwright_api_requests",
            "Requests answered, by dialect, route template, method and status code.",
            ["dialect", "route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cronwright_api_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by dialect, route and method.",
            ["dialect", "route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "cronwright_api_rate_limited",
            "Requests refused with 429 by the per-key rate limit, by dialect.",
            ["dialect"],
            registry=self.registry,
        )

    def observe(self, dialect: str, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(dialect, route, method, str(status)).inc()
        self.latency.labels(dialect, route, method).observe(seconds)
        if status == 429:
            self.rate_limited.labels(dialect).inc()

    def watch(self, facade: Callable[[], Facade | None]) -> None:
        """Also report the cache and watch of the facade `facade()` returns (None before start)."""
        self.registry.register(_StoreCollector(facade))

    def install(self, app: FastAPI, dialect_of: Callable[[str], str]) -> None:
        """Count every request of `app` and serve /metrics (no key needed, like the operator's)."""
        app.add_middleware(RequestMetrics, metrics=self, dialect_of=dialect_of)

        @app.get("/metrics", include_in_schema=False)
        async def metrics_view() -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _StoreCollector(Collector):
    def __init__(self, facade: Callable[[], Facade | None]) -> None:
        self._facade = facade

    def collect(self) -> Iterator[Metric]:
        state = self._facade()
        if state is None:
            return
        store, keys = state.store, state.keys
        yield GaugeMetricFamily(
            "cronwright_api_cached_jobs", "CronJobSpecs in the facade's cache (all namespaces).", store.size()
        )
        yield GaugeMetricFamily(
            "cronwright_api_key_cache_entries", "API key lookups remembered (hits and misses).", keys.size()
        )
        if store.last_heard is not None:
            yield GaugeMetricFamily(
                "cronwright_api_watch_lag_seconds",
                "Seconds since the API server last sent the job cache anything (event, bookmark or list).",
                time.monotonic() - store.last_heard,
            )
        events = CounterMetricFamily(
            "cronwright_api_watch_events", "Watch events applied to the cache, by type.", labels=["type"]
        )
        for kind, count in sorted(state.store.events.items()):
            events.add_metric([kind], count)
        yield events


class RequestMetrics:
    """Pure ASGI middleware: status from the answer's start, route from the router's match."""

    def __init__(self, app: ASGIApp, metrics: FacadeMetrics, dialect_of: Callable[[str], str]) -> None:
        self.app = app
        self.metrics = metrics
        self.dialect_of = dialect_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            template = getattr(scope.get("route"), "path", None) or UNMATCHED
            seconds = time.perf_counter() - started
            self.metrics.observe(self.dialect_of(scope["path"]), template, scope["method"], status, seconds)
