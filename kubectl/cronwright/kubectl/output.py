"""What `kubectl cronwright` prints: pure functions from CronJobSpec objects to rows, and
rows to a kubectl-style table, JSON or YAML."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from cronwright.core import job_view

FORMATS = ("table", "json", "yaml")


def when(moment: datetime | None, zone: tzinfo | None, seconds: bool = False) -> str:
    """An instant in a zone, with the zone's abbreviation (None: the machine's own zone)."""
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return local.strftime(f"%Y-%m-%d %H:%M{':%S' if seconds else ''} %Z")


def rfc3339(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.0%}"


def job_item(obj: dict[str, Any], now: datetime, local: tzinfo | None) -> dict[str, Any]:
    """One job for `list`: what the table shows, with machine-readable values."""
    schedule = job_view.schedule_of(obj)
    zone = job_view.zone_of(obj)
    fires = job_view.upcoming(obj, now, 1)
    following = fires[0].at if fires else None
    records = job_view.history(obj)
    return {
        "namespace": obj["metadata"]["namespace"],
        "name": obj["metadata"]["name"],
        "dialect": job_view.dialect(obj),
        "schedule": job_view.in_words(schedule) if schedule else "invalid schedule",
        "zone": zone,
        "state": job_view.state(obj),
        "nextRun": rfc3339(following),
        "nextRunLocal": when(following, local),
        "nextRunJobTime": when(following, _zone(zone)),
        "lastResult": job_view.last_result(obj),
        "successRate": job_view.success_rate(records),
        "keptRuns": len(records),
    }


def list_table(items: Sequence[dict[str, Any]], all_namespaces: bool) -> list[list[str]]:
    header = ["NAME", "SCHEDULE", "ZONE", "NEXT (LOCAL)", "NEXT (JOB TIME)", "LAST RESULT", "SUCCESS"]
    rows = []
    for item in items:
        paused = item["state"] == "Paused"
        row = [
            item["name"],
            item["schedule"],
            item["zone"],
            "paused" if paused else item["nextRunLocal"] or "none",
            "paused" if paused else item["nextRunJobTime"] or "none",
            item["lastResult"] or "-",
            percent(item["successRate"]) or "-",
        ]
        rows.append([item["namespace"], *row] if all_namespaces else row)
    return [["NAMESPACE", *header] if all_namespaces else header, *rows]


def next_item(obj: dict[str, Any], now: datetime, count: int, local: tzinfo | None) -> dict[str, Any]:
    zone = job_view.zone_of(obj)
    return {
        "namespace": obj["metadata"]["namespace"],
        "name": obj["metadata"]["name"],
        "zone": zone,
        "state": job_view.state(obj),
        "fires": [
            {
                "at": rfc3339(fire.at),
                "local": when(fire.at, local),
                "jobTime": when(fire.at, _zone(zone)),
                "dst": fire.dst_note,
            }
            for fire in job_view.upcoming(obj, now, count)
        ],
    }


def next_table(item: dict[str, Any]) -> list[list[str]]:
    rows = [["#", "LOCAL", "JOB TIME", "DST"]]
    rows += [[str(i), f["local"], f["jobTime"], f["dst"] or ""] for i, f in enumerate(item["fires"], 1)]
    return rows


def history_item(obj: dict[str, Any], result: str | None) -> dict[str, Any]:
    runs = [job_view.run_row(r) for r in job_view.history(obj)]
    return {
        "namespace": obj["metadata"]["namespace"],
        "name": obj["metadata"]["name"],
        "runs": [r for r in runs if result is None or r["result"] == result],
    }


def history_table(item: dict[str, Any], local: tzinfo | None) -> list[list[str]]:
    rows = [["SCHEDULED", "STARTED", "DURATION", "RESULT", "CODE", "ATTEMPTS", "TRIGGER"]]
    for run in item["runs"]:
        rows.append(
            [
                when(job_view.parse_time(run["scheduled"]), local, seconds=True) or "-",
                when(job_view.parse_time(run["started"]), local, seconds=True) or "-",
                duration(run["durationMs"]),
                run["result"] or "-",
                str(run["code"]) if run["code"] is not None else "-",
                str(run["attempts"]),
                run["trigger"],
            ]
        )
    return rows


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes}m{seconds:02d}s"


def table(rows: list[list[str]]) -> str:
    """kubectl's layout: columns left-aligned, three spaces apart, no trailing blanks."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def dump(value: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(value, indent=2) + "\n"
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # an invalid spec: its fires are empty anyway
        return UTC
