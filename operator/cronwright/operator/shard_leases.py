"""Shard Leases: which shards this instance holds, and up to when it may fire their runs.

Resources fall into S shards (`sharding.shard_of`); each shard has one coordination.k8s.io
Lease, `cronwright-shard-<n>`, in the operator's namespace. Its holder alone schedules and
fires the shard's runs, and only up to the watermark it last wrote into that Lease (the
annotation `cronwright.io/watermark`): every renewal moves the watermark `window` seconds
ahead of now, so firing never waits for a write, and a renewal that fails for long enough
stops firing before another instance may take the shard. The decisions are pure
(sharding.py); this module does the Lease I/O and tells its listener (the scheduler) when
a shard comes, goes or must be handed over. docs/operator.md states the guarantee.

What this takes from client-go's leader election (and controller-runtime, which uses it):
a Lease whose holder renews it; takeover only after this instance has watched the same
renewal stand unchanged for a whole lease duration on its *own* monotonic clock, so clock
offsets between machines do not matter; a holder stops acting a margin before that point;
a graceful release writes an empty holder so the next one starts at once. What it does
differently: one Lease per shard instead of one per controller (as
timebertt/kubernetes-controller-sharding shards by hash over a ring of instances), with the
fencing token — the watermark — in the Lease itself, so ownership and the firing window
change in one conditional write; and instead of a sharder component that assigns shards,
every instance computes the same fair split (`sharding.fair_shares`) and only takes free
shards, so the excess holder's graceful handover is what moves a shard.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cronwright.core.kube import ApiError, Conflict, refs
from cronwright.core.runs import parse_time
from cronwright.operator import sharding
from cronwright.operator.leases import INSTANCE_ANNOTATION, INSTANCE_LABELS, lease_alive, micro
from cronwright.operator.metrics import Metrics
from cronwright.operator.sharding import ShardView

log = logging.getLogger(__name__)

WATERMARK = "cronwright.io/watermark"
SHARD_LABELS = {"app.kubernetes.io/name": "cronwright", "app.kubernetes.io/component": "shard"}


def _selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def shard_lease_name(shard: int) -> str:
    return f"cronwright-shard-{shard}"


@dataclass(frozen=True)
class ShardSettings:
    shards: int = 32
    #: How long a Lease stands without renewal before another instance takes it.
    lease_seconds: int = 15
    #: How far ahead of now each renewal moves the watermark: what a crash can cost.
    window: float = 5.0
    #: What a graceful handover waits for the shard's runs in flight.
    handover_grace: float = 10.0

    @property
    def renew_every(self) -> float:
        """Renewals come several times per lease duration (2 s for 15 s)."""
        return self.lease_seconds / 7.5

    @property
    def margin(self) -> float:
        """Firing stops this long before another instance could take the shard."""
        return self.lease_seconds / 5

    @property
    def takeover_horizon(self) -> float:
        """The longest a shard takes to change hands after its holder died: a whole lease
        duration watched unchanged, plus the renewal rounds before and after."""
        return self.lease_seconds + 3 * self.renew_every

    def problem(self) -> str | None:
        """What makes these settings unsafe or useless, naming the flag; None when fine."""
        if self.shards < 1:
            return "--shards must be at least 1"
        if self.window <= self.renew_every:
            return f"--fire-window must be longer than the renewal interval ({self.renew_every:g} s)"
        if self.lease_seconds < 3:
            return "--shard-lease-seconds must be at least 3"
        return None


class Verdict(enum.Enum):
    FIRE = "fire"
    WAIT = "wait"  # held, but the watermark written does not reach the run yet
    NOT_MINE = "not mine"


class LeaseApi(Protocol):
    """The Kubernetes calls the shard Leases make (core.kube.Kube; a fake in unit tests)."""

    async def get(self, target: refs.Ref, params: dict[str, Any] | None = None) -> Any: ...

    async def create(self, target: refs.Ref, body: dict[str, Any]) -> Any: ...

    async def replace(self, target: refs.Ref, body: dict[str, Any]) -> Any: ...


class Listener(Protocol):
    """What the shard Leases tell the scheduler."""

    def acquired(self, shard: int, fired_up_to: datetime | None) -> None:
        """This instance now holds `shard`; nothing at or before `fired_up_to` may fire."""

    def lost(self, shard: int) -> None:
        """Stop firing `shard` at once (renewal failed too long, or another holder)."""

    async def releasing(self, shard: int, grace: float) -> datetime | None:
        """Stop firing `shard`, let its runs finish (up to `grace` s), write their results;
        return the last scheduled time fired in it."""


@dataclass
class Held:
    watermark: datetime
    stop_at: float
    #: The watermark this instance took the shard over after.
    started_after: datetime | None
    releasing: bool = False


class ShardLeases:
    def __init__(
        self,
        kube: LeaseApi,
        namespace: str,
        instance: str,
        settings: ShardSettings,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._kube = kube
        self._leases = refs.lease(namespace)
        self.instance = instance
        self.settings = settings
        self._metrics = metrics
        #: Set once the scheduler exists (it needs the shards, the shards tell it).
        self.listener: Listener | None = None
        self._clock = clock
        self._wall = wall
        self.held: dict[int, Held] = {}
        #: Per shard: (holder, renewTime, resourceVersion) last seen and when, on our clock.
        self._seen: dict[int, tuple[tuple[Any, ...], float]] = {}
        #: The resourceVersion of our own last successful write of each shard's Lease.
        self._written: dict[int, str] = {}
        self._handovers: set[asyncio.Task[None]] = set()

    def _tell(self) -> Listener:
        assert self.listener is not None, "ShardLeases.listener is set before run()"
        return self.listener

    def shard_of(self, uid: str) -> int:
        return sharding.shard_of(uid, self.settings.shards)

    def may_fire(self, shard: int, scheduled: datetime) -> Verdict:
        held = self.held.get(shard)
        if held is None or held.releasing:
            return Verdict.NOT_MINE
        now = self._clock()
        if now >= held.stop_at:
            self._lose(shard, "no renewal in time")
            return Verdict.NOT_MINE
        return (
            Verdict.FIRE if sharding.may_fire(scheduled, held.watermark, now, held.stop_at) else Verdict.WAIT
        )

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Renew, take and hand over shards every `renew_every` seconds. Never returns."""
        while True:
            try:
                await self.step()
            except ApiError as error:
                log.warning("shard leases not renewed: %s", error)
            except OSError as error:
                log.warning("shard leases not renewed: %s", error)
            await asyncio.sleep(self.settings.renew_every)

    async def step(self) -> None:
        now = self._clock()
        for shard, held in list(self.held.items()):
            if now >= held.stop_at:
                self._lose(shard, "no renewal in time")
        leases = await self._list(self._leases, SHARD_LABELS)
        instances = await self._list(self._leases, INSTANCE_LABELS)
        wall = self._wall()
        live = [
            (lease["metadata"].get("annotations") or {}).get(INSTANCE_ANNOTATION, "")
            for lease in instances.values()
            if lease_alive(lease, wall)
        ]
        by_shard = {int(name.rsplit("-", 1)[1]): lease for name, lease in leases.items() if _is_shard(name)}
        views = {s: self._view(s, by_shard.get(s), now) for s in range(self.settings.shards)}
        for shard in list(self.held):
            lease = by_shard.get(shard)
            if lease is None or _holder(lease) != self.instance:
                self._lose(shard, "another instance holds its Lease")
        await asyncio.gather(*(self._renew(s, by_shard[s]) for s in list(self.held) if s in by_shard))
        moves = sharding.plan_moves(self.instance, [n for n in live if n], views, now)
        for shard in moves.release:
            if shard in self.held and not self.held[shard].releasing:
                self._spawn_handover(shard)
        for shard in moves.acquire:
            await self._acquire(shard, by_shard.get(shard))

    async def _list(self, ref: refs.Ref, labels: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        listing = await self._kube.get(ref, params={"labelSelector": _selector(labels)})
        return {item["metadata"]["name"]: item for item in listing.get("items") or []}

    def _view(self, shard: int, lease: dict[str, Any] | None, now: float) -> ShardView:
        if lease is None:
            return ShardView(holder=None, unchanged_since=now, duration=self.settings.lease_seconds)
        spec = lease.get("spec") or {}
        holder = _holder(lease)
        key = (holder, spec.get("renewTime"), lease["metadata"].get("resourceVersion"))
        seen = self._seen.get(shard)
        if seen is None or seen[0] != key:
            self._seen[shard] = seen = (key, now)
        if holder == self.instance and shard not in self.held:
            # Named as ours but not held: our own Lease, unchanged since our last write,
            # is ours to take again at once; anything else (an earlier process with our
            # name) waits out a whole lease duration like any other holder.
            if self._written.get(shard) == lease["metadata"].get("resourceVersion"):
                holder = None
            else:
                holder = f"{holder} (an earlier process)"
        duration = float(spec.get("leaseDurationSeconds") or self.settings.lease_seconds)
        return ShardView(holder=holder, unchanged_since=seen[1], duration=duration)

    def _body(
        self, shard: int, holder: str | None, watermark: datetime | None, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        wall = self._wall()
        meta: dict[str, Any] = {"name": shard_lease_name(shard), "labels": SHARD_LABELS}
        if watermark is not None:
            meta["annotations"] = {WATERMARK: micro(watermark)}
        spec: dict[str, Any] = dict((previous or {}).get("spec") or {})
        if previous is not None:
            meta["resourceVersion"] = previous["metadata"]["resourceVersion"]
        spec.update(
            holderIdentity=holder,
            leaseDurationSeconds=self.settings.lease_seconds,
            renewTime=micro(wall),
        )
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    async def _write(self, shard: int, body: dict[str, Any], create: bool) -> dict[str, Any]:
        target = self._leases if create else self._leases.named(shard_lease_name(shard))
        written = await (self._kube.create(target, body) if create else self._kube.replace(target, body))
        self._written[shard] = written["metadata"]["resourceVersion"]
        return written

    async def _renew(self, shard: int, lease: dict[str, Any]) -> None:
        held = self.held.get(shard)
        if held is None:
            return
        started = self._clock()
        watermark = max(held.watermark, self._wall() + timedelta(seconds=self.settings.window))
        try:
            await self._write(shard, self._body(shard, self.instance, watermark, lease), False)
        except Conflict:
            return  # the next step reads who holds it now
        except (ApiError, OSError) as error:
            log.warning("shard %d: renewal failed: %s", shard, error)
            return
        if self.held.get(shard) is held:
            held.watermark = watermark
            held.stop_at = self._stop_at(started)

    def _stop_at(self, started: float) -> float:
        """When firing must stop after a write sent at `started` (this instance's clock):
        before any other instance, counting a whole lease duration from when it saw that
        write, may take the shard."""
        return started + self.settings.lease_seconds - self.settings.margin

    async def _acquire(self, shard: int, lease: dict[str, Any] | None) -> None:
        before = _watermark(lease)
        started = self._clock()
        watermark = self._wall() + timedelta(seconds=self.settings.window)
        body = self._body(shard, self.instance, watermark, lease)
        body["spec"]["acquireTime"] = body["spec"]["renewTime"]
        if lease is not None and _holder(lease) != self.instance:
            body["spec"]["leaseTransitions"] = int(lease["spec"].get("leaseTransitions") or 0) + 1
        try:
            await self._write(shard, body, create=lease is None)
        except ApiError as error:
            log.info("shard %d not taken: %s", shard, error)
            return
        self.held[shard] = Held(
            watermark=watermark,
            stop_at=self._stop_at(started),
            started_after=before,
        )
        log.info("shard %d taken over after watermark %s", shard, before)
        self._tell().acquired(shard, before)
        self._metrics.shards_held.set(len(self.held))

    def _lose(self, shard: int, why: str) -> None:
        if self.held.pop(shard, None) is not None:
            log.warning("shard %d lost: %s; not firing its runs", shard, why)
            self._tell().lost(shard)
            self._metrics.shards_held.set(len(self.held))

    # -- handing over --------------------------------------------------------------------

    def _spawn_handover(self, shard: int) -> None:
        task = asyncio.create_task(self.hand_over(shard))
        self._handovers.add(task)
        task.add_done_callback(self._handovers.discard)

    async def hand_over(self, shard: int) -> None:
        """Stop firing, let runs finish and their results be written, lower the watermark
        to the last run fired, and release the Lease in the same write."""
        held = self.held.get(shard)
        if held is None:
            return
        held.releasing = True
        last = await self._tell().releasing(shard, self.settings.handover_grace)
        if self.held.get(shard) is not held:
            return  # lost meanwhile: its Lease is not ours to write
        watermark = sharding.handover_watermark(last, held.started_after)
        try:
            lease = await self._kube.get(self._leases.named(shard_lease_name(shard)))
            if _holder(lease) == self.instance:
                await self._write(shard, self._body(shard, None, watermark, lease), False)
        except (ApiError, OSError) as error:
            log.warning(
                "shard %d: release failed (%s); it frees itself when its Lease runs out", shard, error
            )
        self.held.pop(shard, None)
        self._metrics.shards_held.set(len(self.held))
        log.info("shard %d handed over at watermark %s", shard, watermark)

    async def release_all(self) -> None:
        """Graceful stop (SIGTERM): hand over every shard held, all at once."""
        for task in list(self._handovers):
            task.cancel()
        await asyncio.gather(*(self.hand_over(s) for s in list(self.held)), return_exceptions=True)


def _is_shard(name: str) -> bool:
    prefix, _, number = name.rpartition("-")
    return prefix == "cronwright-shard" and number.isdigit()


def _holder(lease: dict[str, Any]) -> str | None:
    return (lease.get("spec") or {}).get("holderIdentity") or None


def _watermark(lease: dict[str, Any] | None) -> datetime | None:
    if lease is None:
        return None
    return parse_time(((lease.get("metadata") or {}).get("annotations") or {}).get(WATERMARK))
