"""The one retry policy for API calls: only `Unavailable` is tried again, after a pause
that grows exponentially up to a cap and is jittered, for a bounded number of attempts.

Jitter matters because failures come in waves: after an API server restart every writer
fails at once, and without it they would all come back at the same instant.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from cronwright.core.kube.errors import Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    attempts: int
    #: The first pause, in seconds; each next one doubles, up to `cap`.
    first: float = 0.2
    cap: float = 8.0
    #: The fraction of each pause that is random: 0.5 waits between half and all of it.
    jitter: float = 0.5

    def pause(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """The wait after failed attempt number `attempt` (counted from 0)."""
        return min(self.cap, self.first * 2**attempt) * (1 - self.jitter * draw())

    def again(self, error: BaseException, attempt: int) -> bool:
        """Whether failed attempt number `attempt` (from 0) is worth another one."""
        return isinstance(error, Unavailable) and attempt + 1 < self.attempts

    async def call(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        """`operation`'s answer, trying again while it is Unavailable; the last error otherwise."""
        attempt = 0
        while True:
            try:
                return await operation()
            except Unavailable as error:
                if not self.again(error, attempt):
                    raise
                log.warning("%s failed (%s); retrying", what, error)
                await asyncio.sleep(self.pause(attempt))
                attempt += 1
