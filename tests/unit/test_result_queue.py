"""The result queue against an in-memory writer: results coalesce, yet the status is exactly
what one write per result would have made; the firing path never waits; nothing is lost.

The fake writer applies merge patches to one status per resource, as the API server does,
and can be slow (a number of loop turns, or a gate), can have another writer change the
status between compute and write (a Conflict: compute runs again on the fresh copy), can
fail with an ApiError and can find the resource deleted.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronwright.core.kube import Unavailable
from cronwright.core.models import CronJobSpecSpec, RunRecord, RunResult
from cronwright.core.runs import run_id
from cronwright.operator import result_queue
from cronwright.operator.book import Entry
from cronwright.operator.metrics import Metrics
from cronwright.operator.planning import apply_merge_patch, record_patch
from cronwright.operator.result_queue import ResultQueue, Sending, compose
from cronwright.operator.status_writer import Compute, Gone

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
SPEC = CronJobSpecSpec.model_validate(
    {"schedule": {"every": "10s"}, "http": {"url": "http://127.0.0.1:1/"}, "historyLimit": 3}
)


def entry(name: str = "job") -> Entry:
    return Entry.of(
        {
            "metadata": {"namespace": "team", "name": name, "uid": f"uid-{name}", "resourceVersion": "1"},
            "spec": {},
        }
    )


class FakeWriter:
    """Merge patches against one in-memory status per resource."""

    def __init__(self) -> None:
        self.status: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes = 0  # patches applied
        self.calls = 0
        self.call_times: list[float] = []
        self.turns = 0  # loop turns each write takes
        self.gates: dict[tuple[str, str], asyncio.Event] = {}
        self.conflicts = 0  # writes whose first compute loses to another writer
        self.failures = 0  # writes that fail with Unavailable
        self.gone: set[tuple[str, str]] = set()

    async def write(self, entry: Entry, compute: Compute, kind: str) -> dict[str, Any] | None:
        self.calls += 1
        self.call_times.append(time.monotonic())
        if entry.key in self.gates:
            await self.gates[entry.key].wait()
        for _ in range(self.turns):
            await asyncio.sleep(0)
        if entry.key in self.gone:
            raise Gone
        if self.failures:
            self.failures -= 1
            raise Unavailable(503, {"reason": "ServiceUnavailable", "message": "body had s3cr3t"})
        while True:
            status = self.status.setdefault(entry.key, {})
            patch = compute({"metadata": {"generation": 1}, "status": copy.deepcopy(status)})
            if not self.conflicts:
                break
            self.conflicts -= 1  # another writer got there first: compute again
            self.status[entry.key] = {**status, "foreign": self.conflicts}
        if patch is None:
            return None
        self.status[entry.key] = apply_merge_patch(status, patch)
        self.writes += 1
        return {"status": copy.deepcopy(self.status[entry.key])}


def record(i: int, result: RunResult, offset: int) -> RunRecord:
    """Succeeded runs answer a body, failed ones an error: lastRun keys come and go."""
    due = T0 + timedelta(seconds=offset)
    extra: dict[str, Any] = (
        {"response_code": 200, "response_body": {"n": i, "ok": True}}
        if result is RunResult.Succeeded
        else {"error": f"run {i} {result}"}
    )
    return RunRecord(
        id=run_id("uid", due, str(i)),
        scheduled_time=due,
        start_time=due,
        finish_time=due,
        result=result,
        attempts=1,
        **extra,
    )


def result_compute(run: RunRecord, next_due: int) -> Compute:
    return lambda obj: record_patch(
        obj["status"], run, spec=SPEC, generation=1, next_due=T0 + timedelta(seconds=next_due), now=T0
    )


def one_by_one(status: dict[str, Any], computes: list[Compute]) -> dict[str, Any]:
    for compute in computes:
        patch = compute({"metadata": {"generation": 1}, "status": copy.deepcopy(status)})
        if patch is not None:
            status = apply_merge_patch(status, patch)
    return status


def sample(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name)


# -- exact, coalesced ------------------------------------------------------------------

runs = st.lists(
    st.tuples(
        st.sampled_from([RunResult.Succeeded, RunResult.Failed, RunResult.Skipped]),
        st.integers(min_value=0, max_value=100),  # scheduled time, not in order
        st.integers(min_value=0, max_value=3),  # loop turns before the next submit
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(
    runs=runs, turns=st.integers(min_value=0, max_value=4), slow=st.booleans(), conflicts=st.integers(0, 3)
)
def test_coalesced_status_is_exactly_one_write_per_result(
    runs: list[tuple[RunResult, int, int]], turns: int, slow: bool, conflicts: int
) -> None:
    job = entry()
    computes = [
        result_compute(record(i, result, offset), offset + 10) for i, (result, offset, _) in enumerate(runs)
    ]
    expected = one_by_one({}, computes)
    writer = FakeWriter()
    writer.turns, writer.conflicts = turns, conflicts
    done: list[bool] = []

    async def scenario() -> None:
        queue = ResultQueue(writer, Metrics())
        gate = writer.gates[job.key] = asyncio.Event()
        if not slow:
            gate.set()
        for compute, (_, _, pause) in zip(computes, runs, strict=True):
            queue.submit(job, compute, "result", done.append)
            for _ in range(pause):
                await asyncio.sleep(0)
        gate.set()
        await queue.flush()
        assert queue.backlog == 0

    asyncio.run(scenario())
    final = {k: v for k, v in writer.status[job.key].items() if k != "foreign"}
    assert final == expected
    assert done == [True] * len(runs)
    assert writer.writes <= len(runs)
    if slow and len(runs) >= 3:
        assert writer.writes <= 2 < len(runs)  # the first write, then all the rest as one


def test_compose_names_lastrun_keys_that_disappear() -> None:
    ok = result_compute(record(0, RunResult.Succeeded, 0), 10)
    failed = result_compute(record(1, RunResult.Failed, 10), 20)
    start = one_by_one({}, [result_compute(record(9, RunResult.Succeeded, -10), 0)])
    composed = compose([ok, failed])
    patch = composed({"metadata": {"generation": 1}, "status": copy.deepcopy(start)})
    assert patch is not None
    assert patch["lastRun"]["responseCode"] is None and patch["lastRun"]["responseBody"] is None
    assert apply_merge_patch(start, patch) == one_by_one(start, [ok, failed])
    assert composed.produced == [True, True]


def test_compose_reports_the_last_invocation_and_none_when_nothing_changes() -> None:
    def once(obj: dict[str, Any]) -> dict[str, Any] | None:
        return None if obj["status"].get("foreign") is not None else {"recorded": True}

    composed = compose([once, lambda obj: None])
    assert composed({"status": {}}) == {"recorded": True}
    assert composed.produced == [True, False]
    assert composed({"status": {"foreign": 1}}) is None
    assert composed.produced == [False, False]
    same = compose([lambda obj: {"a": 1}])
    assert same({"status": {"a": 1}}) is None and same.produced == [True]


def test_a_conflict_that_records_the_result_elsewhere_reports_not_produced() -> None:
    writer = FakeWriter()
    writer.conflicts = 1
    job = entry()
    done: list[bool] = []

    def once(obj: dict[str, Any]) -> dict[str, Any] | None:
        return None if "foreign" in obj["status"] else {"recorded": True}

    async def scenario() -> None:
        queue = ResultQueue(writer, Metrics())
        queue.submit(job, once, "result", done.append)
        await queue.flush()

    asyncio.run(scenario())
    assert done == [False] and writer.writes == 0


# -- the firing path never waits --------------------------------------------------------


def test_a_thousand_submits_return_while_the_writer_is_blocked() -> None:
    assert not inspect.iscoroutinefunction(ResultQueue.submit)
    writer = FakeWriter()
    job = entry()
    metrics = Metrics()
    done: list[bool] = []
    computes = [result_compute(record(i, RunResult.Succeeded, i), i + 10) for i in range(1000)]

    async def scenario() -> None:
        queue = ResultQueue(writer, metrics)
        gate = writer.gates[job.key] = asyncio.Event()
        queue.submit(job, computes[0], "result", done.append)
        await asyncio.sleep(0)  # the first write starts and blocks
        started = time.perf_counter()
        for compute in computes[1:]:
            assert queue.submit(job, compute, "result", done.append) is None
        assert time.perf_counter() - started < 1.0
        assert queue.backlog == 1000 and sample(metrics, "cronwright_status_backlog") == 1000
        assert writer.calls == 1 and not done
        gate.set()
        await queue.flush()

    asyncio.run(scenario())
    assert writer.writes == 2 and done == [True] * 1000
    assert writer.status[job.key] == one_by_one({}, computes)
    assert sample(metrics, "cronwright_status_backlog") == 0
    assert sample(metrics, "cronwright_status_lag_seconds_count") == 1000


# -- failures, Gone, flush, close ---------------------------------------------------------


def test_failed_writes_are_retried_with_backoff_and_nothing_is_lost(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(result_queue, "BACKOFF_FIRST", 0.01)
    monkeypatch.setattr(result_queue, "BACKOFF_MAX", 0.04)
    writer = FakeWriter()
    writer.failures = 5
    job = entry()
    done: list[bool] = []
    computes = [result_compute(record(i, RunResult.Failed, i), i + 10) for i in range(6)]

    async def scenario() -> None:
        queue = ResultQueue(writer, Metrics())
        for compute in computes[:3]:
            queue.submit(job, compute, "result", done.append)
        await asyncio.sleep(0.02)  # failing and backing off meanwhile
        for compute in computes[3:]:
            queue.submit(job, compute, "result", done.append)
        await queue.flush()

    with caplog.at_level(logging.WARNING, logger=result_queue.__name__):
        asyncio.run(scenario())
    assert writer.status[job.key] == one_by_one({}, computes)
    assert done == [True] * 6 and writer.writes == 1 and writer.calls == 6
    gaps = [b - a for a, b in zip(writer.call_times, writer.call_times[1:], strict=False)]
    for gap, wanted in zip(gaps, [0.01, 0.02, 0.04, 0.04, 0.04], strict=True):
        assert wanted * 0.9 <= gap < wanted + 0.5
    assert "team/job" in caplog.text and "503" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_gone_drops_the_results_of_that_entry_only() -> None:
    writer = FakeWriter()
    old, new = entry(), entry()  # deleted, then created again under the same name
    writer.gone.add(old.key)
    metrics = Metrics()
    done: list[tuple[str, bool]] = []

    async def scenario() -> None:
        queue = ResultQueue(writer, metrics)
        for i in range(3):
            queue.submit(
                old, lambda obj: {"n": 1}, "result", lambda made, i=i: done.append((f"old{i}", made))
            )
        await asyncio.sleep(0)
        queue.submit(new, lambda obj: {"n": 2}, "result", lambda made: done.append(("new", made)))
        await queue.flush([old.key])
        assert done == [("old0", False), ("old1", False), ("old2", False), ("new", False)]
        assert queue.backlog == 0

    asyncio.run(scenario())
    assert sample(metrics, "cronwright_status_lag_seconds_count") == 0
    assert writer.calls == 2  # the new entry's result had its own write (and found it gone)


def test_flush_waits_for_the_given_entries_only() -> None:
    writer = FakeWriter()
    a, b = entry("a"), entry("b")
    written: list[str] = []

    async def scenario() -> None:
        queue = ResultQueue(writer, Metrics())
        gate = writer.gates[a.key] = asyncio.Event()
        queue.submit(a, lambda obj: {"x": 1}, "result", lambda made: written.append("a"))
        queue.submit(b, lambda obj: {"x": 2}, "result", lambda made: written.append("b"))
        await asyncio.wait_for(queue.flush([b.key]), 1)
        assert written == ["b"]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(queue.flush([a.key]), 0.05)
        assert queue.backlog == 1  # the cancelled wait cancelled no write
        gate.set()
        await asyncio.wait_for(queue.flush(), 1)
        assert written == ["b", "a"]

    asyncio.run(scenario())
    assert writer.status[a.key] == {"x": 1}


def test_close_stops_the_drain_tasks_and_keeps_what_is_pending() -> None:
    writer = FakeWriter()
    job = entry()

    async def scenario() -> None:
        queue = ResultQueue(writer, Metrics())
        writer.gates[job.key] = asyncio.Event()
        queue.submit(job, lambda obj: {"x": 1}, "result")
        await asyncio.sleep(0)
        await queue.close()
        assert queue.backlog == 1
        await asyncio.wait_for(queue.flush(), 1)  # no task left to wait for

    asyncio.run(scenario())


def test_a_failing_done_callback_does_not_stop_the_drain() -> None:
    writer = FakeWriter()
    job = entry()
    done: list[bool] = []

    async def scenario() -> None:
        queue = ResultQueue(writer, Metrics())
        queue.submit(job, lambda obj: {"x": 1}, "result", lambda made: 1 / 0)
        await queue.flush()
        queue.submit(job, lambda obj: {"y": 1}, "result", done.append)
        await queue.flush()

    asyncio.run(scenario())
    assert done == [True] and writer.status[job.key] == {"x": 1, "y": 1}


# -- apply_merge_patch --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),  # null removes
        ({"a": 1}, {"missing": None}, {"a": 1}),  # removing what is not there
        ({"a": {"b": 1, "c": 2}}, {"a": {"c": None, "d": 3}}, {"a": {"b": 1, "d": 3}}),  # nested
        ({"a": {"b": 1}}, {"a": {"b": {"c": None}}}, {"a": {"b": {}}}),  # object replaces a value
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),  # lists are replaced whole
        ({"a": [{"b": 1}]}, {"a": [{"b": None}]}, {"a": [{"b": None}]}),  # nulls in lists stay
        ({"a": 1}, {}, {"a": 1}),
        ({"a": 1}, ["x"], ["x"]),  # a non-object patch replaces
        ("text", {"a": {"b": 1}}, {"a": {"b": 1}}),
        (None, {"a": None}, {}),
    ],
)
def test_apply_merge_patch(target: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy((target, patch))
    assert apply_merge_patch(target, patch) == result
    assert (target, patch) == before  # inputs untouched


def test_result_writes_yield_to_runs_being_sent_for_a_bounded_while() -> None:
    writer = FakeWriter()
    job = entry()
    computes = [result_compute(record(i, RunResult.Succeeded, i), i + 10) for i in range(2)]

    async def scenario() -> None:
        sending = Sending(longest=0.5)
        queue = ResultQueue(writer, Metrics(), sending)
        with sending.held():
            queue.submit(job, computes[0], "result")
            await asyncio.sleep(0.2)
            assert writer.calls == 0, "no write while a run is being sent"
            await asyncio.sleep(0.5)
            assert writer.calls == 1, "but not longer than `longest`"
        queue.submit(job, computes[1], "result")
        await asyncio.sleep(0.05)
        assert writer.calls == 2, "nothing being sent: written at once"
        await queue.flush()

    asyncio.run(scenario())
