"""The one loop that fires every run on time, and what it does with each run.

Watch events (from kopf) keep the book current (book.py). One loop sleeps until the
earliest thing due in the due queue (due_queue.py) — a claim, H seconds before a scheduled
time, or the fire itself — and hands it to a task; runs share a bounded pool; every status
change goes through the status writer (status_writer.py). Nothing here is per-resource
timers or daemons: 10,000 resources cost 10,000 book entries and one heap.

Claim before fire: a scheduled time T is written to ``status.claim`` under the
resourceVersion precondition *before* T. Only the operator whose write succeeded fires T;
another operator (or this one after a restart) sees the claim and leaves T alone. See
docs/operator.md for the exact delivery guarantee.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cronwright.core import runs
from cronwright.core import schedule as schedule_math
from cronwright.core.kube import ApiError, Kube
from cronwright.core.models import (
    ConcurrencyPolicy,
    CronJobSpecSpec,
    HttpTarget,
    ObjectRef,
    Phase,
    RunRecord,
    RunResult,
    Trigger,
)
from cronwright.core.version import VERSION
from cronwright.operator import http_executor, planning, workflow_objects
from cronwright.operator.book import Entry
from cronwright.operator.due_queue import Due, DueQueue
from cronwright.operator.events import EventRecorder
from cronwright.operator.http_runner import HttpRunner
from cronwright.operator.leases import InstanceLease
from cronwright.operator.metrics import Metrics
from cronwright.operator.planning import ClaimVerdict, Problem
from cronwright.operator.runners import Run, Runner, plain
from cronwright.operator.secrets import SecretCache, SecretProblem
from cronwright.operator.status_writer import Gone, StatusWriter, Writer
from cronwright.operator.workflow_runner import WorkflowRunner
from cronwright.operator.workflow_runs import RunObjects

log = logging.getLogger(__name__)

CLAIM = "claim"
RESULT_DELAY = 0.1
FIRE = "fire"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Settings:
    instance: str
    claim_ahead: float = 5.0
    max_concurrent_runs: int = 128  # = the HTTP client's connections (http_executor.make_client)
    max_concurrent_writes: int = 16  # = the API client's connections: more would only queue there
    version: str = VERSION


class Liveness(Protocol):
    async def is_alive(self, instance: str) -> bool: ...


class Events(Protocol):
    def post(self, meta: dict[str, Any], kind: str, reason: str, message: str) -> None: ...

    def forget(self, uid: str) -> None: ...


class HttpRuns(Runner, Protocol):
    async def secret_values(
        self, namespace: str, target: HttpTarget, fresh: bool = False
    ) -> tuple[dict[str, str], bytes | None]: ...


class WorkflowRuns(Runner, Protocol):
    async def delete_replaced(self, entry: Entry, ref: ObjectRef) -> None: ...

    async def prune(self, entry: Entry, spec: CronJobSpecSpec) -> None: ...


@dataclass(frozen=True)
class Parts:
    """What the loop talks to, each behind a small interface: the real ones come from
    `Parts.on_kube`, tests/unit/test_scheduler_loop.py gives it fakes."""

    writer: Writer
    http: HttpRuns
    workflow: WorkflowRuns
    liveness: Liveness
    events: Events
    metrics: Metrics

    @classmethod
    def on_kube(
        cls,
        kube: Kube,
        http: http_executor.Client,
        lease: InstanceLease,
        events: EventRecorder,
        metrics: Metrics,
        settings: Settings,
    ) -> Parts:
        writer = StatusWriter(kube, metrics, settings.max_concurrent_writes)
        return cls(
            writer=writer,
            http=HttpRunner(http, SecretCache(kube), events, metrics, settings.version),
            workflow=WorkflowRunner(RunObjects(kube), writer, events, metrics),
            liveness=lease,
            events=events,
            metrics=metrics,
        )


class Scheduler:
    def __init__(self, parts: Parts, settings: Settings) -> None:
        self.writer = parts.writer
        self.http_runner = parts.http
        self.workflow_runner = parts.workflow
        self.lease = parts.liveness
        self.events = parts.events
        self.metrics = parts.metrics
        self.settings = settings
        self.book: dict[tuple[str, str], Entry] = {}
        self.queue = DueQueue()
        self._runs = asyncio.Semaphore(settings.max_concurrent_runs)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.heartbeat = time.monotonic()

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
            self.book[key] = entry
            self.metrics.book_size.set(len(self.book))
            self._spawn(self._learn(entry, fresh=True))
        else:
            previous_generation = entry.generation
            entry.observe(obj)
            if entry.generation != previous_generation:
                self._spawn(self._learn(entry, fresh=False))
        self._check_trigger(entry)

    def _forget(self, entry: Entry) -> None:
        entry.deleted = True
        entry.token += 1
        self.book.pop(entry.key, None)
        self.events.forget(entry.uid)
        self.metrics.book_size.set(len(self.book))

    async def _learn(self, entry: Entry, fresh: bool) -> None:
        """(Re)plan a resource after it appeared or its spec changed."""
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
            self._resume_followers(entry, parsed)
        catch_up, missed, missed_from = None, 0, None
        if fresh or old_spec is None:
            plan = planning.plan(parsed, entry.status, entry.created, entry.generation, now)
            entry.next_due, catch_up, missed, missed_from = (
                plan.next_due,
                plan.catch_up,
                plan.missed,
                plan.missed_from,
            )
            phase = plan.phase
        elif parsed.schedule != old_spec.schedule or parsed.suspend != old_spec.suspend:
            entry.next_due = (
                None if parsed.suspend else schedule_math.next_fire_after(parsed.schedule, now, entry.created)
            )
            phase = self._phase(parsed, entry.next_due)
        else:
            phase = self._phase(parsed, entry.next_due)

        try:
            await self._sync(entry, phase, claim_next=catch_up is None)
            if missed and catch_up is None:
                await self._record_missed(entry, missed, missed_from, now)
        except Gone:
            return
        except ApiError as error:
            # Bookkeeping failed, scheduling must not: the claim path writes what is needed.
            log.warning("status of %s/%s not updated: %s", *entry.key, error)
        if catch_up is not None:
            self._spawn(
                self._claim_and_fire(entry, catch_up, entry.token, Trigger.catchup, missed, missed_from)
            )
        self._push(entry)

    def _phase(self, spec: CronJobSpecSpec, next_due: datetime | None) -> Phase:
        return planning.phase_of(spec, next_due)

    async def _sync(self, entry: Entry, phase: Phase, claim_next: bool = True) -> None:
        """Status bookkeeping; with it, the claim of the next run — unless a catch-up run
        comes first (a claim of a later time would rule the catch-up out)."""
        spec = entry.spec
        assert spec is not None
        claimed: datetime | None = None

        def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
            nonlocal claimed
            status = obj.get("status") or {}
            patch = planning.sync_patch(
                status,
                generation=int(obj["metadata"].get("generation", 1)),
                phase=phase,
                next_due=entry.next_due,
                schedule_text=schedule_math.describe(spec.schedule),
                target_text=_describe_target(spec),
                problem=None,
                now=utcnow(),
            )
            claimed = self._claim_along(entry, status, patch) if patch is not None and claim_next else None
            return patch

        await self.writer.write(entry, compute, "sync")
        if claimed is not None:
            entry.claimed_due = claimed

    def _claim_along(self, entry: Entry, status: dict[str, Any], patch: dict[str, Any]) -> datetime | None:
        """Add the claim of the entry's next run to a write made anyway, sparing one write
        per run (and the claims of a burst of new resources). holder_alive=True: a claim by
        another instance is never taken over here; the claim path checks its Lease first."""
        due = entry.next_due
        holder = self.settings.instance
        if (
            due is None
            or planning.judge_claim(status, due, holder, utcnow(), holder_alive=True) != ClaimVerdict.MINE
        ):
            return None
        patch.update(planning.claim_patch(due, runs.run_id(entry.uid, due), holder))
        return due

    async def _mark_invalid(self, entry: Entry, problem: Problem) -> None:
        entry.spec, entry.problem, entry.next_due = None, problem, None
        status = entry.status
        already = (
            status.get("phase") == Phase.Invalid
            and status.get("observedGeneration") == entry.generation
            and any(
                c.get("type") == "Valid" and c.get("message") == str(problem)
                for c in status.get("conditions") or []
            )
        )
        if already:
            return

        def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
            status = obj.get("status") or {}
            return {
                "phase": str(Phase.Invalid),
                "observedGeneration": int(obj["metadata"].get("generation", 1)),
                "nextRunTime": None,
                "claim": None,
                "conditions": planning.conditions_for(
                    status, entry.generation, utcnow(), problem, Phase.Invalid
                ),
            }

        with contextlib.suppress(Gone):
            await self.writer.write(entry, compute, "invalid")
            self.events.post(entry.meta, "Warning", "InvalidSpec", str(problem))
            log.warning("invalid CronJobSpec %s/%s: %s", *entry.key, problem)

    async def _record_missed(self, entry: Entry, missed: int, since: datetime | None, now: datetime) -> None:
        spec = entry.spec
        assert spec is not None
        record = RunRecord(
            id=runs.run_id(entry.uid, since or now, "missed"),
            scheduled_time=since,
            result=RunResult.Missed,
            error=f"{missed} scheduled run(s) missed while no operator was running"
            + (f", from {runs.rfc3339(since)}" if since else ""),
        )
        await self.writer.write(
            entry,
            lambda obj: planning.record_patch(
                obj.get("status") or {},
                record,
                spec=spec,
                generation=entry.generation,
                next_due=entry.next_due,
                now=now,
                missed=missed - 1,
            ),
            "missed",
        )
        self.events.post(entry.meta, "Warning", "RunsMissed", record.error or "")

    # -- manual trigger -------------------------------------------------------------

    def _check_trigger(self, entry: Entry) -> None:
        value = (entry.meta.get("annotations") or {}).get(runs.TRIGGER_ANNOTATION)
        if not value or value == entry.last_trigger or value == entry.trigger_seen:
            return
        entry.trigger_seen = value
        self._spawn(self._manual(entry, value))

    async def _manual(self, entry: Entry, value: str) -> None:
        """A new trigger value: record it first (claim), so it never fires twice.

        Spawned after `_learn` of the same event, which sets `entry.spec` before its first
        await, so the spec seen here is the event's."""
        if entry.spec is None:
            return

        def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
            if (obj.get("status") or {}).get("lastTrigger") == value:
                return None
            return {"lastTrigger": value}

        try:
            if await self.writer.write(entry, compute, "claim") is None:
                return
        except Gone:
            return
        self._start_run(entry, utcnow(), Trigger.manual, trigger_value=value)

    # -- the loop -------------------------------------------------------------------

    def _push(self, entry: Entry) -> None:
        if entry.next_due is None or entry.deleted:
            return
        when = entry.next_due.timestamp() - self.settings.claim_ahead
        self._push_item(entry, when, entry.token, CLAIM, entry.next_due)

    def _push_fire(self, entry: Entry, due: datetime, token: int) -> None:
        self._push_item(entry, due.timestamp(), token, FIRE, due)

    def _push_item(self, entry: Entry, when: float, token: int, action: str, due: datetime) -> None:
        self.queue.push(Due(when, entry.key, token, action, due))

    async def run(self) -> None:
        """Sleep until the earliest due item; dispatch it; repeat. Never returns."""
        while True:
            self.heartbeat = time.monotonic()
            item = self.queue.pop_due()
            if item is None:
                await self.queue.wait(5.0)
                continue
            entry = self.book.get(item.key)
            if entry is None or entry.token != item.token:
                continue
            if item.action == CLAIM:
                self._spawn(self._claim_and_fire(entry, item.scheduled, item.token, Trigger.schedule))
            else:
                self._fire(entry, item.scheduled, item.token)
                # Let this run's request start before dispatching the next one: with a
                # thousand runs due at one instant, dispatching them all first delayed the
                # first request by 200 ms.
                await asyncio.sleep(0)

    async def _claim_and_fire(
        self,
        entry: Entry,
        due: datetime,
        token: int,
        trigger: Trigger,
        missed: int = 0,
        missed_from: datetime | None = None,
    ) -> None:
        try:
            verdict = await self.claim(entry, due)
        except ApiError as error:
            # Never let a resource fall off the schedule: try this claim again shortly.
            log.warning("claim of %s/%s for %s failed: %s; retrying", *entry.key, due, error)
            if entry.token == token and not entry.deleted:
                self._push_item(entry, time.time() + 1.0, token, CLAIM, due)
            return
        if entry.token != token or entry.deleted:
            return
        if verdict != ClaimVerdict.MINE:
            log.info("%s/%s: %s is %s elsewhere; not firing it here", *entry.key, due, verdict)
            if trigger is Trigger.schedule and entry.spec is not None:
                entry.next_due = planning.next_after_run(entry.spec, due, utcnow(), entry.created)
                self._push(entry)
            return
        if trigger is Trigger.schedule:
            self._push_fire(entry, due, token)
        else:
            self._start_run(entry, due, trigger, missed=missed, missed_from=missed_from)

    async def claim(self, entry: Entry, due: datetime) -> str:
        """Claim `due` under the resourceVersion precondition.

        Whether another instance's claim of `due` may be taken over depends on its Lease,
        which is read for the claim found in the status being judged: the cached copy can
        be older than the one a Conflict makes us read, and judging a live rival's claim
        with the liveness of an earlier copy's holder fired runs twice across a rollout."""
        if entry.claimed_due == due:
            return ClaimVerdict.MINE  # claimed together with the previous run's result
        holder = self.settings.instance
        rid = runs.run_id(entry.uid, due)
        alive: dict[str, bool] = {}
        while True:
            verdict = ClaimVerdict.DONE
            unknown: str | None = None

            def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
                nonlocal verdict, unknown
                status = obj.get("status") or {}
                rival = planning.rival_claimer(status, due, holder)
                if rival is not None and rival not in alive:
                    unknown = rival
                    return None
                verdict = planning.judge_claim(status, due, holder, utcnow(), alive.get(rival or "", False))
                if verdict != ClaimVerdict.MINE:
                    return None
                return {**planning.claim_patch(due, rid, holder), "nextRunTime": runs.rfc3339(due)}

            try:
                await self.writer.write(entry, compute, "claim")
            except Gone:
                return ClaimVerdict.DONE
            if unknown is None:
                return verdict
            alive[unknown] = await self.lease.is_alive(unknown)

    def _fire(self, entry: Entry, due: datetime, token: int) -> None:
        spec = entry.spec
        if spec is None:
            return
        entry.next_due = planning.next_after_run(spec, due, utcnow(), entry.created)
        self._push(entry)
        self._start_run(entry, due, Trigger.schedule)

    def _start_run(
        self,
        entry: Entry,
        due: datetime,
        trigger: Trigger,
        *,
        trigger_value: str | None = None,
        missed: int = 0,
        missed_from: datetime | None = None,
    ) -> None:
        spec = entry.spec
        if spec is None:
            return
        rid = runs.manual_run_id(entry.uid, trigger_value) if trigger_value else runs.run_id(entry.uid, due)
        busy = bool(entry.running) or (spec.workflow is not None and bool(entry.status.get("active")))
        if busy and spec.concurrency_policy is ConcurrencyPolicy.Forbid:
            record = RunRecord(
                id=rid,
                scheduled_time=due,
                result=RunResult.Skipped,
                trigger=trigger,
                error="skipped: the previous run is still running (concurrencyPolicy Forbid)",
            )
            self._spawn(self._finish(entry, spec, record, trigger_value, missed))
            return
        if entry.running and spec.concurrency_policy is ConcurrencyPolicy.Replace:
            for other_id, task in list(entry.running.items()):
                entry.replaced.add(other_id)
                task.cancel()
        self._track(entry, rid, self._run(entry, spec, due, trigger, rid, trigger_value, missed, missed_from))

    def _track(self, entry: Entry, rid: str, coro: Any) -> None:
        task = asyncio.create_task(coro)
        entry.running[rid] = task
        task.add_done_callback(lambda _: entry.running.pop(rid, None))

    def _resume_followers(self, entry: Entry, spec: CronJobSpecSpec) -> None:
        """Run objects listed in status.active when this operator (re)learned the resource
        were started by a former operator (or another instance): follow them again, so
        their results are recorded."""
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

    # -- one run --------------------------------------------------------------------

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
                self.metrics.in_flight.inc()
                try:
                    outcome = await self.workflow_runner.run(
                        Run(entry, spec, due, trigger, rid, trigger_value, start)
                    )
                finally:
                    self.metrics.in_flight.dec()
                if outcome is None:
                    return
                record = outcome
            else:
                async with self._runs:
                    start = utcnow()  # skew and deadline count the wait for a free run slot
                    self.metrics.in_flight.inc()
                    try:
                        record = await self.http_runner.run(
                            Run(entry, spec, due, trigger, rid, trigger_value, start)
                        )
                    finally:
                        self.metrics.in_flight.dec()
        except asyncio.CancelledError:
            if rid not in entry.replaced:
                raise
            entry.replaced.discard(rid)
            ref = entry.objects.pop(rid, None)
            if ref is not None:
                await self.workflow_runner.delete_replaced(entry, ref)
            finish = utcnow()
            record = RunRecord(
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
        if missed and missed_from is not None and record.error is None:
            record.error = f"catch-up run; {missed} earlier run(s) missed from {runs.rfc3339(missed_from)}"
        # Bookkeeping yields to sending: runs due at the same instant all go out before the
        # first result is written (a write, its watch event and an Event cost more CPU than
        # a send, and one event loop does all of it).
        await asyncio.sleep(RESULT_DELAY)
        await self._finish(entry, spec, record, trigger_value, missed)

    async def secret_values(
        self, namespace: str, target: HttpTarget, fresh: bool = False
    ) -> tuple[dict[str, str], bytes | None]:
        """The header values and signing key a run of `target` would send (secret_recheck.py)."""
        return await self.http_runner.secret_values(namespace, target, fresh)

    async def _finish(
        self,
        entry: Entry,
        spec: CronJobSpecSpec,
        record: RunRecord,
        trigger_value: str | None,
        missed: int,
    ) -> None:
        now = utcnow()
        claimed_next: datetime | None = None
        content, entry.run_problem = entry.run_problem, None
        problem = content.problem if content is not None else None
        listed = record.id in entry.listed
        entry.listed.discard(record.id)

        def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
            """The result, and — one write instead of two — the claim of the next run."""
            nonlocal claimed_next
            status = obj.get("status") or {}
            if listed and record.object is not None and not planning.is_active(status, record.object.name):
                return None  # another follower of this run object recorded its result
            patch = planning.record_patch(
                status,
                record,
                # the spec as it is now: a pause (or a new historyLimit) that arrived while
                # the run was in flight must not be undone by this run's result write
                spec=entry.spec or spec,
                generation=int(obj["metadata"].get("generation", 1)),
                next_due=entry.next_due,
                now=now,
                missed=missed,
                trigger_value=trigger_value,
                problem=problem,
            )
            claimed_next = self._claim_along(entry, status, patch)
            return patch

        try:
            written = await self.writer.write(entry, compute, "result")
        except Gone:
            return
        except ApiError as error:
            log.error("result of run %s of %s/%s not recorded: %s", record.id, *entry.key, error)
            return
        if written is None:
            return
        entry.secret_problem = problem if isinstance(content, SecretProblem) else None
        self.metrics.runs.labels(result=str(record.result), trigger=str(record.trigger)).inc()
        if record.finish_time is not None:
            lag = (utcnow() - record.finish_time).total_seconds()
            self.metrics.status_lag.observe(max(0.0, lag))
        if record.duration_ms is not None:
            self.metrics.run_duration.observe(record.duration_ms / 1000)
        if claimed_next is not None:
            entry.claimed_due = claimed_next
        if record.object is not None:
            self._spawn(self.workflow_runner.prune(entry, spec))
        if record.result is RunResult.Succeeded:
            self.events.post(entry.meta, "Normal", "RunSucceeded", _run_message(record))
        else:
            self.events.post(entry.meta, "Warning", f"Run{record.result}", _run_message(record))

    # -- writes ---------------------------------------------------------------------

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


def _run_message(record: RunRecord) -> str:
    parts = [f"run {record.id} ({record.trigger})", str(record.result)]
    if record.response_code is not None:
        parts.append(f"HTTP {record.response_code}")
    if record.duration_ms is not None:
        parts.append(f"{record.duration_ms} ms")
    if record.error:
        parts.append(record.error)
    return ": ".join(parts[:2]) + (", " + ", ".join(parts[2:]) if len(parts) > 2 else "")
