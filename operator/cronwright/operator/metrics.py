"""Prometheus metrics of the operator, in their own registry (no process-global state
leaks between operators started by one test process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Fire skew is the product's promise; Kubernetes' own CronJob histogram starts at 1 s,
# so the interesting buckets here are milliseconds.
SKEW_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# How stale `kubectl get` and the facade are after a run: usually one write (milliseconds),
# seconds when writes queue behind a burst or keep conflicting.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "cronwright_runs",
            "Runs finished, by result and trigger.",
            ["result", "trigger"],
            registry=self.registry,
        )
        self.fire_skew = Histogram(
            "cronwright_fire_skew_seconds",
            "Start of a scheduled run minus its scheduled time.",
            buckets=SKEW_BUCKETS,
            registry=self.registry,
        )
        self.run_duration = Histogram(
            "cronwright_run_duration_seconds", "Duration of finished runs.", registry=self.registry
        )
        self.in_flight = Gauge("cronwright_runs_in_flight", "Runs executing now.", registry=self.registry)
        self.book_size = Gauge(
            "cronwright_schedule_book_size",
            "Resources in the in-memory schedule book.",
            registry=self.registry,
        )
        self.api_writes = Histogram(
            "cronwright_api_write_seconds",
            "Latency of status writes to the API server, by kind.",
            ["kind"],
            buckets=WRITE_BUCKETS,
            registry=self.registry,
        )
        self.status_lag = Histogram(
            "cronwright_status_lag_seconds",
            "From a run result handed on to its status write (coalescing, write slot, retries).",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.status_backlog = Gauge(
            "cronwright_status_backlog",
            "Run results waiting for their status write (queued or being written).",
            registry=self.registry,
        )
        self.shards_held = Gauge(
            "cronwright_shards_held", "Shards whose Lease this instance holds.", registry=self.registry
        )
        self.write_conflicts = Counter(
            "cronwright_api_write_conflicts",
            "Status writes refused with 409 and redone.",
            registry=self.registry,
        )
        self.events_suppressed = Counter(
            "cronwright_events_suppressed",
            "Events not posted because of the rate limit.",
            registry=self.registry,
        )
        self.heartbeat_down = Gauge(
            "cronwright_heartbeat_down",
            "1 for each job whose heartbeat is Down (no successful run or ping in time).",
            ["namespace", "name"],
            registry=self.registry,
        )
        self.heartbeat_missed = Counter(
            "cronwright_heartbeat_missed",
            "Heartbeat state changes to Down.",
            registry=self.registry,
        )
