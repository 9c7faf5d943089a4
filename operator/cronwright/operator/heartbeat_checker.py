"""The periodic heartbeat check: judges every monitored job in the schedule book, writes
state changes through the scheduler's conditional status write, and reports them as a
condition, an Event and a metric.

A scan is in-memory (the book already holds spec, status and the ping annotation); only a
change of state costs an API call, so the scan interval can be short.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from cronwright.core.kube import ApiError
from cronwright.core.models import HeartbeatState
from cronwright.operator import heartbeat, periodic
from cronwright.operator.book import Entry
from cronwright.operator.events import EventRecorder
from cronwright.operator.metrics import Metrics
from cronwright.operator.scheduler import Scheduler
from cronwright.operator.status_writer import Gone

log = logging.getLogger(__name__)


class HeartbeatChecker:
    def __init__(
        self, scheduler: Scheduler, events: EventRecorder, metrics: Metrics, interval: float
    ) -> None:
        self.scheduler = scheduler
        self.events = events
        self.metrics = metrics
        self.interval = interval
        self._down: set[tuple[str, str]] = set()

    async def run(self) -> None:
        await periodic.every(self.interval, self.check_once, "heartbeat check")

    async def check_once(self) -> None:
        down: set[tuple[str, str]] = set()
        for entry in self.scheduler.owned():
            if entry.spec is None or entry.deleted:
                continue
            if entry.spec.heartbeat is None and '"heartbeat"' not in entry.status_raw:
                continue  # never monitored: no status to parse, nothing to clear
            state = await self._check(entry)
            if state is HeartbeatState.Down:
                down.add(entry.key)
        for namespace, name in self._down - down:
            self.metrics.heartbeat_down.remove(namespace, name)
        for namespace, name in down:
            self.metrics.heartbeat_down.labels(namespace=namespace, name=name).set(1)
        self._down = down

    async def _check(self, entry: Entry) -> HeartbeatState | None:
        spec = entry.spec
        assert spec is not None
        now = datetime.now(UTC)
        before = (entry.status.get("heartbeat") or {}).get("state")
        verdict = heartbeat.Verdict(None)

        def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
            nonlocal verdict
            annotations = obj["metadata"].get("annotations") or {}
            status = obj.get("status") or {}
            verdict = heartbeat.judge(spec, status, annotations, entry.created, now)
            return heartbeat.status_patch(status, verdict, int(obj["metadata"].get("generation", 1)), now)

        if compute(entry.obj) is None:
            # Judged on the book's copy: no change, so no turn at the entry's lock and the
            # write slots that run results are waiting for.
            return verdict.state
        try:
            written = await self.scheduler.write_status(entry, compute)
        except Gone:
            return None
        except ApiError as error:
            log.warning("heartbeat of %s/%s not recorded: %s", *entry.key, error)
            return verdict.state
        if written is not None and verdict.state != before:
            self._report(entry, verdict, before)
        return verdict.state

    def _report(self, entry: Entry, verdict: heartbeat.Verdict, before: str | None) -> None:
        if verdict.state is HeartbeatState.Down:
            self.metrics.heartbeat_missed.inc()
            self.events.post(entry.meta, "Warning", "HeartbeatMissed", heartbeat.describe(verdict))
            log.warning("heartbeat of %s/%s missed: %s", *entry.key, heartbeat.describe(verdict))
        elif verdict.state is HeartbeatState.Up and before == HeartbeatState.Down:
            self.events.post(entry.meta, "Normal", "HeartbeatRecovered", heartbeat.describe(verdict))
