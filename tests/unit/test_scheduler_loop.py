"""The scheduler loop without a control plane: fakes behind its named parts (writer,
runners, shards, events), the real result queue, real time, schedules a few seconds long.

The fake writer keeps one object per resource and applies each patch as the API server
applies a merge patch, so the loop sees its own writes come back as it would in a cluster.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from cronwright.core.models import CronJobSpecSpec, HttpTarget, ObjectRef, RunRecord, RunResult, Schedule
from cronwright.core.runs import parse_time, rfc3339
from cronwright.core.schedule import iter_fire_times
from cronwright.operator.book import Entry
from cronwright.operator.metrics import Metrics
from cronwright.operator.planning import apply_merge_patch
from cronwright.operator.result_queue import ResultQueue, Sending
from cronwright.operator.runners import Run
from cronwright.operator.scheduler import Parts, Scheduler, Settings
from cronwright.operator.shard_leases import Verdict
from cronwright.operator.status_writer import Compute

KEY = ("team", "job")


class FakeApi:
    """Status writes against one in-memory copy per resource."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
        obj = {
            "metadata": {
                "namespace": KEY[0],
                "name": KEY[1],
                "uid": "uid-1",
                "resourceVersion": "1",
                "generation": 1,
                "creationTimestamp": rfc3339(datetime.now(UTC) - timedelta(hours=1)),
            },
            "spec": spec,
            "status": status or {},
        }
        self.objects[KEY] = obj
        return copy.deepcopy(obj)

    async def write(self, entry: Entry, compute: Compute, kind: str) -> dict[str, Any] | None:
        obj = self.objects[entry.key]
        patch = compute(copy.deepcopy(obj))
        if patch is None:
            return None
        obj["status"] = apply_merge_patch(obj["status"], patch)
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        entry.observe(copy.deepcopy(obj))
        return copy.deepcopy(obj)


class FakeHttp:
    """Records each run it is handed and succeeds at once."""

    def __init__(self) -> None:
        self.runs: list[Run] = []

    async def run(self, run: Run) -> RunRecord:
        self.runs.append(run)
        now = datetime.now(UTC)
        return RunRecord(
            id=run.rid,
            scheduled_time=run.due,
            start_time=now,
            finish_time=now,
            result=RunResult.Succeeded,
            trigger=run.trigger,
            response_code=200,
        )

    async def secret_values(
        self, namespace: str, target: HttpTarget, fresh: bool = False
    ) -> tuple[dict[str, str], bytes | None]:
        return {}, None


class NoWorkflows:
    async def run(self, run: Run) -> RunRecord | None:
        raise AssertionError("no workflow target in these tests")

    async def delete_replaced(self, entry: Entry, ref: ObjectRef) -> None:
        raise AssertionError("no workflow target in these tests")

    async def prune(self, entry: Entry, spec: CronJobSpecSpec) -> None:
        raise AssertionError("no workflow target in these tests")


class Shards:
    """One shard, held or not, with a watermark the test moves."""

    def __init__(self, watermark: datetime | None) -> None:
        self.held = True
        self.watermark = watermark

    def shard_of(self, uid: str) -> int:
        return 0

    def may_fire(self, shard: int, scheduled: datetime) -> Verdict:
        if not self.held:
            return Verdict.NOT_MINE
        if self.watermark is None or scheduled > self.watermark:
            return Verdict.WAIT
        return Verdict.FIRE


class Events:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str]] = []

    def post(self, meta: dict[str, Any], kind: str, reason: str, message: str) -> None:
        self.posted.append((kind, reason))

    def forget(self, uid: str) -> None:
        pass


FAR = datetime(2100, 1, 1, tzinfo=UTC)
LOOPS: dict[Scheduler, asyncio.Task[None]] = {}


async def started(api: FakeApi, shards: Shards, http: FakeHttp) -> Scheduler:
    parts = Parts(
        writer=api,
        results=ResultQueue(api, Metrics()),
        sending=Sending(),
        http=http,
        workflow=NoWorkflows(),
        shards=shards,
        events=Events(),
        metrics=Metrics(),
    )
    scheduler = Scheduler(parts, Settings())
    LOOPS[scheduler] = asyncio.create_task(scheduler.run())
    return scheduler


async def stopped(scheduler: Scheduler) -> None:
    LOOPS.pop(scheduler).cancel()
    await scheduler.shutdown()
    await scheduler.results.flush()


def run_for(
    api: FakeApi, obj: dict[str, Any], seconds: float, fired_up_to: datetime | None = None
) -> FakeHttp:
    http = FakeHttp()

    async def scenario() -> None:
        scheduler = await started(api, Shards(FAR), http)
        scheduler.observe("ADDED", obj)
        scheduler.acquired(0, fired_up_to)
        await asyncio.sleep(seconds)
        await stopped(scheduler)

    asyncio.run(scenario())
    return http


def every_second(api: FakeApi, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return api.add({"schedule": {"every": "1s"}, "http": {"url": "http://127.0.0.1:9/x"}}, status)


def test_each_scheduled_time_runs_once_in_order_and_lands_in_history() -> None:
    api = FakeApi()
    http = run_for(api, every_second(api), 3.5)

    due = [run.due for run in http.runs]
    assert len(due) >= 2
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(due))
    history = api.objects[KEY]["status"]["history"]
    recorded = sorted(parse_time(h["scheduledTime"]) for h in history)
    # every run handed out is recorded once, but one cancelled in flight when the loop stopped
    assert len(set(recorded)) == len(recorded) and set(recorded) <= set(due)
    assert len(recorded) >= len(due) - 1
    assert {h["result"] for h in history} == {"Succeeded"}


def test_nothing_fires_in_a_shard_not_held() -> None:
    api = FakeApi()
    http = FakeHttp()

    async def scenario() -> None:
        scheduler = await started(api, Shards(FAR), http)
        scheduler.observe("ADDED", every_second(api))  # its shard is not taken
        await asyncio.sleep(2.5)
        await stopped(scheduler)

    asyncio.run(scenario())
    assert http.runs == []
    assert api.objects[KEY]["status"] == {}, "only the holder writes a resource's status"


def test_a_run_past_the_watermark_waits_for_it_and_fires_once() -> None:
    api = FakeApi()
    http = FakeHttp()
    shards = Shards(watermark=None)

    async def scenario() -> datetime:
        scheduler = await started(api, shards, http)
        scheduler.observe("ADDED", every_second(api))
        scheduler.acquired(0, None)
        await asyncio.sleep(2.5)
        assert http.runs == [], "no watermark written: nothing may fire"
        opened = datetime.now(UTC)
        shards.watermark = FAR
        await asyncio.sleep(1.5)
        await stopped(scheduler)
        return opened

    opened = asyncio.run(scenario())
    due = [run.due for run in http.runs]
    assert due and due[0] <= opened, "the run that waited fires when the watermark reaches it"
    assert len(due) == len(set(due))


def test_a_lost_shard_stops_firing_at_once() -> None:
    api = FakeApi()
    http = FakeHttp()
    shards = Shards(FAR)

    async def scenario() -> int:
        scheduler = await started(api, shards, http)
        scheduler.observe("ADDED", every_second(api))
        scheduler.acquired(0, None)
        await asyncio.sleep(2.2)
        shards.held = False
        scheduler.lost(0)
        fired = len(http.runs)
        await asyncio.sleep(2.0)
        await stopped(scheduler)
        return fired

    fired = asyncio.run(scenario())
    assert fired >= 1
    assert len(http.runs) == fired


def test_a_takeover_records_what_the_former_holder_left_unknown_and_fires_only_after_it() -> None:
    api = FakeApi()
    now = datetime.now(UTC).replace(microsecond=0)
    last = now - timedelta(seconds=3)
    watermark = now + timedelta(seconds=2)
    obj = every_second(api, {"lastScheduleTime": rfc3339(last), "observedGeneration": 1})
    http = run_for(api, obj, (watermark - datetime.now(UTC)).total_seconds() + 2.5, fired_up_to=watermark)

    assert http.runs and min(run.due for run in http.runs) > watermark
    history = api.objects[KEY]["status"]["history"]
    unknown = sorted(parse_time(h["scheduledTime"]) for h in history if h["result"] == "Unknown")
    created = parse_time(obj["metadata"]["creationTimestamp"])
    assert created is not None
    expected = list(
        itertools.takewhile(lambda t: t <= watermark, iter_fire_times(Schedule(every="1s"), last, created))
    )
    assert len(expected) == 5 and unknown == expected
    assert api.objects[KEY]["status"]["counters"]["unknown"] == 5


def test_a_graceful_release_lets_runs_finish_and_writes_them_before_returning() -> None:
    api = FakeApi()
    http = FakeHttp()

    async def scenario() -> tuple[datetime | None, int]:
        scheduler = await started(api, Shards(FAR), http)
        scheduler.observe("ADDED", every_second(api))
        scheduler.acquired(0, None)
        await asyncio.sleep(2.5)
        last = await scheduler.releasing(0, grace=5)
        recorded = len(api.objects[KEY]["status"]["history"])
        await asyncio.sleep(1.5)
        await stopped(scheduler)
        return last, recorded

    last, recorded = asyncio.run(scenario())
    assert last == max(run.due for run in http.runs)
    assert recorded == len(http.runs), "every run fired was recorded before the release returned"
