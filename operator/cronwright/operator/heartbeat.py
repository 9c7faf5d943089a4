"""Heartbeat monitoring (a dead-man's switch): is a job's activity overdue? Pure decisions.

Activity is a successful run (`status.lastSuccessfulTime`) or a ping, the time an outside
process reported in (annotation `cronwright.io/last-ping`). After the latest activity the
job is next due at its schedule's next fire time; with no activity by that time plus the
tolerance, it is Down. Counting from the activity rather than from the last due time means
one late success or ping clears the state at once, and a job that keeps failing stays Down
without the operator having to remember anything but what status already holds.

A suspended job, or one without `spec.heartbeat`, is not monitored: its heartbeat status
and condition are removed. The state is written only when it changes, so a healthy job
costs no writes however often it runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cronwright.core import models
from cronwright.core import schedule as schedule_math
from cronwright.core.models import CronJobSpecSpec, HeartbeatState
from cronwright.core.runs import parse_time, rfc3339

CONDITION = "Heartbeat"


@dataclass(frozen=True)
class Verdict:
    #: None: not monitored.
    state: HeartbeatState | None
    last_activity: datetime | None = None
    #: The instant by which the next activity is expected (None: nothing more is due).
    deadline: datetime | None = None


def last_activity(status: dict[str, Any], annotations: dict[str, str]) -> datetime | None:
    """The later of the last successful run and the last ping; an unreadable ping is no ping."""
    moments = [parse_time(status.get("lastSuccessfulTime"))]
    with contextlib.suppress(ValueError):
        moments.append(parse_time(annotations.get(models.PING_ANNOTATION)))
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def judge(
    spec: CronJobSpecSpec,
    status: dict[str, Any],
    annotations: dict[str, str],
    created: datetime,
    now: datetime,
) -> Verdict:
    if spec.heartbeat is None or spec.suspend:
        return Verdict(None)
    activity = last_activity(status, annotations)
    try:
        due = schedule_math.next_fire_after(spec.schedule, activity or created, created)
    except schedule_math.ScheduleError:
        return Verdict(None)  # an invalid schedule is reported as such, not as a heartbeat
    if due is None:
        return Verdict(HeartbeatState.Up, activity)  # a one-shot that has nothing more due
    deadline = due + timedelta(seconds=spec.heartbeat.tolerance_seconds)
    state = HeartbeatState.Down if now >= deadline else HeartbeatState.Up
    return Verdict(state, activity, deadline)


def status_patch(
    status: dict[str, Any], verdict: Verdict, generation: int, now: datetime
) -> dict[str, Any] | None:
    """The status write a verdict needs, or None when status already says it."""
    current = status.get("heartbeat") or {}
    others = [c for c in status.get("conditions") or [] if c.get("type") != CONDITION]
    if verdict.state is None:
        if not current and len(others) == len(status.get("conditions") or []):
            return None
        return {"heartbeat": None, "conditions": others}
    if current.get("state") == verdict.state:
        return None
    heartbeat: dict[str, Any] = {"state": str(verdict.state), "since": rfc3339(now), "missedDeadline": None}
    if verdict.state is HeartbeatState.Down:
        assert verdict.deadline is not None
        heartbeat["missedDeadline"] = rfc3339(verdict.deadline)
    condition = {
        "type": CONDITION,
        "status": "True" if verdict.state is HeartbeatState.Up else "False",
        "reason": "OnTime" if verdict.state is HeartbeatState.Up else "Late",
        "message": describe(verdict),
        "observedGeneration": generation,
        "lastTransitionTime": rfc3339(now),
    }
    return {"heartbeat": heartbeat, "conditions": sorted([*others, condition], key=lambda c: c["type"])}


def describe(verdict: Verdict) -> str:
    activity = rfc3339(verdict.last_activity) if verdict.last_activity else "never"
    if verdict.state is HeartbeatState.Down:
        assert verdict.deadline is not None
        return f"no successful run or ping by {rfc3339(verdict.deadline)} (last activity: {activity})"
    return f"last activity: {activity}"
