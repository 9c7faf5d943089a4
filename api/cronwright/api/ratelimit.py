"""Per-key token buckets: each key may spend ``burst`` requests at once, then ``per_second``.

The state is one (tokens, last seen) pair per key in a dict whose order is recency of use,
so memory stays bounded by evicting the least recently used keys. An evicted key comes
back with a full bucket, which is harmless: it had been idle longer than any other key.
The limit is per facade replica, not cluster-wide; it protects each replica and the API
server behind it rather than metering tenants exactly.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        _check_rate(per_second, burst)
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        # FastAPI runs sync dependencies on worker threads; a lock keeps each check atomic.
        self._lock = threading.Lock()

    def check(self, key_id: str, per_second: float | None = None, burst: int | None = None) -> float | None:
        """Spend a token: None when allowed, else the seconds until one is available
        (put its ceiling in Retry-After). The arguments are a key's own override."""
        rate = self.per_second if per_second is None else per_second
        capacity = self.burst if burst is None else burst
        _check_rate(rate, capacity)
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.pop(key_id, (float(capacity), now))
            tokens = min(float(capacity), tokens + max(0.0, now - last) * rate)
            wait = None if tokens >= 1.0 else (1.0 - tokens) / rate
            self._buckets[key_id] = (tokens - 1.0 if wait is None else tokens, now)
            while len(self._buckets) > self.max_keys:
                del self._buckets[next(iter(self._buckets))]
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def _check_rate(per_second: float, burst: int) -> None:
    if not (math.isfinite(per_second) and per_second > 0) or burst < 1:
        raise ValueError(f"need a finite per_second > 0 and burst >= 1, got {per_second} and {burst}")
