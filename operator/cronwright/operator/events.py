"""Kubernetes Events for runs and problems, rate-limited.

A job failing every second must not flood the API server (or etcd's event storage):
each resource has a small token bucket, and all resources share a larger one. What the
buckets drop is counted in a metric, and the run history in status still has every run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronwright.core import models
from cronwright.core.kube import ApiError, Kube, refs
from cronwright.core.runs import rfc3339
from cronwright.operator.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass
class TokenBucket:
    capacity: float
    per_second: float
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class EventRecorder:
    def __init__(
        self,
        kube: Kube,
        metrics: Metrics,
        instance: str,
        per_object: tuple[float, float] = (5, 0.1),
        overall: tuple[float, float] = (100, 20),
    ) -> None:
        self._kube = kube
        self._metrics = metrics
        self._instance = instance
        self._per_object = per_object
        self._buckets: dict[str, TokenBucket] = {}
        self._overall = TokenBucket(*overall)
        self._tasks: set[asyncio.Task[None]] = set()

    def forget(self, uid: str) -> None:
        self._buckets.pop(uid, None)

    def post(self, meta: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """Post in the background: an Event never delays a run or a status write."""
        bucket = self._buckets.setdefault(meta["uid"], TokenBucket(*self._per_object))
        if not (bucket.take() and self._overall.take()):
            self._metrics.events_suppressed.inc()
            return
        task = asyncio.create_task(self._post(meta, kind, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, meta: dict[str, Any], kind: str, reason: str, message: str) -> None:
        now = rfc3339(datetime.now(UTC))
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": models.API_VERSION,
                "kind": models.KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "cronwright-operator"},
            "reportingComponent": "cronwright.io/operator",
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._kube.create(refs.event(meta["namespace"]), event)
        except ApiError as error:
            log.warning("event not posted", extra={"reason": reason, "error": str(error)})

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
