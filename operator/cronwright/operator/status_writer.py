"""The one way the operator writes a CronJobSpec's status: conditional, retried, measured.

Every status change — sync, trigger, result, heartbeat, Secret re-check — is a merge patch
computed from a copy of the object and sent with that copy's resourceVersion
(core/kube/update.py): on Conflict the object is read again and the patch recomputed, so no
other writer's change (a second operator, a user) is ever overwritten. Writes of one
resource are serialised by its entry's lock; all writes share a bound, the API client's
connections, beyond which they would only queue there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from cronwright.core.kube import Kube, Retry, refs, update
from cronwright.operator.book import Entry
from cronwright.operator.metrics import Metrics

WRITE_ATTEMPTS = 8
#: Status writes wait out an API server that is briefly unavailable (restart, overload).
WRITE_RETRY = Retry(attempts=WRITE_ATTEMPTS)

Compute = Callable[[dict[str, Any]], dict[str, Any] | None]


class Gone(Exception):
    """The resource was deleted while we were writing to it."""


class Writer(Protocol):
    """What the scheduler and the workflow runner need of a status writer (a fake in
    tests/unit/test_scheduler_loop.py)."""

    async def write(self, entry: Entry, compute: Compute, kind: str) -> dict[str, Any] | None: ...


class StatusWriter:
    def __init__(self, kube: Kube, metrics: Metrics, max_concurrent: int) -> None:
        self._kube = kube
        self._metrics = metrics
        self._writes = asyncio.Semaphore(max_concurrent)

    async def write(self, entry: Entry, compute: Compute, kind: str) -> dict[str, Any] | None:
        """`compute(obj)` is the status patch to make from a copy of the object (None:
        nothing to write). Returns the written object, None when nothing was written;
        raises Gone when the resource was deleted. `kind` labels the latency metric."""
        ref = refs.cronjobspec(*entry.key)

        def cached() -> dict[str, Any] | None:
            return None if entry.deleted else entry.obj

        async def read() -> dict[str, Any] | None:
            entry.observe(await self._kube.get(ref))
            return cached()

        def status_patch(obj: dict[str, Any]) -> dict[str, Any] | None:
            status = compute(obj)
            return None if status is None else {"status": status}

        async def write(patch: dict[str, Any]) -> dict[str, Any]:
            started = time.perf_counter()
            try:
                written: dict[str, Any] = await self._kube.merge_patch(ref.status, patch)
            finally:
                self._metrics.api_writes.labels(kind=kind).observe(time.perf_counter() - started)
            entry.observe(written)
            return written

        async with entry.lock, self._writes:
            done = await update(
                status_patch,
                write,
                read,
                cached=cached,
                attempts=WRITE_ATTEMPTS,
                retry=WRITE_RETRY,
                on_conflict=self._metrics.write_conflicts.inc,
                what=f"the status of {ref.namespace}/{ref.name}",
            )
        if done is None:
            raise Gone
        return done.obj if done.written else None
