"""Small pure readings and writings of a CronJobSpec shared by the dialects' views.

Each dialect shows the same facts (when it runs next, when it last ran, whether a run is
in flight) under its own field names and in its own time format, and writes its changes as
merge patches; computing them once here keeps the views from drifting apart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cronwright.core import models
from cronwright.core import schedule as schedule_math
from cronwright.core.runs import TRIGGER_ANNOTATION, manual_run_id, parse_time, run_id

DIALECT_LABEL = "cronwright.io/dialect"
UPDATED_ANNOTATION = "cronwright.io/updated-at"


def utc_now() -> datetime:
    """The facade's clock: every view and stamp reads time as an aware UTC instant."""
    return datetime.now(UTC)


def utc_text(moment: datetime | None) -> str | None:
    """Seconds precision with a Z, the shape both documents print."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def created_at(obj: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(obj["metadata"]["creationTimestamp"].replace("Z", "+00:00"))


def next_fire(obj: dict[str, Any], now: datetime) -> datetime | None:
    """The operator's own rule for the next run, so it is right before the operator has seen
    the job; None while suspended, when nothing is left to run, or for content the operator
    refuses (it reports that in status). Each dialect formats the instant its own way."""
    spec = obj["spec"]
    if spec.get("suspend"):
        return None
    try:
        schedule = models.Schedule.model_validate(spec["schedule"])
        return schedule_math.next_fire_after(schedule, now, created_at(obj))
    except (ValueError, KeyError, schedule_math.ScheduleError):
        return None  # invalid content: the operator reports it in status


def last_run_time(status: dict[str, Any]) -> datetime | None:
    run = status.get("lastRun") or {}
    return parse_time(run.get("startTime") or run.get("scheduledTime"))


def run_in_flight(obj: dict[str, Any], now: datetime) -> bool:
    """Whether a run of this job is due or in flight right now, from its status alone.

    - status.active lists run objects still going (workflow targets);
    - nextRunTime has come and has no result yet (the operator writes the *next* time with
      each result, so while nextRunTime is in the past and newer than lastScheduleTime the
      run it names has fired and is in flight, or its result is on its way);
    - a manual trigger (recorded in lastTrigger, or still only asked for in the annotation)
      whose run has no result yet.
    A suspended job's next run never fires, so it does not count.
    """
    status = obj.get("status") or {}
    if status.get("active"):
        return True
    finished = {run.get("id") for run in status.get("history") or []}
    finished.add((status.get("lastRun") or {}).get("id"))
    uid = obj["metadata"]["uid"]
    due = parse_time(status.get("nextRunTime"))
    last_scheduled = parse_time(status.get("lastScheduleTime"))
    if (
        due is not None
        and not obj["spec"].get("suspend")
        and due <= now
        and (last_scheduled is None or due > last_scheduled)
        and run_id(uid, due) not in finished
    ):
        return True
    asked = (obj["metadata"].get("annotations") or {}).get(TRIGGER_ANNOTATION)
    if asked and asked != status.get("lastTrigger") and manual_run_id(uid, asked) not in finished:
        return True  # asked for, not yet picked up by the operator
    recorded = status.get("lastTrigger")
    # A full history may have pushed the manual run's record out: then it cannot be told apart
    # from a finished one, and the operator's own Forbid check is what holds.
    history_full = len(status.get("history") or []) >= int(obj["spec"].get("historyLimit", 20))
    return bool(recorded) and manual_run_id(uid, recorded) not in finished and not history_full


def replacing(
    old: dict[str, Any], new: dict[str, Any], opaque: frozenset[str] = frozenset({"body"})
) -> dict[str, Any]:
    """A merge patch that turns `old` into `new` (null removes what `new` lacks); values under
    `opaque` keys are replaced whole."""
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(old.get(k), dict) and k not in opaque:
            patch[k] = replacing(old[k], v, opaque)
        else:
            patch[k] = v
    return patch


def merge_value(old: Any, new: Any) -> Any:
    """The merge-patch value that turns the value `old` into `new`: objects are merged by a
    merge patch, so the keys `new` lacks are removed explicitly, at every depth."""
    if isinstance(old, dict) and isinstance(new, dict):
        return replacing(old, new, opaque=frozenset())
    return new


def suspend_change(suspend: bool, now: datetime) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """The conditional change that pauses (or resumes) a job, stamping when it was changed;
    nothing to write when the job already is so."""
    stamp = utc_text(now)

    def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
        if bool(fresh["spec"].get("suspend")) == suspend:
            return None
        return {"metadata": {"annotations": {UPDATED_ANNOTATION: stamp}}, "spec": {"suspend": suspend}}

    return change
