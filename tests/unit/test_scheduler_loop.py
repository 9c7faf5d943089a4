"""The scheduler loop without a control plane: fakes behind its named parts (writer,
runners, liveness, events), real time, schedules a few seconds long.

The fake writer keeps one object per resource and applies each patch as the API server
applies a merge patch, so the loop sees its own writes come back as it would in a cluster.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from cronwright.core.models import CronJobSpecSpec, HttpTarget, ObjectRef, RunRecord, RunResult
from cronwright.core.runs import parse_time, rfc3339
from cronwright.operator.book import Entry
from cronwright.operator.metrics import Metrics
from cronwright.operator.runners import Run
from cronwright.operator.scheduler import Parts, Scheduler, Settings
from cronwright.operator.status_writer import Compute
from tests.support.merge_patch import apply_merge_patch

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


class Instances:
    def __init__(self, alive: set[str]) -> None:
        self.alive = alive

    async def is_alive(self, instance: str) -> bool:
        return instance in self.alive


class Events:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str]] = []

    def post(self, meta: dict[str, Any], kind: str, reason: str, message: str) -> None:
        self.posted.append((kind, reason))

    def forget(self, uid: str) -> None:
        pass


def run_for(
    api: FakeApi, obj: dict[str, Any], seconds: float, alive: set[str], claim_ahead: float
) -> FakeHttp:
    http = FakeHttp()
    parts = Parts(
        writer=api,
        http=http,
        workflow=NoWorkflows(),
        liveness=Instances(alive),
        events=Events(),
        metrics=Metrics(),
    )

    async def scenario() -> None:
        scheduler = Scheduler(parts, Settings(instance="me", claim_ahead=claim_ahead))
        loop = asyncio.create_task(scheduler.run())
        scheduler.observe("ADDED", obj)
        await asyncio.sleep(seconds)
        loop.cancel()
        await scheduler.shutdown()

    asyncio.run(scenario())
    return http


def test_each_scheduled_time_runs_once_in_order_and_lands_in_history() -> None:
    api = FakeApi()
    obj = api.add({"schedule": {"every": "1s"}, "http": {"url": "http://127.0.0.1:9/x"}})
    http = run_for(api, obj, 3.5, alive=set(), claim_ahead=0.5)

    due = [run.due for run in http.runs]
    assert len(due) >= 2
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(due))
    history = api.objects[KEY]["status"]["history"]
    recorded = sorted(parse_time(h["scheduledTime"]) for h in history)
    # every run handed out is recorded once, but one still in flight when the loop stopped
    assert len(set(recorded)) == len(recorded) and set(recorded) <= set(due)
    assert len(recorded) >= len(due) - 1
    assert {h["result"] for h in history} == {"Succeeded"}


def test_a_live_rivals_claim_is_left_to_it_and_a_dead_ones_taken_over() -> None:
    def one_shot(alive: set[str]) -> tuple[list[Run], datetime]:
        api = FakeApi()
        at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0) + timedelta(seconds=1)
        claim = {"scheduledTime": rfc3339(at), "runId": "r", "holder": "rival"}
        obj = api.add(
            {"schedule": {"at": rfc3339(at)}, "http": {"url": "http://127.0.0.1:9/x"}}, {"claim": claim}
        )
        http = run_for(api, obj, (at - datetime.now(UTC)).total_seconds() + 1.0, alive, claim_ahead=5)
        return http.runs, at

    left, _ = one_shot(alive={"rival"})
    assert left == []
    taken_over, at = one_shot(alive=set())
    assert [run.due for run in taken_over] == [at]
