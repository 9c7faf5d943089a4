"""A CronJobSpec as people look at it: schedule in words, next runs, results.

Pure readings of one object (as the API server returns it) and a ``now``, shared by the
kubectl plugin (``kubectl cronwright``) and the facade's dashboard (``/ui``), so both say
the same thing about a job. Next fire times come from the operator's own schedule math
(:mod:`cronwright.core.schedule`), daylight-saving marks included; cron expressions are put
into words by cron-descriptor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cron_descriptor import ExpressionDescriptor, Options
from pydantic import ValidationError

from cronwright.core import schedule as schedule_math
from cronwright.core.models import Frequency, Schedule

DIALECT_LABEL = "cronwright.io/dialect"
#: Results that say the run was not attempted on purpose (Forbid): not in the success rate.
NOT_ATTEMPTED = frozenset({"Skipped"})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Fire:
    """One upcoming run: its instant and, when daylight saving moved or doubled its wall
    time, a note saying how."""

    at: datetime
    dst_note: str | None = None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def schedule_of(obj: dict[str, Any]) -> Schedule | None:
    """The spec's schedule, or None when it is not one the operator could run."""
    try:
        schedule = Schedule.model_validate((obj.get("spec") or {}).get("schedule") or {})
        schedule_math.validate(schedule)
    except (ValidationError, ValueError):
        return None
    return schedule


def created(obj: dict[str, Any]) -> datetime:
    return parse_time(obj["metadata"].get("creationTimestamp")) or datetime.now(UTC)


def in_words(schedule: Schedule) -> str:
    """The schedule as a sentence (without its zone, which is shown beside it)."""
    if schedule.cron is not None:
        expression = schedule_math.CRON_MACROS.get(schedule.cron.strip().lower(), schedule.cron)
        return _cron_words(expression) or f"cron {schedule.cron}"
    if schedule.frequency is not None:
        assert schedule.time is not None
        hour, minute = schedule.time.split(":")
        if schedule.frequency is Frequency.daily:
            return _cron_words(f"{minute} {hour} * * *") + ", every day"
        if schedule.frequency is Frequency.weekly:
            return _cron_words(f"{minute} {hour} * * {schedule.day_of_week}")
        day = schedule.day_of_month
        words = _cron_words(f"{minute} {hour} {day} * *")
        return words + (" (the last day in shorter months)" if day and day > 28 else "")
    if schedule.at is not None:
        at = schedule_math.next_fire_after(schedule, EPOCH, EPOCH)
        return f"Once, at {at:%Y-%m-%d %H:%M:%S} UTC" if at else "Once"
    if schedule.delay_seconds is not None:
        return f"Once, {_duration_words(timedelta(seconds=schedule.delay_seconds))} after it was created"
    assert schedule.every is not None
    return f"Every {_duration_words(schedule_math.parse_duration(schedule.every))}, counted from creation"


def _cron_words(expression: str) -> str:
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    try:
        return ExpressionDescriptor(expression, options).get_description()
    except Exception:  # cron-descriptor raises its own and built-in errors on odd input
        return ""


def _duration_words(span: timedelta) -> str:
    total = span.total_seconds()
    parts = []
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{int(count)} {unit}{'s' if count != 1 else ''}")
    if total:  # sub-second intervals
        parts.append(f"{round(total * 1000)} ms")
    return " ".join(parts) or "0 seconds"


def zone_of(obj: dict[str, Any]) -> str:
    return ((obj.get("spec") or {}).get("schedule") or {}).get("timeZone") or "UTC"


def upcoming(obj: dict[str, Any], now: datetime, count: int) -> list[Fire]:
    """The next ``count`` fire times after ``now``; none while suspended or when the
    schedule is invalid or used up."""
    return list(_fires(obj, now, count, None))


def upcoming_until(obj: dict[str, Any], now: datetime, until: datetime, cap: int = 500) -> list[Fire]:
    """The fire times in (now, until], at most ``cap`` of them (a per-second schedule
    would otherwise list 86,400 for a day)."""
    return list(_fires(obj, now, cap, until))


def _fires(obj: dict[str, Any], now: datetime, count: int, until: datetime | None) -> Iterator[Fire]:
    schedule = schedule_of(obj)
    if schedule is None or (obj.get("spec") or {}).get("suspend") or count <= 0:
        return
    for index, at in enumerate(schedule_math.iter_fire_times(schedule, now, created(obj))):
        if index >= count or (until is not None and at > until):
            return
        yield Fire(at, dst_note(schedule, at))


def dst_note(schedule: Schedule, at: datetime) -> str | None:
    shift = schedule_math.dst_shift(schedule, at)
    if shift is None:
        return None
    zone = ZoneInfo(schedule.time_zone)
    wall = shift.wall.strftime("%H:%M")
    local = at.astimezone(zone)
    if shift.kind == "skipped":
        return f"{wall} does not exist that day (DST starts): runs at {local:%H:%M %Z}"
    return f"{wall} happens twice that day (DST ends): runs once, at the first ({local:%Z})"


def history(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The kept run records, newest first."""
    return list((obj.get("status") or {}).get("history") or [])


def success_rate(records: list[dict[str, Any]]) -> float | None:
    """Share of succeeded runs among the finished ones kept in history (runs skipped by
    concurrencyPolicy Forbid were never attempted and do not count); None without any."""
    finished = [r for r in records if r.get("result") not in (None, "Running", *NOT_ATTEMPTED)]
    if not finished:
        return None
    return sum(r.get("result") == "Succeeded" for r in finished) / len(finished)


def last_result(obj: dict[str, Any]) -> str | None:
    return ((obj.get("status") or {}).get("lastRun") or {}).get("result")


def dialect(obj: dict[str, Any]) -> str:
    """Which API made the job (the facade's label), or kubectl for one applied directly."""
    return ((obj.get("metadata") or {}).get("labels") or {}).get(DIALECT_LABEL) or "kubectl"


def title(obj: dict[str, Any]) -> str | None:
    """The name the job was given in the API that made it (cronpulse, cron-registry and
    agent-schedules keep it in a `<dialect>.cronwright.io/name` annotation); None if none."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return next((v for k, v in sorted(annotations.items()) if k.endswith(".cronwright.io/name") and v), None)


def state(obj: dict[str, Any]) -> str:
    """Paused, the operator's phase, or Pending before the operator has seen the job."""
    if (obj.get("spec") or {}).get("suspend"):
        return "Paused"
    return (obj.get("status") or {}).get("phase") or "Pending"


def run_row(record: dict[str, Any]) -> dict[str, Any]:
    """One history record in the fields both views show."""
    return {
        "id": record.get("id"),
        "scheduled": record.get("scheduledTime"),
        "started": record.get("startTime"),
        "durationMs": record.get("durationMs"),
        "result": record.get("result"),
        "code": record.get("responseCode"),
        "attempts": record.get("attempts", 0),
        "trigger": record.get("trigger", "schedule"),
        "error": record.get("error"),
    }
