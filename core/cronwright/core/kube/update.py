"""The one conditional update: read, compute a merge patch, write it conditional on the
resourceVersion it was computed from; on Conflict read again and compute again.

No writer ever overwrites a change it has not seen (another operator, a facade replica, a
user with kubectl): a lost race costs one more read, never a lost update. The caller
supplies the three steps, so the same decisions serve the operator's status writes (a
cached copy, the status subresource, retries while the server is unavailable) and the
facade's spec writes (no retries: its client retries).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cronwright.core.kube.errors import Conflict, NotFound, Unavailable
from cronwright.core.kube.retry import Retry

Obj = dict[str, Any]


@dataclass(frozen=True)
class Updated:
    """The object after the update; `written` is False when `compute` found nothing to change
    (then `obj` is the copy it looked at)."""

    obj: Obj
    written: bool


def conditional(patch: Obj, current: Obj) -> Obj:
    """`patch`, applying only while the object is still at `current`'s resourceVersion."""
    meta = {**patch.get("metadata", {}), "resourceVersion": current["metadata"]["resourceVersion"]}
    return {**patch, "metadata": meta}


async def update(
    compute: Callable[[Obj], Obj | None],
    write: Callable[[Obj], Awaitable[Obj]],
    read: Callable[[], Awaitable[Obj | None]],
    *,
    cached: Callable[[], Obj | None] | None = None,
    attempts: int = 5,
    retry: Retry | None = None,
    on_conflict: Callable[[], None] = lambda: None,
    what: str = "the object",
) -> Updated | None:
    """Update one object; None when it is gone (read as None or NotFound, or written NotFound).

    `compute(obj)` is the merge patch to make (None: nothing to do); `write(patch)` sends it;
    `read()` fetches the object afresh. `cached()` is a copy to start from instead of
    reading, and to go on from after an Unavailable (so `read` should refresh what it
    returns). Unavailable is retried per `retry` (without one it is raised); Conflict after
    `attempts` tries is raised as Conflict.
    """
    stale = False  # after a Conflict the cached copy is known to be old: read instead
    for attempt in range(attempts):
        try:
            current = cached() if cached and not stale else await read()
            if current is None:
                return None
            patch = compute(current)
            if patch is None:
                return Updated(current, written=False)
            return Updated(await write(conditional(patch, current)), written=True)
        except NotFound:
            return None
        except Conflict:
            on_conflict()
            stale = True
        except Unavailable as error:
            if retry is None or not retry.again(error, attempt):
                raise
            await asyncio.sleep(retry.pause(attempt))
            stale = False
    raise Conflict(409, {"reason": "Conflict", "message": f"{what} kept changing; try again"})
