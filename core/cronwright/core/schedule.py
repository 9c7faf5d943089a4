"""Schedule math: when a CronJobSpec fires, as pure functions of the spec and a given instant.

Nothing here reads a clock or does I/O, so the operator, the facade and the tests all get
the same answer for the same inputs. Instants go in and come out timezone-aware (out in
UTC); wall-clock schedules (cron and the frequency presets) are matched against naive
local times of ``timeZone`` and only then mapped to instants, so daylight saving is
handled in one place (:func:`_next_wall_fire` and :func:`_instant`), by the rule in
docs/schedules.md:

* every matching wall-clock time fires exactly once;
* a time in a repeated (fall-back) hour fires at its first occurrence only;
* a time skipped by a spring-forward gap fires at the transition instant, and all the
  matches of one gap (with the gap's end time) merge into that one run.

croniter finds the next matching wall-clock time; it is only ever given naive datetimes
because its own handling of aware ones follows a different daylight-saving policy.
"""

from __future__ import annotations

import calendar
import copy
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache, partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from cronwright.core.models import Frequency, Schedule

__all__ = [
    "DstShift",
    "ScheduleError",
    "count_fire_times",
    "describe",
    "dst_shift",
    "is_one_shot",
    "iter_fire_times",
    "next_fire_after",
    "parse_duration",
    "validate",
]

MIN_EVERY = timedelta(seconds=1)
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNIT_US = {"ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}

CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_ITEM = re.compile(
    r"(?P<any>\?)|(?:(?P<star>\*)|(?P<low>[0-9a-z]+)(?:-(?P<high>[0-9a-z]+))?)(?:/(?P<step>[0-9]+))?"
)
_UNRESTRICTED = ("*", "?", "*/1")
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class ScheduleError(ValueError):
    """A schedule the CRD's schema accepted but that cannot run.

    ``field`` is the path of the offending field (``schedule.cron``), so the operator can
    put it in the Invalid condition and the user knows what to fix.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    """Upper end of ``*`` and of an open ``start/step``."""
    aliases: tuple[str, ...] = ()
    """Names for low, low + 1, ... (jan = 1, sun = 0)."""
    top: int | None = None
    """Largest value that may be written, when above ``high`` (7 = Sunday again)."""

    def value(self, token: str) -> int:
        if token in self.aliases:
            return self.low + self.aliases.index(token)
        top = self.high if self.top is None else self.top
        if not token.isdigit() or not self.low <= int(token) <= top:
            raise ValueError(f"{self.name} value {token!r} is not in {self.low}-{top}")
        return int(token)


_SECOND = _CronField("second", 0, 59)
_MINUTE = _CronField("minute", 0, 59)
_HOUR = _CronField("hour", 0, 23)
_DAY_OF_MONTH = _CronField("day-of-month", 1, 31)
_MONTH = _CronField(
    "month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
)
# 7 is Sunday too, as in most crons, but `*` and `1/3` stop at 6 (croniter and
# Kubernetes agree; Vixie cron would add 7 = Sunday to `1/3`). Folded onto 0 on expansion.
_DAY_OF_WEEK = _CronField("day-of-week", 0, 6, tuple(day.lower() for day in WEEKDAYS), top=7)


def parse_duration(text: str) -> timedelta:
    """Read a Go-style duration (``30s``, ``1h30m``, ``1.5h``, ``500ms``).

    Go's syntax because Kubernetes users write durations that way everywhere else; exact
    decimal arithmetic so ``0.1s`` is 100 ms, not a float's approximation of it.
    """
    if not text or _DURATION_PART.sub("", text):
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m, 1.5h or 500ms")
    micros = sum(Decimal(number) * _DURATION_UNIT_US[unit] for number, unit in _DURATION_PART.findall(text))
    try:
        return timedelta(microseconds=int(micros))
    except OverflowError:
        raise ValueError(f"invalid duration {text!r}: too long") from None


def problems(schedule: Schedule) -> list[ScheduleError]:
    """Everything wrong with the schedule that the API server's CEL rules cannot see.

    CEL checks which fields are present; whether a zone exists, a cron expression parses or
    an interval is long enough needs the tz database and a cron parser, so it is done here.
    Each field is judged on its own, so a user fixing a manifest learns of every bad field
    at once instead of one per attempt.
    """
    checks: list[Callable[[], object]] = [partial(_zone, schedule.time_zone)]
    if schedule.cron is not None:
        checks.append(partial(_cron_iterator, schedule.cron))
    if schedule.every is not None:
        checks.append(partial(_interval, schedule.every))
    found = []
    for check in checks:
        try:
            check()
        except ScheduleError as error:
            found.append(error)
    return found


def validate(schedule: Schedule) -> None:
    """Reject what the API server's CEL rules cannot see (the first of `problems`), before
    the operator relies on it."""
    for problem in problems(schedule):
        raise problem


def is_one_shot(schedule: Schedule) -> bool:
    """True when the schedule fires at most once, so the resource can complete."""
    return schedule.at is not None or schedule.delay_seconds is not None


def next_fire_after(schedule: Schedule, after: datetime, created: datetime) -> datetime | None:
    """The first fire instant strictly after ``after`` (UTC), or None when there is none left.

    ``created`` anchors the relative forms (delaySeconds, every), so restarting the
    operator never shifts them.
    """
    _require_aware(after, "after")
    _require_aware(created, "created")
    if schedule.at is not None:
        at = _at_instant(schedule)
        return at if at > after else None
    if schedule.delay_seconds is not None:
        due = (created + timedelta(seconds=schedule.delay_seconds)).astimezone(UTC)
        return due if due > after else None
    if schedule.every is not None:
        interval = _interval(schedule.every)
        return (created + _every_index(after, created, interval) * interval).astimezone(UTC)
    return _next_wall_fire(_wall_rule(schedule), _zone(schedule.time_zone), after)


def iter_fire_times(schedule: Schedule, after: datetime, created: datetime) -> Iterator[datetime]:
    """Successive fire instants after ``after``: what a catch-up or a preview walks."""
    fire = next_fire_after(schedule, after, created)
    while fire is not None:
        yield fire
        fire = next_fire_after(schedule, fire, created)


def count_fire_times(
    schedule: Schedule, after: datetime, until: datetime, created: datetime, cap: int
) -> int:
    """How many fire instants lie in (after, until], counting no further than ``cap``.

    The cap keeps a long outage cheap to assess; ``every`` needs no walk at all.
    """
    for moment, name in ((after, "after"), (until, "until"), (created, "created")):
        _require_aware(moment, name)
    if schedule.every is not None:
        interval = _interval(schedule.every)
        first = _every_index(after, created, interval)
        last = (until - created) // interval
        return max(0, min(cap, last - first + 1))
    count = 0
    for fire in iter_fire_times(schedule, after, created):
        if fire > until or count >= cap:
            break
        count += 1
    return count


def describe(schedule: Schedule) -> str:
    """The schedule in a few words, for the kubectl printer column."""
    zone = f"({schedule.time_zone})"
    if schedule.cron is not None:
        return f"cron {schedule.cron} {zone}"
    if schedule.frequency is Frequency.daily:
        return f"daily {schedule.time} {zone}"
    if schedule.frequency is Frequency.weekly:
        day = WEEKDAYS[schedule.day_of_week] if schedule.day_of_week is not None else "?"
        return f"weekly {day} {schedule.time} {zone}"
    if schedule.frequency is Frequency.monthly:
        return f"monthly day {schedule.day_of_month} {schedule.time} {zone}"
    if schedule.at is not None:
        return f"at {_at_instant(schedule).isoformat().replace('+00:00', 'Z')}"
    if schedule.delay_seconds is not None:
        return f"after {schedule.delay_seconds}s"
    return f"every {schedule.every}"


@dataclass(frozen=True)
class DstShift:
    """How daylight saving changed one fire of a wall-clock schedule.

    ``kind`` is ``skipped`` when the matching wall time ``wall`` did not exist that day
    (spring forward; the run fires at the transition, and every match of the gap merges
    into it), or ``repeated`` when ``wall`` happened twice (fall back; the run fires once,
    at the first).
    """

    kind: str
    wall: datetime
    """The matching wall-clock time (naive, in the schedule's zone)."""


def dst_shift(schedule: Schedule, fire: datetime) -> DstShift | None:
    """Whether daylight saving moved or doubled the wall time behind ``fire``, a fire
    instant of ``schedule`` (from :func:`next_fire_after`). None for interval and one-shot
    schedules, and for fires DST did not touch. For previews (``kubectl cronwright next``)."""
    _require_aware(fire, "fire")
    if schedule.cron is None and schedule.frequency is None:
        return None
    zone = _zone(schedule.time_zone)
    local = fire.astimezone(zone)
    wall = local.replace(tzinfo=None)
    before = (fire - timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None)
    if wall - before > timedelta(seconds=1):
        # The wall clock jumped at this instant: a gap. A match earlier than the wall time
        # after the jump lay inside it and fires here.
        first = _wall_rule(schedule)(before)
        if first < wall:
            return DstShift("skipped", first)
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return DstShift("repeated", wall)
    return None


def _require_aware(moment: datetime, name: str) -> None:
    # A naive instant would be silently read as the host's local time by astimezone().
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")


def _zone(key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "America"
        raise ScheduleError("schedule.timeZone", f"unknown IANA time zone {key!r}") from None


def _interval(every: str) -> timedelta:
    try:
        interval = parse_duration(every)
    except ValueError as error:
        raise ScheduleError("schedule.every", str(error)) from None
    if interval < MIN_EVERY:
        raise ScheduleError("schedule.every", f"{every!r} is shorter than the 1s minimum")
    return interval


def _every_index(after: datetime, created: datetime, interval: timedelta) -> int:
    """The smallest k >= 1 with created + k * interval > after."""
    return max(1, (after - created) // interval + 1)


def _at_instant(schedule: Schedule) -> datetime:
    # An offset-less `at` is a wall-clock time in timeZone, read with the same DST rule.
    at = schedule.at
    assert at is not None
    if at.utcoffset() is None:
        return _instant(_zone(schedule.time_zone), at)
    return at.astimezone(UTC)


# --- wall clock -> instant ----------------------------------------------------------------


def _next_wall_fire(next_match: Callable[[datetime], datetime], zone: ZoneInfo, after: datetime) -> datetime:
    """The first fire instant after ``after`` for a rule over naive wall-clock times.

    Mapping wall times to instants with :func:`_instant` never goes backwards, so the
    answer is the first matching wall time past the wall clock at ``after``. One exception:
    during the second pass of a repeated hour those wall times already fired on the first
    pass, so the search starts where the repeat ends.
    """
    local = after.astimezone(zone)
    start = local.replace(tzinfo=None, microsecond=0)
    if local.fold:
        first_offset, second_offset = local.replace(fold=0).utcoffset(), local.utcoffset()
        assert first_offset is not None and second_offset is not None
        transition = _transition(zone, after - (first_offset - second_offset), after)
        # The repeat ends at wall time transition + first_offset; matches from there on count.
        start = transition.replace(tzinfo=None) + first_offset - timedelta(seconds=1)
    return _instant(zone, next_match(start))


def _instant(zone: ZoneInfo, wall: datetime) -> datetime:
    """The instant a matching wall-clock time fires at: the heart of the DST rule.

    PEP 495 reads an ambiguous wall time with fold=0 as its first occurrence, which is the
    one that fires. A wall time in a gap has fold=0 reading it with the offset from before
    the transition (an instant past the gap) and fold=1 with the one after (an instant
    before it); it fires at the transition between the two.
    """
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC) <= second.astimezone(UTC):
        return first.astimezone(UTC)
    return _transition(zone, second.astimezone(UTC), first.astimezone(UTC))


def _transition(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The instant in (before, after] where the zone's UTC offset changes.

    zoneinfo does not expose its transition table, so bisect on whole seconds (tz data
    has no finer transitions); a DST shift is at most a few hours, about 14 steps.
    """
    low, high = math.floor(before.timestamp()), math.ceil(after.timestamp())
    old = datetime.fromtimestamp(low, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == old:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


# --- wall-clock rules: naive local time -> first matching naive local time after it -------


def _wall_rule(schedule: Schedule) -> Callable[[datetime], datetime]:
    if schedule.cron is not None:
        return partial(_cron_next, schedule.cron)
    assert schedule.time is not None, "time is required with frequency (CEL)"
    hour, minute = (int(part) for part in schedule.time.split(":"))
    if schedule.frequency is Frequency.weekly:
        assert schedule.day_of_week is not None, "dayOfWeek is required with weekly (CEL)"
        return partial(_weekly_next, schedule.day_of_week, hour, minute)
    if schedule.frequency is Frequency.monthly:
        assert schedule.day_of_month is not None, "dayOfMonth is required with monthly (CEL)"
        return partial(_monthly_next, schedule.day_of_month, hour, minute)
    return partial(_daily_next, hour, minute)


def _daily_next(hour: int, minute: int, wall: datetime) -> datetime:
    candidate = wall.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return candidate if candidate > wall else candidate + timedelta(days=1)


def _weekly_next(day_of_week: int, hour: int, minute: int, wall: datetime) -> datetime:
    days_ahead = (day_of_week - (wall.weekday() + 1)) % 7  # weekday(): Monday = 0; ours: Sunday = 0
    candidate = wall.replace(hour=hour, minute=minute, second=0, microsecond=0) + timedelta(days=days_ahead)
    return candidate if candidate > wall else candidate + timedelta(days=7)


def _monthly_next(day_of_month: int, hour: int, minute: int, wall: datetime) -> datetime:
    candidate = _clamped(wall.year, wall.month, day_of_month, hour, minute)
    if candidate > wall:
        return candidate
    year, month = (wall.year + 1, 1) if wall.month == 12 else (wall.year, wall.month + 1)
    return _clamped(year, month, day_of_month, hour, minute)


def _clamped(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """Day ``day`` of the month, or its last day when the month is shorter (31 -> Apr 30)."""
    return datetime(year, month, min(day, calendar.monthrange(year, month)[1]), hour, minute)


def _cron_next(expression: str, wall: datetime) -> datetime:
    # A copy per call: croniter keeps its position in the instance, and the cached one is
    # shared by every resource (and thread) with this expression.
    iterator = copy.copy(_cron_iterator(expression))
    return iterator.get_next(datetime, start_time=wall)


@lru_cache(maxsize=16384)
def _cron_iterator(expression: str) -> croniter:
    """Parse once per distinct expression; thousands of resources share a handful.

    The expression is parsed here rather than by croniter, which accepts more than this
    project documents (random ``R``, hashed ``H``, a year field) and reads an equal range
    such as ``5-5`` as the whole field. croniter gets the expanded value lists and only
    does the calendar search.
    """
    try:
        return croniter(_canonical_cron(expression), datetime(2000, 1, 1))
    except ValueError as error:
        raise ScheduleError("schedule.cron", f"{expression!r}: {error}") from None


def _canonical_cron(expression: str) -> str:
    """croniter's own syntax (seconds last) with every field spelled out as a value list."""
    text = expression.strip().lower()
    if text.startswith("@"):
        if text not in CRON_MACROS:
            raise ValueError(f"unsupported macro {text!r}: use one of {', '.join(CRON_MACROS)}")
        text = CRON_MACROS[text]
    fields = text.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"expected 5 fields, or 6 with a leading seconds field, got {len(fields)}")
    seconds = [_value_list(fields.pop(0), _SECOND)] if len(fields) == 6 else []
    minute, hour, day_of_month, month, day_of_week = fields
    months = _expand(month, _MONTH)
    days = _day_of_month_list(day_of_month, day_of_week, months)
    spelled = (_value_list(minute, _MINUTE), _value_list(hour, _HOUR), days, _value_list(month, _MONTH))
    return " ".join((*spelled, _value_list(day_of_week, _DAY_OF_WEEK), *seconds))


def _day_of_month_list(day_of_month: str, day_of_week: str, months: frozenset[int]) -> str:
    """The day-of-month field, after checking the expression can ever fire.

    Both day fields restricted means either may match (cron's OR), and croniter searches
    50 years for a day side that never occurs (``30 2`` is February 30) before using the
    other side; with the weekday side alone left, ``*`` gives the same days at once.
    """
    if day_of_month in _UNRESTRICTED:
        return _value_list(day_of_month, _DAY_OF_MONTH)
    days = _expand(day_of_month, _DAY_OF_MONTH)
    if any(day <= _LONGEST_MONTH[month - 1] for day in days for month in months):
        return _value_list(day_of_month, _DAY_OF_MONTH)
    if day_of_week in _UNRESTRICTED:
        raise ValueError(f"never fires: no month in {sorted(months)} has day {min(days)} or later")
    return "*"


def _value_list(text: str, field: _CronField) -> str:
    # `*` stays `*`: croniter, like cron, reads a `*` day field as "no restriction" (AND
    # with the other day field) and an explicit list as a restriction (OR).
    if text in _UNRESTRICTED:
        _expand(text, field)
        return "*"
    return ",".join(str(value) for value in sorted(_expand(text, field)))


def _expand(text: str, field: _CronField) -> frozenset[int]:
    """The values a cron field names: lists, ranges, steps, names, ``*`` and ``?``."""
    values: set[int] = set()
    for item in text.split(","):
        match = _CRON_ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"{field.name} field: cannot read {item!r}")
        if match["any"] and field not in (_DAY_OF_MONTH, _DAY_OF_WEEK):
            raise ValueError(f"{field.name} field: '?' is only allowed in the day fields")
        low, high = field.low, field.high
        if match["low"]:
            low = field.value(match["low"])
            high = field.value(match["high"]) if match["high"] else high if match["step"] else low
        step = int(match["step"] or 1)
        if low > high or step == 0:
            raise ValueError(f"{field.name} field: {item!r} is an empty range")
        values.update(range(low, high + 1, step))
    if field is _DAY_OF_WEEK and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)
