"""The one loop that fires every run on time, from memory, for the shards it holds.

Watch events (from kopf) keep the book current (book.py). One loop sleeps until the
earliest run due in the due queue (due_queue.py) and starts it (run_lifecycle.py) if the
shard Leases (shard_leases.py) say this instance holds the run's shard and has written a
watermark at or after it; results go to the result queue (result_queue.py), which writes
them later, coalesced. So firing never waits for the API server. Nothing here is a
per-resource timer or daemon: 10,000 resources cost 10,000 book entries and one heap.

The scheduler is the shard Leases' listener: it plans a shard's resources when the shard
is taken (nothing at or before the former holder's watermark fires again; what it left
unrecorded is recorded Unknown), stops them when it is lost, and lets their runs finish
before a graceful handover. docs/operator.md states the delivery guarantee.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cronwright.core import runs
from cronwright.core import schedule as schedule_math
from cronwright.core.kube import ApiError, Kube
from cronwright.core.models import CronJobSpecSpec, HttpTarget, Phase, Trigger
from cronwright.core.version import VERSION
from cronwright.operator import http_executor, planning, workflow_objects
from cronwright.operator.book import Entry
from cronwright.operator.due_queue import Due, DueQueue
from cronwright.operator.events import EventRecorder
from cronwright.operator.http_runner import HttpRunner
from cronwright.operator.metrics import Metrics
from cronwright.operator.planning import Problem
from cronwright.operator.result_queue import ResultQueue, Sending
from cronwright.operator.run_lifecycle import Events, HttpRuns, Results, RunLifecycle, WorkflowRuns
from cronwright.operator.secrets import SecretCache
from cronwright.operator.shard_leases import Verdict
from cronwright.operator.status_writer import Gone, StatusWriter, Writer
from cronwright.operator.workflow_runner import WorkflowRunner
from cronwright.operator.workflow_runs import RunObjects

log = logging.getLogger(__name__)

FIRE = "fire"
CATCH_UP = "catch-up"
#: How soon a run is looked at again when its shard's watermark does not reach it yet.
WAIT_FOR_WATERMARK = 0.2


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Settings:
    max_concurrent_runs: int = 128  # = the HTTP client's connections (http_executor.make_client)
    max_concurrent_writes: int = 16  # = the API client's connections: more would only queue there
    #: The longest a shard takes to change hands (shard_leases.ShardSettings): scheduled
    #: times that came due after the former holder's watermark within it fire late.
    takeover_horizon: float = 21.0
    version: str = VERSION


class Shards(Protocol):
    """Which shards this instance holds (shard_leases.ShardLeases; a fake in unit tests)."""

    def shard_of(self, uid: str) -> int: ...

    def may_fire(self, shard: int, scheduled: datetime) -> Verdict: ...


@dataclass(frozen=True)
class Parts:
    """What the loop talks to, each behind a small interface: the real ones come from
    `Parts.on_kube`, tests/unit/test_scheduler_loop.py gives it fakes."""

    writer: Writer
    results: Results
    #: Held while runs are sent; the result queue's writes yield to it.
    sending: Sending
    http: HttpRuns
    workflow: WorkflowRuns
    shards: Shards
    events: Events
    metrics: Metrics

    @classmethod
    def on_kube(
        cls,
        kube: Kube,
        http: http_executor.Client,
        shards: Shards,
        events: EventRecorder,
        metrics: Metrics,
        settings: Settings,
    ) -> Parts:
        writer = StatusWriter(kube, metrics, settings.max_concurrent_writes)
        sending = Sending()
        return cls(
            writer=writer,
            results=ResultQueue(writer, metrics, sending),
            sending=sending,
            http=HttpRunner(http, SecretCache(kube), events, metrics, settings.version),
            workflow=WorkflowRunner(RunObjects(kube), writer, events, metrics),
            shards=shards,
            events=events,
            metrics=metrics,
        )


class Scheduler:
    def __init__(self, parts: Parts, settings: Settings) -> None:
        self.writer = parts.writer
        self.results = parts.results
        self.shards = parts.shards
        self.events = parts.events
        self.metrics = parts.metrics
        self.settings = settings
        self.runs = RunLifecycle(
            parts.results,
            parts.http,
            parts.workflow,
            parts.events,
            parts.metrics,
            settings.max_concurrent_runs,
            parts.sending,
        )
        self.book: dict[tuple[str, str], Entry] = {}
        self.queue = DueQueue()
        #: The shards held, each with the watermark of the holder before us.
        self._held: dict[int, datetime | None] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.heartbeat = time.monotonic()

    def owns(self, entry: Entry) -> bool:
        return entry.shard in self._held

    def owned(self) -> Iterator[Entry]:
        """The entries of the shards held: the heartbeat check and the Secret re-check
        judge these only."""
        return (entry for entry in list(self.book.values()) if entry.shard in self._held)

    # -- watch side ------------------------------------------------------------------

    def observe(self, event_type: str, obj: dict[str, Any]) -> None:
        """Feed one watch event into the book; never blocks, never raises."""
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        entry = self.book.get(key)
        if event_type == "DELETED":
            if entry is not None and entry.uid == meta.get("uid"):
                self._forget(entry)
            return
        if entry is not None and entry.uid != meta.get("uid"):
            self._forget(entry)
            entry = None
        if entry is None:
            entry = Entry.of(obj)
            entry.shard = self.shards.shard_of(entry.uid)
            self.book[key] = entry
            self.metrics.book_size.set(len(self.book))
            if self.owns(entry):
                self._spawn(self._learn(entry, fresh=True, fired_up_to=self._held[entry.shard]))
        else:
            previous_generation = entry.generation
            entry.observe(obj)
            if entry.generation != previous_generation and self.owns(entry):
                self._spawn(self._learn(entry, fresh=False))
        if self.owns(entry):
            self._check_trigger(entry)

    def _forget(self, entry: Entry) -> None:
        entry.deleted = True
        entry.token += 1
        self.book.pop(entry.key, None)
        self.events.forget(entry.uid)
        self.metrics.book_size.set(len(self.book))

    async def _learn(self, entry: Entry, fresh: bool, fired_up_to: datetime | None = None) -> None:
        """(Re)plan a resource after it appeared, its spec changed or its shard was taken."""
        now = utcnow()
        parsed = planning.parse_spec(entry.spec_raw)
        old_spec = entry.spec
        entry.token += 1
        entry.secret_problem = None  # this write judges the new spec afresh
        if isinstance(parsed, Problem):
            await self._mark_invalid(entry, parsed)
            return
        if parsed.workflow is not None and (problem := workflow_objects.target_problem(parsed.workflow)):
            await self._mark_invalid(entry, problem)
            return
        entry.spec, entry.problem = parsed, None
        if fresh:
            # Before any run can fire, so Forbid and Replace see these runs.
            self.runs.resume_followers(entry, parsed)
        plan = None
        if fresh or old_spec is None:
            plan = self._plan(entry, parsed, now, fired_up_to)
            entry.next_due, phase = plan.next_due, plan.phase
        elif parsed.schedule != old_spec.schedule or parsed.suspend != old_spec.suspend:
            entry.backlog.clear()
            entry.next_due = (
                None if parsed.suspend else schedule_math.next_fire_after(parsed.schedule, now, entry.created)
            )
            phase = planning.phase_of(parsed, entry.next_due)
        else:
            phase = planning.phase_of(parsed, entry.next_due)
        self._push(entry)
        if plan is not None and plan.catch_up is not None:
            entry.catch_up[plan.catch_up] = (plan.missed, plan.missed_from)
            self.queue.push(Due(time.time(), entry.key, entry.token, CATCH_UP, plan.catch_up))
        elif plan is not None and plan.missed:
            self.runs.record_missed(entry, plan.missed, plan.missed_from, now)
        try:
            await self._sync(entry, phase)
        except Gone:
            return
        except ApiError as error:
            # Bookkeeping failed, scheduling must not: results write what is needed.
            log.warning("status of %s/%s not updated: %s", *entry.key, error)

    def _plan(
        self, entry: Entry, spec: CronJobSpecSpec, now: datetime, fired_up_to: datetime | None
    ) -> planning.Plan:
        """Where a (re)learned resource resumes. After a takeover: what the former holder
        may have fired unrecorded is recorded Unknown, and what came due after its
        watermark fires now, late, each time once (the backlog)."""
        entry.backlog.clear()
        status = entry.status
        fired = max((t for t in (fired_up_to, entry.last_fired) if t is not None), default=None)
        unknown, more = planning.unknown_times(spec, status, entry.created, fired, entry.last_fired)
        if unknown and fired is not None:
            self.runs.record_unknown(entry, unknown, more, fired)
        plan = planning.plan(spec, status, entry.created, entry.generation, now, fired)
        overdue = plan.catch_up is not None or (plan.next_due is not None and plan.next_due <= now)
        if fired is None or not overdue:
            return plan
        horizon = timedelta(seconds=self.settings.takeover_horizon)
        backlog = planning.takeover_backlog(spec, status, entry.created, fired, now, horizon)
        if not backlog:
            return plan
        entry.backlog = collections.deque(backlog[1:])
        return planning.Plan(next_due=backlog[0], phase=Phase.Active)

    async def _sync(self, entry: Entry, phase: Phase) -> None:
        """Status bookkeeping after (re)planning: phase, nextRunTime, conditions, words."""
        spec = entry.spec
        assert spec is not None

        def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
            return planning.sync_patch(
                obj.get("status") or {},
                generation=int(obj["metadata"].get("generation", 1)),
                phase=phase,
                next_due=entry.next_due,
                schedule_text=schedule_math.describe(spec.schedule),
                target_text=_describe_target(spec),
                problem=None,
                now=utcnow(),
            )

        await self.writer.write(entry, compute, "sync")

    async def _mark_invalid(self, entry: Entry, problem: Problem) -> None:
        entry.spec, entry.problem, entry.next_due = None, problem, None
        if planning.is_invalid_for(entry.status, entry.generation, problem):
            return

        def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
            generation = int(obj["metadata"].get("generation", 1))
            return planning.invalid_patch(obj.get("status") or {}, generation, problem, utcnow())

        with contextlib.suppress(Gone):
            await self.writer.write(entry, compute, "invalid")
            self.events.post(entry.meta, "Warning", "InvalidSpec", str(problem))
            log.warning("invalid CronJobSpec %s/%s: %s", *entry.key, problem)

    # -- manual trigger -------------------------------------------------------------

    def _check_trigger(self, entry: Entry) -> None:
        value = (entry.meta.get("annotations") or {}).get(runs.TRIGGER_ANNOTATION)
        if not value or value == entry.last_trigger or value == entry.trigger_seen:
            return
        entry.trigger_seen = value
        self._spawn(self._manual(entry, value))

    async def _manual(self, entry: Entry, value: str) -> None:
        """A new trigger value: record it first, so it never fires twice (also across a
        handover: the next holder finds it recorded).

        Spawned after `_learn` of the same event, which sets `entry.spec` before its first
        await, so the spec seen here is the event's."""
        if entry.spec is None:
            return

        def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
            if (obj.get("status") or {}).get("lastTrigger") == value:
                return None
            return {"lastTrigger": value}

        try:
            if await self.writer.write(entry, compute, "trigger") is None:
                return
        except Gone:
            return
        if self.owns(entry):
            self.runs.start(entry, utcnow(), Trigger.manual, trigger_value=value)

    # -- the loop -------------------------------------------------------------------

    def _push(self, entry: Entry) -> None:
        if entry.next_due is None or entry.deleted:
            return
        self.queue.push(Due(entry.next_due.timestamp(), entry.key, entry.token, FIRE, entry.next_due))

    async def run(self) -> None:
        """Sleep until the earliest due item; fire it if its shard allows; repeat."""
        while True:
            self.heartbeat = time.monotonic()
            item = self.queue.pop_due()
            if item is None:
                await self.queue.wait(5.0)
                continue
            entry = self.book.get(item.key)
            if entry is None or entry.token != item.token:
                continue
            verdict = self.shards.may_fire(entry.shard, item.scheduled)
            if verdict is Verdict.WAIT:
                self.queue.push(
                    Due(time.time() + WAIT_FOR_WATERMARK, item.key, item.token, item.action, item.scheduled)
                )
                continue
            if verdict is Verdict.NOT_MINE:
                continue  # planned again if the shard comes back
            if item.action == CATCH_UP:
                missed, missed_from = entry.catch_up.pop(item.scheduled, (0, None))
                self.runs.start(
                    entry, item.scheduled, Trigger.catchup, missed=missed, missed_from=missed_from
                )
                continue
            self._fire(entry, item.scheduled)
            # Let this run's request start before dispatching the next one: with a
            # thousand runs due at one instant, dispatching them all first delayed the
            # first request by 200 ms.
            await asyncio.sleep(0)

    def _fire(self, entry: Entry, due: datetime) -> None:
        spec = entry.spec
        if spec is None:
            return
        if entry.backlog:
            entry.next_due = entry.backlog.popleft()
        else:
            entry.next_due = planning.next_after_run(spec, due, utcnow(), entry.created)
        self._push(entry)
        self.runs.start(entry, due, Trigger.schedule)

    # -- shard ownership (shard_leases.Listener) ------------------------------------------

    def _in_shard(self, shard: int) -> list[Entry]:
        return [entry for entry in list(self.book.values()) if entry.shard == shard]

    def acquired(self, shard: int, fired_up_to: datetime | None) -> None:
        self._held[shard] = fired_up_to
        for entry in self._in_shard(shard):
            self._spawn(self._learn(entry, fresh=True, fired_up_to=fired_up_to))
            self._check_trigger(entry)

    def lost(self, shard: int) -> None:
        """Stop at once: queued runs are dropped (their tokens go stale); runs in flight
        finish and their results are still written."""
        self._held.pop(shard, None)
        for entry in self._in_shard(shard):
            entry.token += 1

    async def releasing(self, shard: int, grace: float) -> datetime | None:
        """Stop firing the shard, let its HTTP runs finish (up to `grace` seconds), stop
        following its run objects (the next holder follows them from status.active), and
        write every result; what comes back is the time up to which everything in the shard
        was fired, for the watermark."""
        self.lost(shard)
        entries = self._in_shard(shard)
        tasks = [task for entry in entries for task in entry.running.values()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.results.flush([entry.key for entry in entries])
        return planning.fired_through(
            [e.last_fired for e in entries if e.last_fired is not None],
            [e.next_due for e in entries if e.next_due is not None and e.spec is not None],
        )

    # -- for the checks beside the loop ---------------------------------------------------

    async def secret_values(
        self, namespace: str, target: HttpTarget, fresh: bool = False
    ) -> tuple[dict[str, str], bytes | None]:
        """The header values and signing key a run of `target` would send (secret_recheck.py)."""
        return await self.runs.http.secret_values(namespace, target, fresh)

    async def write_status(
        self,
        entry: Entry,
        compute: Callable[[dict[str, Any]], dict[str, Any] | None],
        kind: str = "heartbeat",
    ) -> dict[str, Any] | None:
        """The conditional status write, for checks outside the scheduler (heartbeat, Secret
        re-check); `kind` labels its latency metric."""
        return await self.writer.write(entry, compute, kind)

    # -- plumbing -------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("scheduler task failed", exc_info=task.exception())

    async def shutdown(self) -> None:
        runs = [t for e in self.book.values() for t in e.running.values()]
        for task in [*self._tasks, *runs]:
            task.cancel()
        await asyncio.gather(*self._tasks, *runs, return_exceptions=True)


def _describe_target(spec: CronJobSpecSpec) -> str:
    if spec.http is not None:
        return f"{spec.http.method} {spec.http.url}"[:120]
    assert spec.workflow is not None
    if spec.workflow.template_ref is not None:
        return f"{spec.workflow.template_ref.kind}/{spec.workflow.template_ref.name}"
    manifest = spec.workflow.manifest or {}
    return f"{manifest.get('kind', '?')} ({manifest.get('apiVersion', '?')})"
