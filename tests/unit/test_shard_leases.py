"""The shard Leases' I/O on an in-memory Lease API (conditional writes, as the API server
does them) and a fake clock: instances divide the shards, hand over gracefully, and one
that cannot renew stops firing before another may take its shards."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from cronwright.core.kube import AlreadyExists, Conflict, NotFound, Unavailable, refs
from cronwright.operator.leases import INSTANCE_ANNOTATION, INSTANCE_LABELS, micro
from cronwright.operator.metrics import Metrics
from cronwright.operator.shard_leases import ShardLeases, ShardSettings, Verdict

T0 = datetime(2026, 12, 1, tzinfo=UTC)
SETTINGS = ShardSettings(shards=8, lease_seconds=15, window=5)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now)


class LeaseStore:
    """Leases by name, with resourceVersion preconditions on replace."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.down: set[str] = set()

    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[stored["metadata"]["name"]] = stored
        return copy.deepcopy(stored)


class Api:
    """One instance's view of the store; its calls fail while it is cut off."""

    def __init__(self, store: LeaseStore, instance: str) -> None:
        self.store = store
        self.instance = instance

    def _check(self) -> None:
        if self.instance in self.store.down:
            raise Unavailable(503, {"message": "cut off"})

    async def get(self, target: refs.Ref, params: dict[str, Any] | None = None) -> Any:
        self._check()
        if target.name is None:
            wanted = dict(pair.split("=") for pair in (params or {})["labelSelector"].split(","))
            items = [
                copy.deepcopy(o)
                for o in self.store.objects.values()
                if wanted.items() <= (o["metadata"].get("labels") or {}).items()
            ]
            return {"items": items}
        if target.name not in self.store.objects:
            raise NotFound(404, {"message": "not found"})
        return copy.deepcopy(self.store.objects[target.name])

    async def create(self, target: refs.Ref, body: dict[str, Any]) -> Any:
        self._check()
        if body["metadata"]["name"] in self.store.objects:
            raise AlreadyExists(409, {"message": "exists"})
        return self.store.put(body)

    async def replace(self, target: refs.Ref, body: dict[str, Any]) -> Any:
        self._check()
        current = self.store.objects[target.name or ""]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict(409, {"message": "conflict"})
        return self.store.put(body)


class Listener:
    def __init__(self, last_fired: datetime | None = None) -> None:
        self.acquired_after: dict[int, datetime | None] = {}
        self.lost_shards: list[int] = []
        self.released: list[int] = []
        self.last_fired = last_fired

    def acquired(self, shard: int, fired_up_to: datetime | None) -> None:
        self.acquired_after[shard] = fired_up_to

    def lost(self, shard: int) -> None:
        self.lost_shards.append(shard)

    async def releasing(self, shard: int, grace: float) -> datetime | None:
        self.released.append(shard)
        return self.last_fired


class World:
    def __init__(self) -> None:
        self.store = LeaseStore()
        self.clock = Clock()
        self.instances: dict[str, tuple[ShardLeases, Listener]] = {}

    def start(self, name: str, last_fired: datetime | None = None) -> ShardLeases:
        shards = ShardLeases(
            Api(self.store, name), "ns", name, SETTINGS, Metrics(), self.clock.monotonic, self.clock.wall
        )
        listener = Listener(last_fired)
        shards.listener = listener
        self.instances[name] = (shards, listener)
        self.beat(name)
        return shards

    def beat(self, name: str) -> None:
        """The instance's own Lease, renewed (instance liveness is not under test here)."""
        self.store.put(
            {
                "metadata": {
                    "name": f"cronwright-op-{name}",
                    "labels": INSTANCE_LABELS,
                    "annotations": {INSTANCE_ANNOTATION: name},
                },
                "spec": {
                    "holderIdentity": name,
                    "leaseDurationSeconds": 15,
                    "renewTime": micro(self.clock.wall()),
                },
            }
        )

    async def round(self, seconds: float = SETTINGS.renew_every) -> None:
        """Every instance steps once (errors are its own), then time passes."""
        for name, (shards, _) in self.instances.items():
            if name not in self.store.down:
                self.beat(name)
            with contextlib.suppress(Unavailable):
                await shards.step()
            await asyncio.gather(*shards._handovers)
        self.assert_no_shard_held_twice()
        self.clock.now += seconds

    def assert_no_shard_held_twice(self) -> None:
        firing: dict[int, str] = {}
        for name, (shards, _) in self.instances.items():
            for shard in range(SETTINGS.shards):
                if shards.may_fire(shard, self.clock.wall()) is not Verdict.NOT_MINE:
                    assert shard not in firing, f"shard {shard} fires in {firing[shard]} and {name}"
                    firing[shard] = name


def test_a_second_instance_gets_half_the_shards_through_graceful_handovers() -> None:
    async def scenario() -> None:
        world = World()
        fired = T0 + timedelta(seconds=1)
        a = world.start("a", last_fired=fired)
        await world.round()
        assert sorted(a.held) == list(range(8))
        b = world.start("b")
        for _ in range(4):
            await world.round()
        assert len(a.held) == 4 and len(b.held) == 4
        _, listener_a = world.instances["a"]
        _, listener_b = world.instances["b"]
        assert sorted(listener_a.released) == sorted(b.held)
        # the handover lowered each watermark to the last run fired: b starts right after it
        assert set(listener_b.acquired_after.values()) == {fired}

    asyncio.run(scenario())


def test_the_watermark_written_fences_firing() -> None:
    async def scenario() -> None:
        world = World()
        a = world.start("a")
        await world.round(0)
        watermark = world.clock.wall() + timedelta(seconds=SETTINGS.window)
        assert a.may_fire(0, watermark) is Verdict.FIRE
        assert a.may_fire(0, watermark + timedelta(milliseconds=1)) is Verdict.WAIT
        world.clock.now += SETTINGS.renew_every
        await world.round(0)
        assert a.may_fire(0, watermark + timedelta(seconds=SETTINGS.renew_every)) is Verdict.FIRE

    asyncio.run(scenario())


def test_an_instance_that_cannot_renew_stops_firing_before_another_may_take_over() -> None:
    async def scenario() -> None:
        world = World()
        a = world.start("a")
        await world.round()
        world.start("b")
        world.store.down.add("a")
        cut_at = world.clock.now
        last_watermark = max(h.watermark for h in a.held.values())
        stopped_at = taken_at = None
        for _ in range(40):
            await world.round(0.5)  # also asserts no shard fires in two instances at once
            if stopped_at is None and not a.held:
                stopped_at = world.clock.now
            b_shards, listener_b = world.instances["b"]
            if taken_at is None and len(b_shards.held) == SETTINGS.shards:
                taken_at = world.clock.now
        assert stopped_at is not None and taken_at is not None
        assert stopped_at - cut_at <= SETTINGS.lease_seconds - SETTINGS.margin + 0.5
        assert taken_at - cut_at >= SETTINGS.lease_seconds
        assert set(listener_b.acquired_after.values()) == {last_watermark}

    asyncio.run(scenario())
