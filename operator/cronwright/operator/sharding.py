"""Shard ownership and the firing window, as pure decisions (issue 14; not yet wired).

The sharding design (docs/operator.md will describe it once the loop uses it): resources
fall into S shards by a stable hash of their uid; each shard has one Lease whose holder
may fire the shard's runs up to the watermark it last wrote into that Lease. These are the
decisions that design needs, free of I/O and of the clock (every `now` is passed in, and
it is always the deciding instance's own monotonic-derived reading), so they are table-
and property-tested before the shard Leases and the loop are built on them:

- `shard_of`: which shard a resource is in — never changes for the life of the resource.
- `fair_shares`: how many shards each live instance should hold.
- `plan_moves`: which shards this instance should take and which it should hand over.
- `may_fire`: whether a run may fire now, given the last watermark written and the
  renewal deadline (stop before the Lease can be taken).

Takeover follows client-go leader election: a shard is free when its Lease names no
holder, or when this instance has watched the same renewal stand unchanged for a whole
lease duration on its own clock — so clock offsets between machines do not matter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


def shard_of(uid: str, shards: int) -> int:
    """A stable shard number in [0, shards) for a resource uid (same in every process and
    Python version: not `hash()`, which is salted per process)."""
    digest = hashlib.sha256(uid.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def fair_shares(instances: Sequence[str], shards: int) -> dict[str, int]:
    """Each live instance's share: shards // n each, the remainder one apiece to the first
    instances in name order, so every instance computes the same split."""
    ordered = sorted(set(instances))
    if not ordered:
        return {}
    base, extra = divmod(shards, len(ordered))
    return {name: base + (1 if i < extra else 0) for i, name in enumerate(ordered)}


@dataclass(frozen=True)
class ShardView:
    """One shard Lease as this instance sees it.

    `unchanged_since` is this instance's own clock reading when it first saw the Lease's
    current renewTime (not the renewTime itself: that is the holder's clock)."""

    holder: str | None
    unchanged_since: float
    duration: float


@dataclass(frozen=True)
class Moves:
    acquire: tuple[int, ...]
    release: tuple[int, ...]


def is_free(view: ShardView, now: float) -> bool:
    """No holder, or no renewal seen for a whole lease duration on this instance's clock."""
    return view.holder is None or now - view.unchanged_since >= view.duration


def plan_moves(me: str, live: Sequence[str], leases: Mapping[int, ShardView], now: float) -> Moves:
    """Which shards `me` should take (free ones, lowest first) and hand over (its highest
    ones beyond its share). Shards held by others are never taken before they are free;
    an instance short of its share waits for the excess holders to hand over."""
    share = fair_shares([*live, me], len(leases)).get(me, 0)
    mine = sorted(s for s, view in leases.items() if view.holder == me and not is_free(view, now))
    if len(mine) > share:
        return Moves(acquire=(), release=tuple(mine[share:]))
    free = sorted(s for s, view in leases.items() if view.holder != me and is_free(view, now))
    return Moves(acquire=tuple(free[: share - len(mine)]), release=())


def may_fire(scheduled: datetime, watermark: datetime | None, now: float, stop_at: float) -> bool:
    """A run fires only at or below the last watermark written successfully, and only
    while the Lease cannot yet have been taken (`stop_at`: last successful renewal on this
    instance's clock + lease duration - a safety margin)."""
    return watermark is not None and scheduled <= watermark and now < stop_at


def handover_watermark(last_fired: datetime | None, started_after: datetime | None) -> datetime | None:
    """The watermark a graceful handover leaves: the last scheduled time this holder fired
    (nothing after it was), or — when it fired nothing — the watermark it took over after,
    so the next holder records nothing as unknown that nobody fired."""
    known = [t for t in (last_fired, started_after) if t is not None]
    return max(known) if known else None
