"""Pure decisions of the operator: what is due, what a run changes in status.

Every function here takes the current state and a `now` and returns data; the scheduler
(the I/O shell) does the waiting, the calls and the writes. That keeps the rules — catch-up
after downtime, takeovers after a watermark, history bounds, counters — testable without
a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from cronwright.core import schedule as schedule_math
from cronwright.core.models import (
    CronJobSpecSpec,
    Phase,
    RunRecord,
    RunResult,
    Schedule,
)
from cronwright.core.runs import (
    parse_time,
    rfc3339,
)

MISSED_COUNT_CAP = 10_000
#: Unknown records written per resource on one takeover; the rest are counted with them.
UNKNOWN_CAP = 100
#: Scheduled times a new holder fires late after a takeover (5 minutes of an every-second
#: schedule); beyond that it is downtime, judged by `plan`.
TAKEOVER_BACKLOG_CAP = 300


# -- validity --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ContentProblem(Exception):
    """Bad content a run runs into (a missing Secret, a run object the API server refuses):
    the run fails and the resource is Invalid, naming `field`, until a run goes through (or,
    for a missing Secret, until secret_recheck.py finds it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.problem = Problem(field, message)


def spec_problems(raw: dict[str, Any]) -> tuple[CronJobSpecSpec | None, list[Problem]]:
    """The spec and nothing wrong with it, or None and every problem the CRD schema let
    through: each field the model refuses, then each schedule field that cannot run.

    The schedule is judged on its own when another part of the spec is refused, so a
    manifest with a bad method and a bad cron string is told about both at once."""
    try:
        spec = CronJobSpecSpec.model_validate(raw)
    except ValidationError as error:
        problems = [Problem(_where(e["loc"]), e["msg"]) for e in error.errors()]
        schedule = _schedule_alone(raw.get("schedule"))
        return None, problems + (_schedule_problems(schedule) if schedule is not None else [])
    problems = _schedule_problems(spec.schedule)
    return (None if problems else spec), problems


def parse_spec(raw: dict[str, Any]) -> CronJobSpecSpec | Problem:
    """The spec, or the first thing wrong with it that the CRD schema let through."""
    spec, problems = spec_problems(raw)
    if problems:
        return problems[0]
    assert spec is not None
    return spec


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in ("spec", *loc))


def _schedule_alone(raw: object) -> Schedule | None:
    """The schedule when it is well-formed by itself (else its errors are the model's)."""
    try:
        return Schedule.model_validate(raw)
    except ValidationError:
        return None


def _schedule_problems(schedule: Schedule) -> list[Problem]:
    return [Problem(f"spec.{error.field}", error.message) for error in schedule_math.problems(schedule)]


# -- when is the next run ---------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What the operator will do next for one resource."""

    next_due: datetime | None
    phase: Phase
    #: A run to fire at once for time(s) missed while no operator was watching.
    catch_up: datetime | None = None
    #: How many scheduled times are given up as missed (not fired).
    missed: int = 0
    missed_from: datetime | None = None


def latest_fire_at_or_before(
    spec: CronJobSpecSpec, since: datetime, now: datetime, created: datetime
) -> datetime:
    """The last fire time in [since, now]; `since` itself must be a fire time.

    Scans windows that grow fourfold back from now, so a job that fires every second and
    was down for a day costs a few iterations, not 86,400.
    """
    window = timedelta(seconds=60)
    while True:
        start = max(since - timedelta(microseconds=1), now - window)
        latest = None
        for moment in schedule_math.iter_fire_times(spec.schedule, start, created):
            if moment > now:
                break
            latest = moment
        if latest is not None:
            return latest
        if start <= since:
            return since
        window *= 4


def plan(
    spec: CronJobSpecSpec,
    status: dict[str, Any],
    created: datetime,
    generation: int,
    now: datetime,
    fired_up_to: datetime | None = None,
) -> Plan:
    """Where to resume when the operator (re)learns a resource.

    The planned ``status.nextRunTime`` is the source of truth while the spec is unchanged:
    nothing before it is due, which is what keeps a resume from firing what was missed
    while paused, also across an operator restart. `fired_up_to` is the watermark of the
    shard's former holder: nothing at or before it fires again (`unknown_times` records
    what it left unrecorded), whatever an older nextRunTime says.
    """
    if spec.suspend:
        return Plan(next_due=None, phase=Phase.Paused)
    sched = spec.schedule
    observed = status.get("observedGeneration") == generation
    if status.get("phase") == Phase.Paused:
        return _planned(spec, schedule_math.next_fire_after(sched, now, created))
    if status.get("phase") == Phase.Completed and observed:
        return Plan(next_due=None, phase=Phase.Completed)
    planned = parse_time(status.get("nextRunTime")) if observed else None
    if planned is None:
        bases = [created - timedelta(microseconds=1)]
        last = parse_time(status.get("lastScheduleTime"))
        if last:
            bases.append(last)
        planned = schedule_math.next_fire_after(sched, max(bases), created)
    if planned is not None and fired_up_to is not None and planned <= fired_up_to:
        planned = schedule_math.next_fire_after(sched, fired_up_to, created)
    if planned is None or planned > now:
        return _planned(spec, planned)

    latest = latest_fire_at_or_before(spec, planned, now, created)
    overdue = schedule_math.count_fire_times(
        sched, planned - timedelta(microseconds=1), now, created, MISSED_COUNT_CAP
    )
    following = schedule_math.next_fire_after(sched, now, created)
    deadline = spec.starting_deadline_seconds
    if deadline is not None and (now - latest).total_seconds() > deadline:
        return Plan(
            next_due=following,
            phase=Phase.Active if following else Phase.Completed,
            missed=overdue,
            missed_from=planned,
        )
    if overdue <= 1:
        return Plan(next_due=latest, phase=Phase.Active)
    return Plan(
        next_due=following,
        phase=Phase.Active,
        catch_up=latest,
        missed=overdue - 1,
        missed_from=planned,
    )


def unknown_times(
    spec: CronJobSpecSpec,
    status: dict[str, Any],
    created: datetime,
    fired_up_to: datetime | None,
    fired_here: datetime | None,
    cap: int = UNKNOWN_CAP,
) -> tuple[list[datetime], int]:
    """The scheduled times a former holder may have fired without their result reaching
    status: after the last time recorded (or fired by this process), at or before its
    watermark. At most `cap` are returned; the count of the rest comes with them."""
    if fired_up_to is None or spec.suspend:
        return [], 0
    bases = [created - timedelta(microseconds=1)]
    for moment in (parse_time(status.get("lastScheduleTime")), fired_here):
        if moment is not None:
            bases.append(moment)
    times, complete = _fire_times(spec, max(bases), fired_up_to, created, cap)
    if complete:
        return times, 0
    return times, schedule_math.count_fire_times(
        spec.schedule, times[-1], fired_up_to, created, MISSED_COUNT_CAP
    )


def takeover_backlog(
    spec: CronJobSpecSpec,
    status: dict[str, Any],
    created: datetime,
    fired_up_to: datetime,
    now: datetime,
    horizon: timedelta,
    cap: int = TAKEOVER_BACKLOG_CAP,
) -> list[datetime] | None:
    """Every scheduled time after the former holder's watermark (and after the last time
    recorded) up to now: a new holder fires each of them late, once, in order, so a
    handover or a takeover loses nothing. Only when the shard changed hands within
    `horizon` of the watermark (the longest a takeover takes: a lease duration and a few
    renewals) and with at most `cap` times; otherwise None — that was downtime, which
    `plan` judges (catch-up of the latest, the rest missed)."""
    if now - fired_up_to > horizon:
        return None
    after = max(t for t in (fired_up_to, parse_time(status.get("lastScheduleTime"))) if t is not None)
    times, complete = _fire_times(spec, after, now, created, cap)
    return times if complete else None


def _fire_times(
    spec: CronJobSpecSpec, after: datetime, until: datetime, created: datetime, cap: int
) -> tuple[list[datetime], bool]:
    """The fire times in (after, until], at most `cap` of them; False when there are more."""
    times: list[datetime] = []
    for moment in schedule_math.iter_fire_times(spec.schedule, after, created):
        if moment > until:
            return times, True
        if len(times) == cap:
            return times, False
        times.append(moment)
    return times, True


def fired_through(fired: list[datetime], waiting: list[datetime]) -> datetime | None:
    """The watermark a graceful handover leaves: the last scheduled time fired — but below
    any time still waiting to fire, so that none is left at or under it. Runs due at one
    instant go out one by one: a handover between two of them had left the rest under the
    watermark, where the next holder records them Unknown instead of firing them. (What was
    fired above the lowered watermark is recorded in status by then, and the next holder
    starts after each resource's last recorded time.)"""
    if not fired:
        return None
    through = max(fired)
    if waiting and min(waiting) <= through:
        through = min(waiting) - timedelta(microseconds=1)
    return through


def phase_of(spec: CronJobSpecSpec, next_due: datetime | None) -> Phase:
    """The phase of a valid spec: Paused, Active while a run is ahead, else Completed."""
    if spec.suspend:
        return Phase.Paused
    return Phase.Active if next_due is not None else Phase.Completed


def _planned(spec: CronJobSpecSpec, due: datetime | None) -> Plan:
    if due is None:
        return Plan(next_due=None, phase=Phase.Completed)
    return Plan(next_due=due, phase=Phase.Active)


def next_after_run(
    spec: CronJobSpecSpec, scheduled: datetime, now: datetime, created: datetime
) -> datetime | None:
    """The next time after a scheduled one; never in the past (a slow run skips, it does not pile up)."""
    if spec.suspend:
        return None
    return schedule_math.next_fire_after(spec.schedule, max(scheduled, now - timedelta(seconds=1)), created)


# -- status after a run -----------------------------------------------------------------


def _condition(
    existing: list[dict[str, Any]] | None,
    kind: str,
    ok: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Replace one condition; lastTransitionTime moves only when the status flips."""
    conditions = [c for c in (existing or []) if c.get("type") != kind]
    previous = next((c for c in (existing or []) if c.get("type") == kind), None)
    status = "True" if ok else "False"
    changed = previous is None or previous.get("status") != status
    conditions.append(
        {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": rfc3339(now)
            if changed
            else previous.get("lastTransitionTime", rfc3339(now)),
        }
    )
    return sorted(conditions, key=lambda c: c["type"])


def conditions_for(
    status: dict[str, Any], generation: int, now: datetime, problem: Problem | None, phase: Phase
) -> list[dict[str, Any]]:
    conditions = status.get("conditions")
    if problem is not None:
        conditions = _condition(conditions, "Valid", False, "InvalidSpec", str(problem), generation, now)
        return _condition(conditions, "Ready", False, "InvalidSpec", "the spec cannot run", generation, now)
    conditions = _condition(conditions, "Valid", True, "Valid", "the spec is valid", generation, now)
    ready = phase in (Phase.Active, Phase.Completed)
    message = {
        Phase.Active: "scheduled",
        Phase.Paused: "suspended",
        Phase.Completed: "one-shot schedule has run",
    }.get(phase, str(phase))
    return _condition(conditions, "Ready", ready, str(phase), message, generation, now)


def is_invalid_for(status: dict[str, Any], generation: int, problem: Problem) -> bool:
    """Does status already say Invalid for this problem of this generation? (Then the
    operator writes nothing: it never answers its own watch events with writes.)"""
    return (
        status.get("phase") == Phase.Invalid
        and status.get("observedGeneration") == generation
        and any(
            c.get("type") == "Valid" and c.get("message") == str(problem)
            for c in status.get("conditions") or []
        )
    )


def invalid_patch(status: dict[str, Any], generation: int, problem: Problem, now: datetime) -> dict[str, Any]:
    """Phase Invalid, no next run, and a Valid=False condition naming the field."""
    return {
        "phase": str(Phase.Invalid),
        "observedGeneration": generation,
        "nextRunTime": None,
        "conditions": conditions_for(status, generation, now, problem, Phase.Invalid),
    }


def sync_patch(
    status: dict[str, Any],
    *,
    generation: int,
    phase: Phase,
    next_due: datetime | None,
    schedule_text: str | None,
    target_text: str | None,
    problem: Problem | None,
    now: datetime,
) -> dict[str, Any] | None:
    """The status bookkeeping a resource needs when (re)learned, or None when it is current.

    Comparing before writing is what keeps the operator from answering its own watch
    events with more writes.
    """
    wanted: dict[str, Any] = {
        "phase": str(phase),
        "observedGeneration": generation,
        "nextRunTime": rfc3339(next_due) if next_due else None,
        "schedule": schedule_text,
        "target": target_text,
    }
    conditions = conditions_for(status, generation, now, problem, phase)
    current = {k: status.get(k) for k in wanted}
    if current == wanted and _same_conditions(status.get("conditions"), conditions):
        return None
    return {**wanted, "conditions": conditions}


def _same_conditions(a: list[dict[str, Any]] | None, b: list[dict[str, Any]]) -> bool:
    def key(items: list[dict[str, Any]] | None) -> list[tuple[Any, ...]]:
        return sorted(
            (c.get("type"), c.get("status"), c.get("reason"), c.get("message"), c.get("observedGeneration"))
            for c in items or []
        )

    return key(a) == key(b)


def record_patch(
    status: dict[str, Any],
    record: RunRecord,
    *,
    spec: CronJobSpecSpec,
    generation: int,
    next_due: datetime | None,
    now: datetime,
    missed: int = 0,
    unknown: int = 0,
    trigger_value: str | None = None,
    problem: Problem | None = None,
) -> dict[str, Any]:
    """Status after a run finished (or was missed/skipped): one write per transition.

    `problem` is bad content the run ran into (a missing Secret): the resource is then
    Invalid until a run goes through without one (or the Secret re-check finds it)."""
    entry = mergeable(record.model_dump(mode="json", by_alias=True, exclude_none=True))
    limit = spec.history_limit
    history = [h for h in status.get("history") or [] if h.get("id") != record.id]
    history = ([entry, *history])[:limit] if limit else []

    counters = dict(status.get("counters") or {})
    for name in ("runs", "succeeded", "failed", "missed", "consecutiveFailures", "unknown"):
        counters.setdefault(name, 0)
    counters["missed"] += missed
    counters["unknown"] += unknown
    if record.result is RunResult.Succeeded:
        counters["runs"] += 1
        counters["succeeded"] += 1
        counters["consecutiveFailures"] = 0
    elif record.result in (RunResult.Failed, RunResult.Cancelled):
        counters["runs"] += 1
        counters["failed"] += 1
        counters["consecutiveFailures"] += 1
    elif record.result is RunResult.Missed:
        counters["missed"] += 1
    elif record.result is RunResult.Unknown:
        counters["unknown"] += 1

    one_shot = schedule_math.is_one_shot(spec.schedule)
    if spec.suspend:
        phase = Phase.Paused
    elif next_due is None and (one_shot or record.trigger != "manual"):
        phase = Phase.Completed
    else:
        phase = Phase.Active
    if problem is not None:
        phase = Phase.Invalid
    patch: dict[str, Any] = {
        # Exactly this run's record: keys of the previous record it lacks become null.
        "lastRun": merge_patch(status.get("lastRun"), entry),
        "history": history,
        "counters": counters,
        "phase": str(phase),
        "nextRunTime": rfc3339(next_due) if next_due else None,
        "observedGeneration": generation,
        "conditions": conditions_for(status, generation, now, problem, phase),
    }
    if record.scheduled_time is not None and record.trigger != "manual":
        last = parse_time(status.get("lastScheduleTime"))
        if last is None or record.scheduled_time > last:
            patch["lastScheduleTime"] = rfc3339(record.scheduled_time)
    if record.result is RunResult.Succeeded and record.finish_time is not None:
        patch["lastSuccessfulTime"] = rfc3339(record.finish_time)
    if trigger_value is not None:
        patch["lastTrigger"] = trigger_value
    if record.object is not None:
        # The run object's result is recorded: it is no longer in flight.
        patch["active"] = [a for a in status.get("active") or [] if a.get("name") != record.object.name]
    return patch


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`.

    A status write is a merge patch, and a merge patch never removes a key it does not name:
    writing a failed run's record over a succeeded one's kept the old responseCode and
    responseBody. Here every key of `old` that `new` lacks is named with null, objects are
    patched key by key (a nested object, such as a JSON response body, has stale keys
    too), and anything else is replaced whole. `new` must hold no null object member, which
    a merge patch cannot write (see `mergeable`).
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value)
    return patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """`target` with the merge patch (RFC 7386) applied, as the API server does. Pure (a writer
    may hand the same copy out again on Conflict); unpatched members are shared, not copied."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def mergeable(value: Any) -> Any:
    """`value` without null object members, which a merge patch reads as "remove".

    A run record is written twice, as lastRun (merged) and as history[0] (inside a list,
    stored as given): a response body like {"next": null} would differ between the two.
    Lists are stored as given, so nulls inside them stay.
    """
    if isinstance(value, dict):
        return {key: mergeable(item) for key, item in value.items() if item is not None}
    return value


def is_active(status: dict[str, Any], object_name: str) -> bool:
    """Is this run object still listed in flight? Once its result is written it is not:
    that is what makes a second follower (a restarted operator, another instance) record
    nothing."""
    return any(a.get("name") == object_name for a in status.get("active") or [])


def add_active(status: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any] | None:
    """The patch listing a new run object in flight; None when it is listed already."""
    if is_active(status, ref["name"]):
        return None
    return {"active": [*(status.get("active") or []), ref]}
