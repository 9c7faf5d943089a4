"""What the dashboard's JSON says about a job: pure functions of one CronJobSpec and now.

Every job of the key's namespace, whatever API made it, in one shape; the readings come
from cronwright.core.job_view, so the dashboard and `kubectl cronwright` agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cronwright.core import job_view

#: Runs shown in the list's history strip, and upcoming runs listed on the job page.
STRIP = 12
TIMELINE = timedelta(hours=24)
TIMELINE_CAP = 288  # every 5 minutes for a day; denser schedules say "and more"


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def summary(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    schedule = job_view.schedule_of(obj)
    fires = job_view.upcoming(obj, now, 1)
    records = job_view.history(obj)
    return {
        "name": obj["metadata"]["name"],
        "title": job_view.title(obj),
        "dialect": job_view.dialect(obj),
        "schedule": job_view.in_words(schedule) if schedule else "Invalid schedule",
        "zone": job_view.zone_of(obj),
        "state": job_view.state(obj),
        "nextRun": iso(fires[0].at) if fires else None,
        "lastResult": job_view.last_result(obj),
        "successRate": job_view.success_rate(records),
        # Oldest first, as a strip reads left to right.
        "recent": [
            {"result": r.get("result"), "time": r.get("startTime") or r.get("scheduledTime")}
            for r in reversed(records[:STRIP])
        ],
    }


def detail(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    status = obj.get("status") or {}
    fires = job_view.upcoming_until(obj, now, now + TIMELINE, cap=TIMELINE_CAP + 1)
    return {
        **summary(obj, now),
        "target": status.get("target") or _target(obj),
        "createdAt": obj["metadata"].get("creationTimestamp"),
        "history": [job_view.run_row(r) for r in job_view.history(obj)],
        "timeline": {
            "from": iso(now),
            "to": iso(now + TIMELINE),
            "runs": [{"at": iso(f.at), "dst": f.dst_note} for f in fires[:TIMELINE_CAP]],
            "more": len(fires) > TIMELINE_CAP,
        },
    }


def _target(obj: dict[str, Any]) -> str:
    """The target in words before the operator has written status.target."""
    spec = obj.get("spec") or {}
    if spec.get("http"):
        return f"{spec['http'].get('method', 'POST')} {spec['http'].get('url', '')}"
    workflow = spec.get("workflow") or {}
    if workflow.get("templateRef"):
        return (
            f"{workflow['templateRef'].get('kind', 'WorkflowTemplate')} {workflow['templateRef'].get('name')}"
        )
    manifest = workflow.get("manifest") or {}
    return f"{manifest.get('kind', 'object')} per run"
