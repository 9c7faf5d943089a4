"""Run results leave the firing path: queued per resource, written by one drain task each.

A run that waited for its status write would make the next fire wait on the API server.
`submit` only appends the result's compute and returns; one drain task per resource writes
everything pending as ONE conditional merge patch. So when the server is slower than the
runs, a resource's results coalesce: the computes run in order, each on the status the
previous one left, which keeps history, counters and lastRun exactly as one write per result.

No bound of its own: a resource has at most one write in flight (its drain task), and all
writes share the writer's semaphore (StatusWriter's `max_concurrent`). The backlog is
visible as `cronwright_status_backlog`, its wait as `cronwright_status_lag_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import takewhile
from typing import Any

from cronwright.core.kube import ApiError
from cronwright.operator.book import Entry
from cronwright.operator.metrics import Metrics
from cronwright.operator.planning import apply_merge_patch, merge_patch
from cronwright.operator.status_writer import Compute, Gone, Writer

log = logging.getLogger(__name__)

#: After a failed write (the writer's own retries spent) a resource's results wait this
#: long, doubling up to BACKOFF_MAX: a result is never dropped while the process lives.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
RETRY_MESSAGE = "status of %s/%s: %d result(s) not written (%s); again in %g s"

Key = tuple[str, str]
#: Called after a result's write: did its compute produce a patch in the written attempt?
Done = Callable[[bool], None]


class Composed:
    """Several computes as one: each sees the status the previous ones left; the patch turns
    the original status into the final one. `produced[i]`: compute i returned a patch in the
    LAST invocation — the writer re-runs computes on Conflict, and only the written attempt
    says whether a result was recorded (another follower may have recorded it first)."""

    def __init__(self, computes: Sequence[Compute]) -> None:
        self._computes = list(computes)
        self.produced: list[bool] = [False] * len(self._computes)

    def __call__(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        produced = [False] * len(self._computes)
        self.produced = produced
        original: dict[str, Any] = obj.get("status") or {}
        status = original
        for i, compute in enumerate(self._computes):
            # A deep copy: a compute may change what it gets, and `status` shares members.
            patch = compute({**obj, "status": copy.deepcopy(status)})
            if patch is not None:
                produced[i] = True
                status = apply_merge_patch(status, patch)
        if not any(produced):
            return None
        # Whole-status diff: keys an earlier compute added and a later one removed are
        # named with null (or not at all), as one write per result would have left them.
        return merge_patch(original, status) or None


def compose(computes: Sequence[Compute]) -> Composed:
    return Composed(computes)


@dataclass
class _Item:
    entry: Entry
    compute: Compute
    kind: str
    done: Done | None
    submitted: float


class Sending:
    """Held while HTTP runs are being sent; result writes yield to it for a bounded while.

    One event loop sends runs and writes results, and a status write (TLS to the API
    server, then its watch event back) costs more CPU than a send: in a burst of runs
    due at one instant, writes made as results came in delayed the sends behind them.
    So a drain task waits until no run is being sent — at most `longest` seconds, so
    results of a steady stream still land soon."""

    def __init__(self, longest: float = 3.0) -> None:
        self.longest = longest
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    async def yielded(self) -> None:
        if self._idle.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.longest)


class ResultQueue:
    """Status results per resource, written behind the firing path (see the module doc)."""

    def __init__(
        self,
        writer: Writer,
        metrics: Metrics,
        sending: Sending | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._writer = writer
        self._sending = sending or Sending(longest=0.0)
        self._metrics = metrics
        self._clock = clock
        #: Per resource, results not yet written; a batch in flight stays until written (none lost).
        self._pending: dict[Key, list[_Item]] = {}
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._backlog = 0

    @property
    def backlog(self) -> int:
        """Results submitted and not yet written (queued or in flight)."""
        return self._backlog

    def submit(self, entry: Entry, compute: Compute, kind: str, done: Done | None = None) -> None:
        """Queue a result's status compute; never waits (call it on the event loop).
        `done(produced)` follows the write: True when `compute` returned a patch in the
        written attempt, False when it found nothing to do or the resource is gone."""
        key = entry.key
        self._pending.setdefault(key, []).append(_Item(entry, compute, kind, done, self._clock()))
        self._count(1)
        if key not in self._tasks:
            self._tasks[key] = asyncio.get_running_loop().create_task(
                self._drain(key), name=f"status results {key[0]}/{key[1]}"
            )

    async def flush(self, keys: Iterable[Key] | None = None) -> None:
        """Wait until nothing is pending or in flight for `keys` (all resources when None),
        including results submitted meanwhile. Cancelling the wait cancels no write."""
        wanted = None if keys is None else set(keys)
        while tasks := [t for k, t in self._tasks.items() if wanted is None or k in wanted]:
            await asyncio.wait(tasks)

    async def close(self) -> None:
        """Stop the drain tasks (flush first to write what is pending)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, key: Key) -> None:
        pause = BACKOFF_FIRST
        try:
            while self._pending.get(key):
                try:
                    await self._write_batch(key)
                except Exception as error:
                    waiting = len(self._pending.get(key, []))
                    log.warning(RETRY_MESSAGE, *key, waiting, _describe(error), pause)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, BACKOFF_MAX)
                else:
                    pause = BACKOFF_FIRST
        finally:
            # No await since the loop's last check: a submit now starts a new task.
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
            if not self._pending.get(key):
                self._pending.pop(key, None)

    async def _write_batch(self, key: Key) -> None:
        await self._sending.yielded()
        pending = self._pending[key]
        entry = pending[0].entry
        # Results of one Entry object only: a resource deleted and created again under the
        # same name is a new Entry, and its results must not be written as the old one's.
        batch = list(takewhile(lambda item: item.entry is entry, pending))
        composed = compose([item.compute for item in batch])
        try:
            await self._writer.write(entry, composed, batch[0].kind)
        except Gone:
            dropped = [item for item in self._pending[key] if item.entry is entry]
            self._pending[key] = [item for item in self._pending[key] if item.entry is not entry]
            self._finish(dropped, [False] * len(dropped), observe=False)
            return
        del self._pending[key][: len(batch)]
        self._finish(batch, composed.produced, observe=True)

    def _finish(self, items: list[_Item], produced: list[bool], observe: bool) -> None:
        self._count(-len(items))
        now = self._clock()
        for item, made in zip(items, produced, strict=True):
            if observe:
                self._metrics.status_lag.observe(max(0.0, now - item.submitted))
            if item.done is not None:
                try:
                    item.done(made)
                except Exception:
                    log.exception("status of %s/%s: a result's follow-up failed", *item.entry.key)

    def _count(self, delta: int) -> None:
        self._backlog += delta
        self._metrics.status_backlog.set(self._backlog)


def _describe(error: Exception) -> str:
    """What failed, without the server's message: it may quote the patch (a response body)."""
    if isinstance(error, ApiError):
        return f"API error {error.status} {error.reason}".rstrip()
    return type(error).__name__
