"""What one run does, behind one small interface: `Runner.run(Run) -> RunRecord | None`.

The scheduler decides when a run starts and records what it returns; a runner only carries
it out — an HTTP request (http_runner.py) or a run object followed to its end
(workflow_runner.py). The helpers here are the records both kinds produce the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cronwright.core.models import CronJobSpecSpec, ObjectRef, RunRecord, RunResult, Trigger
from cronwright.operator.book import Entry
from cronwright.operator.events import EventRecorder
from cronwright.operator.metrics import Metrics
from cronwright.operator.planning import ContentProblem


@dataclass(frozen=True)
class Run:
    """One run of one resource, as the scheduler starts it."""

    entry: Entry
    spec: CronJobSpecSpec
    due: datetime
    trigger: Trigger
    rid: str
    trigger_value: str | None
    start: datetime


class Runner(Protocol):
    async def run(self, run: Run) -> RunRecord | None:
        """The run's result; None when none can be known here (it stays to be followed)."""
        ...


def late(run: Run, metrics: Metrics) -> RunRecord | None:
    """Count the fire skew; a Missed record when the run starts later than
    startingDeadlineSeconds allows."""
    if run.trigger is not Trigger.manual:
        metrics.fire_skew.observe((run.start - run.due).total_seconds())
    deadline = run.spec.starting_deadline_seconds
    if deadline is None or run.trigger is not Trigger.schedule:
        return None
    if (run.start - run.due).total_seconds() <= deadline:
        return None
    return RunRecord(
        id=run.rid,
        scheduled_time=run.due,
        result=RunResult.Missed,
        trigger=run.trigger,
        error=f"missed: could not start within startingDeadlineSeconds ({deadline}s)",
    )


def not_started(run: Run, error: str) -> RunRecord:
    """A run that failed before its request or run object went out."""
    return RunRecord(
        id=run.rid,
        scheduled_time=run.due,
        start_time=run.start,
        result=RunResult.Failed,
        trigger=run.trigger,
        error=error,
    )


def content_problem(run: Run, problem: ContentProblem, reason: str, events: EventRecorder) -> RunRecord:
    """Bad content found at run time (a missing Secret, a refused run object): the run
    fails, its result write marks the resource Invalid with a condition naming the field,
    and the schedule stays, so a later run clears it once the content is fixed (a missing
    Secret sooner: secret_recheck.py looks it up every few seconds)."""
    run.entry.run_problem = problem
    events.post(run.entry.meta, "Warning", reason, str(problem))
    return not_started(run, str(problem))


def plain(ref: ObjectRef) -> ObjectRef:
    """The object as a run record names it (the run fields are the record's own)."""
    return ObjectRef(api_version=ref.api_version, kind=ref.kind, name=ref.name, uid=ref.uid)
