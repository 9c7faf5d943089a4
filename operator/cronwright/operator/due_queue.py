"""The due queue: what happens next, in time order — one heap, not a timer per resource.

An item names a resource (its book key), the entry's token when it was pushed (an entry
re-planned since bumps its token, so stale items are dropped when popped rather than
searched for), what to do (fire, or a catch-up run) and the scheduled time it is for. 10,000
resources cost 10,000 small tuples. The clock is injected, so the queue is tested on a
fake one.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

Key = tuple[str, str]


@dataclass(frozen=True)
class Due:
    when: float  # epoch seconds at which to act
    key: Key
    token: int
    action: str
    scheduled: datetime


class DueQueue:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Due]] = []
        self._seq = itertools.count()  # equal times leave in the order they came
        self._pushed = asyncio.Event()

    def push(self, item: Due) -> None:
        heapq.heappush(self._heap, (item.when, next(self._seq), item))
        self._pushed.set()

    def pop_due(self) -> Due | None:
        """The earliest item if its time has come, else None."""
        if not self._heap or self._heap[0][0] > self._clock():
            return None
        return heapq.heappop(self._heap)[2]

    def delay(self) -> float | None:
        """Seconds until the earliest item (≤ 0: due now); None when the queue is empty."""
        return self._heap[0][0] - self._clock() if self._heap else None

    async def wait(self, longest: float) -> None:
        """Return when the earliest item is due, a new item was pushed, or after `longest`
        seconds (the caller's heartbeat), whichever comes first."""
        self._pushed.clear()
        delay = self.delay()
        timeout = longest if delay is None else min(max(delay, 0.0), longest)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pushed.wait(), timeout)
