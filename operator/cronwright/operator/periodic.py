"""The loop of the operator's background checks (heartbeats, missing Secrets)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(interval: float, step: Callable[[], Awaitable[None]], what: str) -> None:
    """`step()` every `interval` seconds until cancelled. A pass that fails is logged and
    the next one runs: one bad resource or a bug must not stop the check for all others."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(interval)
