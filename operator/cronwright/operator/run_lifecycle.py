"""One run's life after the loop decides to start it: overlap policy, the runner, the
result handed to the result queue — and the records of runs that never ran (Skipped,
Missed, Unknown).

Nothing here waits for a status write: a result is handed to the result queue
(result_queue.py), which coalesces the pending results of one resource into one write.
The loop (scheduler.py) decides *when*; this module decides *what happens to a run*.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from cronwright.core import runs
from cronwright.core.models import (
    ConcurrencyPolicy,
    CronJobSpecSpec,
    HttpTarget,
    ObjectRef,
    RunRecord,
    RunResult,
    Trigger,
)
from cronwright.operator import planning
from cronwright.operator.book import Entry
from cronwright.operator.metrics import Metrics
from cronwright.operator.result_queue import Done, Sending
from cronwright.operator.runners import Run, Runner, plain
from cronwright.operator.secrets import SecretProblem
from cronwright.operator.status_writer import Compute


def utcnow() -> datetime:
    return datetime.now(UTC)


class Events(Protocol):
    def post(self, meta: dict[str, Any], kind: str, reason: str, message: str) -> None: ...

    def forget(self, uid: str) -> None: ...


class Results(Protocol):
    """Where results go (result_queue.ResultQueue): never awaited on the firing path."""

    def submit(self, entry: Entry, compute: Compute, kind: str, done: Done | None = None) -> None: ...

    async def flush(self, keys: Iterable[tuple[str, str]] | None = None) -> None: ...


class HttpRuns(Runner, Protocol):
    async def secret_values(
        self, namespace: str, target: HttpTarget, fresh: bool = False
    ) -> tuple[dict[str, str], bytes | None]: ...


class WorkflowRuns(Runner, Protocol):
    async def delete_replaced(self, entry: Entry, ref: ObjectRef) -> None: ...

    async def prune(self, entry: Entry, spec: CronJobSpecSpec) -> None: ...


class RunLifecycle:
    def __init__(
        self,
        results: Results,
        http: HttpRuns,
        workflow: WorkflowRuns,
        events: Events,
        metrics: Metrics,
        max_concurrent_runs: int,
        sending: Sending,
    ) -> None:
        self.sending = sending
        self.results = results
        self.http = http
        self.workflow = workflow
        self.events = events
        self.metrics = metrics
        self._slots = asyncio.Semaphore(max_concurrent_runs)

    def start(
        self,
        entry: Entry,
        due: datetime,
        trigger: Trigger,
        *,
        trigger_value: str | None = None,
        missed: int = 0,
        missed_from: datetime | None = None,
    ) -> None:
        """Start a run now under the overlap policy; returns at once."""
        spec = entry.spec
        if spec is None:
            return
        if trigger is not Trigger.manual:
            entry.last_fired = max(due, entry.last_fired or due)
        rid = runs.manual_run_id(entry.uid, trigger_value) if trigger_value else runs.run_id(entry.uid, due)
        busy = bool(entry.running) or (spec.workflow is not None and bool(entry.status.get("active")))
        if busy and spec.concurrency_policy is ConcurrencyPolicy.Forbid:
            self.record(
                entry,
                RunRecord(
                    id=rid,
                    scheduled_time=due,
                    result=RunResult.Skipped,
                    trigger=trigger,
                    error="skipped: the previous run is still running (concurrencyPolicy Forbid)",
                ),
                trigger_value=trigger_value,
                missed=missed,
            )
            return
        if entry.running and spec.concurrency_policy is ConcurrencyPolicy.Replace:
            for other_id, task in list(entry.running.items()):
                entry.replaced.add(other_id)
                task.cancel()
        self._track(entry, rid, self._run(entry, spec, due, trigger, rid, trigger_value, missed, missed_from))

    def resume_followers(self, entry: Entry, spec: CronJobSpecSpec) -> None:
        """Run objects listed in status.active when this operator took the resource over
        were started by a former holder: follow them again, so their results are recorded."""
        for raw in entry.status.get("active") or []:
            ref = ObjectRef.model_validate(raw)
            if ref.run_id is None or ref.run_id in entry.running:
                continue
            entry.objects[ref.run_id] = ref
            entry.listed.add(ref.run_id)
            due = ref.scheduled_time or utcnow()
            self._track(
                entry,
                ref.run_id,
                self._run(entry, spec, due, ref.trigger or Trigger.schedule, ref.run_id, None, 0, None),
            )

    def _track(self, entry: Entry, rid: str, coro: Any) -> None:
        task = asyncio.create_task(coro)
        entry.running[rid] = task
        task.add_done_callback(lambda _: entry.running.pop(rid, None))

    async def _run(
        self,
        entry: Entry,
        spec: CronJobSpecSpec,
        due: datetime,
        trigger: Trigger,
        rid: str,
        trigger_value: str | None,
        missed: int,
        missed_from: datetime | None,
    ) -> None:
        start = utcnow()
        try:
            if spec.workflow is not None:
                # No run slot: a workflow run waits on its object for hours, the slots are
                # for requests in flight.
                with self._in_flight():
                    outcome = await self.workflow.run(
                        Run(entry, spec, due, trigger, rid, trigger_value, start)
                    )
                if outcome is None:
                    return
                record = outcome
            else:
                with self.sending.held():
                    async with self._slots:
                        start = utcnow()  # skew and deadline count the wait for a free run slot
                        with self._in_flight():
                            record = await self.http.run(
                                Run(entry, spec, due, trigger, rid, trigger_value, start)
                            )
        except asyncio.CancelledError:
            if rid not in entry.replaced:
                raise
            record = await self._replaced(entry, rid, due, start, trigger)
        if missed and missed_from is not None and record.error is None:
            record.error = f"catch-up run; {missed} earlier run(s) missed from {runs.rfc3339(missed_from)}"
        self.record(entry, record, trigger_value=trigger_value, missed=missed, spec=spec)

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.metrics.in_flight.dec()

    async def _replaced(
        self, entry: Entry, rid: str, due: datetime, start: datetime, trigger: Trigger
    ) -> RunRecord:
        entry.replaced.discard(rid)
        ref = entry.objects.pop(rid, None)
        if ref is not None:
            await self.workflow.delete_replaced(entry, ref)
        finish = utcnow()
        return RunRecord(
            id=rid,
            scheduled_time=due,
            start_time=start,
            finish_time=finish,
            duration_ms=int((finish - start).total_seconds() * 1000),
            result=RunResult.Cancelled,
            trigger=trigger,
            error="cancelled: replaced by a newer run (concurrencyPolicy Replace)",
            object=plain(ref) if ref is not None else None,
        )

    # -- records -------------------------------------------------------------------------

    def record(
        self,
        entry: Entry,
        record: RunRecord,
        *,
        trigger_value: str | None = None,
        missed: int = 0,
        unknown: int = 0,
        spec: CronJobSpecSpec | None = None,
        event: tuple[str, str] | None = None,
        of_a_run: bool = True,
    ) -> None:
        """Hand a run's record to the result queue; metrics and the Event follow its write.
        `missed`/`unknown`: further scheduled times of that kind counted with this record.
        Only a run's own record (`of_a_run`) carries the bad content that run ran into."""
        spec = spec or entry.spec
        if spec is None:
            return
        content = None
        if of_a_run:
            content, entry.run_problem = entry.run_problem, None
        problem = content.problem if content is not None else None
        listed = record.id in entry.listed
        entry.listed.discard(record.id)

        def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
            status = obj.get("status") or {}
            if listed and record.object is not None and not planning.is_active(status, record.object.name):
                return None  # another follower of this run object recorded its result
            return planning.record_patch(
                status,
                record,
                # the spec as it is now: a pause (or a new historyLimit) that arrived while
                # the run was in flight must not be undone by this run's result write
                spec=entry.spec or spec,
                generation=int(obj["metadata"].get("generation", 1)),
                next_due=entry.next_due,
                now=utcnow(),
                missed=missed,
                unknown=unknown,
                trigger_value=trigger_value,
                problem=problem,
            )

        def done(written: bool) -> None:
            if not written:
                return
            if of_a_run:
                entry.secret_problem = problem if isinstance(content, SecretProblem) else None
            self.metrics.runs.labels(result=str(record.result), trigger=str(record.trigger)).inc()
            if record.duration_ms is not None:
                self.metrics.run_duration.observe(record.duration_ms / 1000)
            if record.object is not None:
                asyncio.get_running_loop().create_task(self.workflow.prune(entry, entry.spec or spec))
            if event is not None:
                self.events.post(entry.meta, "Warning", event[0], event[1])
            elif record.result is RunResult.Succeeded:
                self.events.post(entry.meta, "Normal", "RunSucceeded", _run_message(record))
            else:
                self.events.post(entry.meta, "Warning", f"Run{record.result}", _run_message(record))

        self.results.submit(entry, compute, "result", done)

    def record_missed(self, entry: Entry, missed: int, since: datetime | None, now: datetime) -> None:
        record = RunRecord(
            id=runs.run_id(entry.uid, since or now, "missed"),
            scheduled_time=since,
            result=RunResult.Missed,
            error=f"{missed} scheduled run(s) missed while no operator was running"
            + (f", from {runs.rfc3339(since)}" if since else ""),
        )
        self.record(
            entry, record, missed=missed - 1, event=("RunsMissed", record.error or ""), of_a_run=False
        )

    def record_unknown(self, entry: Entry, times: list[datetime], more: int, fired_up_to: datetime) -> None:
        """Scheduled times a former holder may have fired (at or before its watermark) whose
        result never reached status: recorded Unknown, never fired again."""
        for index, moment in enumerate(times):
            extra = more if index == len(times) - 1 else 0
            record = RunRecord(
                id=runs.run_id(entry.uid, moment),
                scheduled_time=moment,
                result=RunResult.Unknown,
                trigger=Trigger.schedule,
                error="outcome unknown: the operator that held this run's shard stopped before "
                f"recording it (its window reached {runs.rfc3339(fired_up_to)}); not fired again",
            )
            self.record(
                entry, record, unknown=extra, event=("RunOutcomeUnknown", record.error or ""), of_a_run=False
            )


def _run_message(record: RunRecord) -> str:
    parts = [f"run {record.id} ({record.trigger})", str(record.result)]
    if record.response_code is not None:
        parts.append(f"HTTP {record.response_code}")
    if record.duration_ms is not None:
        parts.append(f"{record.duration_ms} ms")
    if record.error:
        parts.append(record.error)
    return ": ".join(parts[:2]) + (", " + ", ".join(parts[2:]) if len(parts) > 2 else "")
