"""Schedule math against a brute-force reference, and the daylight-saving rule by example.

The reference is deliberately naive: it walks every local wall-clock minute (or second)
of a window, keeps the ones the expression matches with its own small matcher, and maps
each to an instant by trying both readings of the wall time (the first real one wins) or,
inside a gap, by stepping to the first wall time that exists. It shares no code with
cronwright.core.schedule, so agreement on random expressions near real DST transitions is
evidence for the rule docs/schedules.md states:

* each matching wall-clock time fires exactly once;
* in a repeated hour only its first occurrence fires;
* a time skipped by a gap fires at the transition instant, one run per gap.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import islice, takewhile
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronwright.core.models import Frequency, Schedule
from cronwright.core.schedule import (
    ScheduleError,
    count_fire_times,
    describe,
    dst_shift,
    is_one_shot,
    iter_fire_times,
    next_fire_after,
    parse_duration,
    problems,
    validate,
)

DST_ZONES = (
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "America/Santiago",
)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
CREATED = datetime(2020, 1, 1, tzinfo=UTC)
MAX_COMPARED = 300  # fires compared per example: bounds the cost of dense expressions


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    return list(islice(iter_fire_times(schedule, after, CREATED), count))


def fires_until(schedule: Schedule, after: datetime, until: datetime) -> list[datetime]:
    """Fires in (after, until], at most MAX_COMPARED: a broken rule fails rather than hangs."""
    return list(takewhile(lambda fire: fire <= until, fires(schedule, after, MAX_COMPARED)))


# --- the reference ------------------------------------------------------------------------


def transitions(key: str, first_year: int, last_year: int) -> list[datetime]:
    """Instants where the zone's offset changes: a daily scan, refined minute by minute."""
    zone = ZoneInfo(key)
    found = []
    day = utc(first_year, 1, 1)
    while day.year <= last_year:
        if day.astimezone(zone).utcoffset() != (day + timedelta(days=1)).astimezone(zone).utcoffset():
            minute = day
            while minute.astimezone(zone).utcoffset() == day.astimezone(zone).utcoffset():
                minute += timedelta(minutes=1)
            found.append(minute)
        day += timedelta(days=1)
    return found


ANCHORS = [(key, moment) for key in DST_ZONES for moment in transitions(key, 2025, 2027)] + [
    ("UTC", utc(2026, 3, 8, 7)),
    ("UTC", utc(2028, 2, 28, 23)),
    ("Asia/Kolkata", utc(2026, 10, 25, 1)),
    ("Asia/Kolkata", utc(2026, 12, 31, 18, 30)),
]


def exists(zone: ZoneInfo, wall: datetime, fold: int) -> datetime | None:
    """The instant ``wall`` names when read with ``fold``, or None if it does not exist."""
    instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
    return instant if instant.astimezone(zone).replace(tzinfo=None) == wall else None


@cache
def gap_end(key: str, wall_minute: datetime) -> datetime:
    """The first wall-clock minute after a gap (all these zones shift on whole minutes)."""
    zone = ZoneInfo(key)
    wall = wall_minute
    while exists(zone, wall, 0) is None and exists(zone, wall, 1) is None:
        wall += timedelta(minutes=1)
    return wall


def reference_instant(key: str, wall: datetime) -> datetime:
    zone = ZoneInfo(key)
    real = [instant for fold in (0, 1) if (instant := exists(zone, wall, fold)) is not None]
    if real:
        return min(real)  # a repeated time: its first occurrence
    return reference_instant(key, gap_end(key, wall.replace(second=0)))


def reference_fires(
    matches: Callable[[datetime], bool], key: str, after: datetime, until: datetime, step: timedelta
) -> list[datetime]:
    """Walk the wall clock (with a margin for the offsets), match, map, deduplicate, sort."""
    zone = ZoneInfo(key)
    margin = timedelta(hours=2)
    wall = (after.astimezone(zone).replace(tzinfo=None) - margin).replace(second=0, microsecond=0)
    last = until.astimezone(zone).replace(tzinfo=None) + margin
    found = set()
    while wall <= last:
        if matches(wall):
            instant = reference_instant(key, wall)
            if after < instant <= until:
                found.add(instant)
        wall += step
    return sorted(found)


def reference_field(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int]:
    """The subset the generator writes: *, n, a-b, */s, a-b/s, a/s, names, lists."""

    def number(token: str) -> int:
        return names.index(token) + low if token in names else int(token)

    values: set[int] = set()
    for item in text.split(","):
        span, _, step = item.partition("/")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (number(token) for token in span.split("-"))
        else:
            first = number(span)
            last = high if step else first
        values.update(range(first, last + 1, int(step or 1)))
    return values


def reference_matcher(expression: str) -> Callable[[datetime], bool]:
    fields = expression.split()
    seconds = reference_field(fields.pop(0), 0, 59) if len(fields) == 6 else {0}
    minute, hour, dom, month, dow = fields
    minutes, hours = reference_field(minute, 0, 59), reference_field(hour, 0, 23)
    days, months = reference_field(dom, 1, 31), reference_field(month, 1, 12, MONTHS)
    weekdays = {value % 7 for value in reference_field(dow, 0, 6, DAYS)}
    either = dom not in ("*", "*/1") and dow not in ("*", "*/1")

    def matches(wall: datetime) -> bool:
        on_day = wall.day in days
        on_weekday = (wall.weekday() + 1) % 7 in weekdays
        return (
            wall.second in seconds
            and wall.minute in minutes
            and wall.hour in hours
            and wall.month in months
            and ((on_day or on_weekday) if either else (on_day and on_weekday))
        )

    return matches


def reference_never_fires(expression: str) -> bool:
    *_, dom, month, dow = expression.split()
    if dom in ("*", "*/1") or dow not in ("*", "*/1"):
        return False
    longest = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    return all(
        day > longest[m - 1]
        for day in reference_field(dom, 1, 31)
        for m in reference_field(month, 1, 12, MONTHS)
    )


# --- generators ---------------------------------------------------------------------------


def leaning(favourites: list[int], low: int, high: int) -> st.SearchStrategy[int]:
    """Mostly one of ``favourites``: random crons and presets would rarely meet a transition."""
    return st.integers(1, 10).flatmap(
        lambda roll: st.sampled_from(favourites) if roll <= 7 else st.integers(low, high)
    )


@st.composite
def cron_field(
    draw: st.DrawFn,
    low: int,
    high: int,
    favourites: list[int],
    names: tuple[str, ...] = (),
    top: int = 0,
    wildcard: int = 30,
) -> str:
    """One field, ``*`` in ``wildcard`` percent of cases, values leaning towards ``favourites``."""
    if draw(st.integers(1, 100)) <= wildcard:
        return "*"
    value = leaning(favourites, low, max(high, top))

    def spell(number: int) -> str:
        named = names and number - low < len(names) and draw(st.booleans())
        return names[number - low] if named else str(number)

    items = []
    for _ in range(draw(st.integers(1, 3))):
        first, last = sorted((draw(value), draw(value)))
        step = draw(st.integers(1, max(1, (high - low) // 3)))
        kind = draw(st.sampled_from(["value", "range", "every", "range/step", "start/step"]))
        if kind == "value":
            items.append(spell(first))
        elif kind == "range":
            items.append(f"{spell(first)}-{spell(last)}")
        elif kind == "every":
            items.append(f"*/{step}")
        elif kind == "range/step":
            items.append(f"{spell(first)}-{spell(last)}/{step}")
        elif first <= high:
            items.append(f"{spell(first)}/{step}")
    return ",".join(items) or "*"


@st.composite
def cron_expressions(draw: st.DrawFn, local: datetime, with_seconds: bool) -> str:
    """A cron expression biased towards matching around ``local``, a transition's wall time."""
    near_hours = [(local.hour - 1) % 24, local.hour]  # the gap's or the repeat's hour is one of these
    near_days = [day for day in (local.day - 1, local.day, local.day + 1) if 1 <= day <= 31] + [29, 30, 31]
    weekday = (local.weekday() + 1) % 7
    fields = [
        draw(cron_field(0, 59, [0, 15, 30, 45, 59])),
        draw(cron_field(0, 23, near_hours)),
        draw(cron_field(1, 31, near_days, wildcard=60)),
        draw(cron_field(1, 12, [local.month], MONTHS, wildcard=70)),
        draw(cron_field(0, 6, [weekday, (weekday + 1) % 7, 7], DAYS, top=7, wildcard=60)),
    ]
    if with_seconds:
        fields.insert(0, draw(cron_field(0, 59, [0, 10, 30, 59])))
    return " ".join(fields)


@st.composite
def near_transition(draw: st.DrawFn, before: int, after: int) -> tuple[str, datetime, datetime]:
    """A zone, the wall time of one of its transitions, and a start instant from ``before``
    seconds before it to ``after`` seconds past it (past a fall-back: the repeated hour).

    Hypothesis favours small numbers, so the offset is counted from the earliest start
    (the whole gap or both passes of a repeat in the window) or, one time in four, from the
    transition (a start inside the second pass).
    """
    key, anchor = draw(st.sampled_from(ANCHORS))
    local = anchor.astimezone(ZoneInfo(key)).replace(tzinfo=None)
    from_transition = draw(st.integers(1, 4)) == 1
    offset = draw(st.integers(0, after)) if from_transition else draw(st.integers(0, before + after)) - before
    return key, local, anchor + timedelta(seconds=offset)


def check_cron(key: str, after: datetime, expression: str, window: timedelta, step: timedelta) -> None:
    """iter_fire_times equals the reference over the window (its first MAX_COMPARED fires)."""
    schedule = Schedule(cron=expression, time_zone=key)
    if reference_never_fires(expression):
        with pytest.raises(ScheduleError, match="never fires"):
            validate(schedule)
        return
    validate(schedule)
    until = after + window
    expected = reference_fires(reference_matcher(expression), key, after, until, step)
    assert fires_until(schedule, after, until) == expected[:MAX_COMPARED]
    assert count_fire_times(schedule, after, until, CREATED, cap=50) == min(50, len(expected))


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data(), where=near_transition(before=4 * 3600, after=2 * 3600))
def test_cron_fires_like_the_brute_force_reference(
    data: st.DataObject, where: tuple[str, datetime, datetime]
) -> None:
    key, local, after = where
    expression = data.draw(cron_expressions(local, with_seconds=False))
    check_cron(key, after, expression, timedelta(days=3), timedelta(minutes=1))


@settings(max_examples=40, deadline=None, database=None)
@given(data=st.data(), where=near_transition(before=3600, after=1800))
def test_seconds_field_fires_like_the_brute_force_reference(
    data: st.DataObject, where: tuple[str, datetime, datetime]
) -> None:
    key, local, after = where
    expression = data.draw(cron_expressions(local, with_seconds=True))
    check_cron(key, after, expression, timedelta(hours=2), timedelta(seconds=1))


@st.composite
def presets(draw: st.DrawFn, local: datetime) -> Schedule:
    hour = draw(leaning([(local.hour - 1) % 24, local.hour], 0, 23))
    minute = draw(leaning([0, 15, 30, 45], 0, 59))
    frequency = draw(st.sampled_from(Frequency))
    extra: dict[str, int] = {}
    if frequency is Frequency.weekly:
        extra["day_of_week"] = draw(leaning([(local.weekday() + 1) % 7], 0, 6))
    if frequency is Frequency.monthly:
        extra["day_of_month"] = draw(leaning([local.day], 1, 31))
    return Schedule(frequency=frequency, time=f"{hour:02}:{minute:02}", **extra)


def preset_matcher(schedule: Schedule) -> Callable[[datetime], bool]:
    hour, minute = (int(part) for part in (schedule.time or "").split(":"))

    def on_day(wall: datetime) -> bool:
        if schedule.frequency is Frequency.weekly:
            return (wall.weekday() + 1) % 7 == schedule.day_of_week
        if schedule.frequency is Frequency.monthly:
            return wall.day == min(schedule.day_of_month or 0, calendar.monthrange(wall.year, wall.month)[1])
        return True

    return lambda wall: wall.hour == hour and wall.minute == minute and on_day(wall)


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data(), where=near_transition(before=30 * 3600, after=2 * 3600))
def test_presets_fire_like_the_brute_force_reference(
    data: st.DataObject, where: tuple[str, datetime, datetime]
) -> None:
    key, local, after = where
    schedule = data.draw(presets(local)).model_copy(update={"time_zone": key})
    until = after + timedelta(days=3)
    expected = reference_fires(preset_matcher(schedule), key, after, until, timedelta(minutes=1))
    assert fires_until(schedule, after, until) == expected


def reference_shift(
    matches: Callable[[datetime], bool], key: str, fire: datetime
) -> tuple[str, datetime] | None:
    """What DST did to ``fire``, by brute force: the matching wall minutes that map to it
    (some inside a gap: skipped), or its own wall time read twice (repeated)."""
    zone = ZoneInfo(key)
    local = fire.astimezone(zone).replace(tzinfo=None)
    walls, wall = [], local - timedelta(hours=3)
    while wall <= local:
        if matches(wall) and reference_instant(key, wall) == fire:
            walls.append(wall)
        wall += timedelta(minutes=1)
    in_gap = [w for w in walls if exists(zone, w, 0) is None and exists(zone, w, 1) is None]
    if in_gap:
        return "skipped", min(in_gap)
    first, second = exists(zone, local, 0), exists(zone, local, 1)
    if first is not None and second is not None and first != second:
        return "repeated", local
    return None


@settings(max_examples=150, deadline=None, database=None)
@given(data=st.data(), where=near_transition(before=4 * 3600, after=2 * 3600))
def test_dst_shift_names_what_the_reference_sees(
    data: st.DataObject, where: tuple[str, datetime, datetime]
) -> None:
    key, local, after = where
    expression = data.draw(cron_expressions(local, with_seconds=False))
    if reference_never_fires(expression):
        return
    schedule = Schedule(cron=expression, time_zone=key)
    for fire in fires_until(schedule, after, after + timedelta(hours=8))[:40]:
        shift = dst_shift(schedule, fire)
        got = (shift.kind, shift.wall) if shift else None
        assert got == reference_shift(reference_matcher(expression), key, fire), fire


def test_dst_shift_examples() -> None:
    new_york = Schedule(cron="30 1,2 * * *", time_zone="America/New_York")
    spring = next_fire_after(new_york, utc(2026, 3, 8, 6, 31), CREATED)
    assert spring == utc(2026, 3, 8, 7)  # 03:00 EDT, the transition
    shift = dst_shift(new_york, spring)
    assert shift is not None and (shift.kind, shift.wall) == ("skipped", datetime(2026, 3, 8, 2, 30))
    fall = next_fire_after(new_york, utc(2026, 11, 1, 5), CREATED)
    assert fall == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first of the two
    shift = dst_shift(new_york, fall)
    assert shift is not None and (shift.kind, shift.wall) == ("repeated", datetime(2026, 11, 1, 1, 30))
    assert dst_shift(new_york, utc(2026, 3, 9, 5, 30)) is None
    assert dst_shift(Schedule(every="1h", time_zone="America/New_York"), spring) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        dst_shift(new_york, datetime(2026, 3, 8, 7))


@settings(max_examples=60, deadline=None, database=None)
@given(
    key=st.sampled_from(("UTC", *DST_ZONES)),
    day=st.integers(1, 31),
    hour=st.integers(0, 23),
    after=st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
)
def test_monthly_clamps_to_short_months_over_a_year(key: str, day: int, hour: int, after: datetime) -> None:
    """Over 14 months, walking days (the preset matches one wall time a day at most)."""
    schedule = Schedule(frequency=Frequency.monthly, day_of_month=day, time=f"{hour:02}:30", time_zone=key)
    until = after + timedelta(days=426)
    matches = preset_matcher(schedule)
    expected: list[datetime] = []
    wall = after.astimezone(ZoneInfo(key)).replace(tzinfo=None, hour=hour, minute=30, second=0, microsecond=0)
    for offset in range(-2, 430):
        candidate = wall + timedelta(days=offset)
        if matches(candidate) and after < (instant := reference_instant(key, candidate)) <= until:
            expected.append(instant)
    assert fires_until(schedule, after, until) == expected
    assert len(expected) >= 13  # one a month: short months are clamped, never skipped


@settings(max_examples=200, deadline=None, database=None)
@given(
    created=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
    seconds=st.integers(1, 100_000),
    millis=st.sampled_from([0, 250, 500]),
    periods=st.integers(-5, 1000),
    span=st.integers(0, 10),
    jitter=st.integers(0, 10**9),
)
def test_every_is_creation_plus_whole_intervals(
    created: datetime, seconds: int, millis: int, periods: int, span: int, jitter: int
) -> None:
    every = f"{seconds}s{millis}ms" if millis else f"{seconds}s"
    interval = timedelta(seconds=seconds, milliseconds=millis)
    after = created + periods * interval + timedelta(microseconds=jitter) % interval
    until = after + span * interval + timedelta(microseconds=jitter // 7) % interval
    schedule = Schedule(every=every)
    k = 1
    while created + k * interval <= after:
        k += 1
    assert list(islice(iter_fire_times(schedule, after, created), 3)) == [
        created + j * interval for j in (k, k + 1, k + 2)
    ]
    brute = sum(1 for j in range(k, k + span + 2) if created + j * interval <= until)
    assert count_fire_times(schedule, after, until, created, cap=10**9) == brute
    assert count_fire_times(schedule, after, until, created, cap=3) == min(3, brute)


# --- daylight saving, by example ----------------------------------------------------------


def test_new_york_spring_forward_daily_0230_fires_once_at_0300_edt() -> None:
    schedule = Schedule(frequency=Frequency.daily, time="02:30", time_zone="America/New_York")
    assert fires(schedule, utc(2026, 3, 7, 12), 3) == [
        utc(2026, 3, 8, 7),  # 02:30 does not exist on March 8: 03:00 EDT, the transition
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT
        utc(2026, 3, 10, 6, 30),
    ]


def test_new_york_fall_back_daily_0130_fires_once_in_edt() -> None:
    schedule = Schedule(frequency=Frequency.daily, time="01:30", time_zone="America/New_York")
    assert fires(schedule, utc(2026, 10, 31, 12), 2) == [
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT; 01:30 EST (06:30Z) an hour later does not fire
        utc(2026, 11, 2, 6, 30),  # 01:30 EST
    ]


def test_hourly_cron_fires_24_times_on_the_25_hour_day() -> None:
    schedule = Schedule(cron="0 * * * *", time_zone="America/New_York")
    start, end = utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)  # local midnight to midnight: 25 hours
    day = fires_until(schedule, start - timedelta(seconds=1), end - timedelta(seconds=1))
    assert len(day) == 24
    assert day[:3] == [utc(2026, 11, 1, 4), utc(2026, 11, 1, 5), utc(2026, 11, 1, 7)]  # no 06:00Z: 01:00 EST
    assert (
        count_fire_times(schedule, start - timedelta(seconds=1), end - timedelta(seconds=1), CREATED, 100)
        == 24
    )


def test_hourly_cron_fires_23_times_on_the_23_hour_day() -> None:
    schedule = Schedule(cron="0 * * * *", time_zone="America/New_York")
    start, end = utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)
    day = fires_until(schedule, start - timedelta(seconds=1), end - timedelta(seconds=1))
    assert len(day) == 23
    # 02:00 falls in the gap and 03:00 EDT is the transition itself: one run at 07:00Z
    assert day[:4] == [utc(2026, 3, 8, 5), utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)]


def test_after_inside_the_repeated_hour_skips_to_its_end() -> None:
    schedule = Schedule(cron="*/20 * * * *", time_zone="America/New_York")
    second_pass = utc(2026, 11, 1, 6, 10)  # 01:10 EST: 01:20 and 01:40 already ran in EDT
    assert next_fire_after(schedule, second_pass, CREATED) == utc(2026, 11, 1, 7)


def test_lord_howe_half_hour_shifts() -> None:
    spring = Schedule(frequency=Frequency.daily, time="02:15", time_zone="Australia/Lord_Howe")
    assert fires(spring, utc(2026, 10, 2, 12), 3) == [
        utc(2026, 10, 2, 15, 45),  # 02:15 +10:30
        utc(2026, 10, 3, 15, 30),  # 02:00-02:30 skipped on Oct 4: the transition, 02:30 +11:00
        utc(2026, 10, 4, 15, 15),  # 02:15 +11:00
    ]
    quarter_hourly = Schedule(cron="*/15 * * * *", time_zone="Australia/Lord_Howe")
    # 01:30-02:00 repeats on April 5: 01:30 and 01:45 fire at +11:00 only, then 02:00 +10:30
    assert fires(quarter_hourly, utc(2026, 4, 4, 14, 20), 4) == [
        utc(2026, 4, 4, 14, 30),
        utc(2026, 4, 4, 14, 45),
        utc(2026, 4, 4, 15, 30),
        utc(2026, 4, 4, 15, 45),
    ]


def test_santiago_transitions_at_midnight_cross_the_date() -> None:
    spring = Schedule(frequency=Frequency.daily, time="00:30", time_zone="America/Santiago")
    # September 6 has no 00:00-00:59: 00:30 runs at 01:00 -03, the transition
    assert next_fire_after(spring, utc(2026, 9, 5, 12), CREATED) == utc(2026, 9, 6, 4)
    fall = Schedule(frequency=Frequency.daily, time="23:30", time_zone="America/Santiago")
    # 23:00-23:59 on April 4 happens twice: the first (-03) fires, the second (-04) does not
    assert fires(fall, utc(2026, 4, 4, 12), 2) == [utc(2026, 4, 5, 2, 30), utc(2026, 4, 6, 3, 30)]


def test_seconds_in_a_gap_merge_into_one_run() -> None:
    schedule = Schedule(cron="*/20 * * * * *", time_zone="America/New_York")
    assert fires(schedule, utc(2026, 3, 8, 6, 59, 30), 4) == [
        utc(2026, 3, 8, 6, 59, 40),
        utc(2026, 3, 8, 7),  # the whole 02:00-03:00 gap, and 03:00:00 itself
        utc(2026, 3, 8, 7, 0, 20),
        utc(2026, 3, 8, 7, 0, 40),
    ]


# --- forms and fields, by example ---------------------------------------------------------


def test_monthly_day_31_clamps_to_the_last_day() -> None:
    schedule = Schedule(frequency=Frequency.monthly, day_of_month=31, time="09:00")
    assert fires(schedule, utc(2027, 1, 1), 4) == [
        utc(2027, 1, 31, 9),
        utc(2027, 2, 28, 9),
        utc(2027, 3, 31, 9),
        utc(2027, 4, 30, 9),
    ]
    assert next_fire_after(schedule, utc(2028, 2, 1), CREATED) == utc(2028, 2, 29, 9)  # leap year


def test_cron_day_of_month_does_not_clamp() -> None:
    schedule = Schedule(cron="0 9 31 * *")
    assert fires(schedule, utc(2027, 1, 31, 10), 2) == [utc(2027, 3, 31, 9), utc(2027, 5, 31, 9)]


def test_cron_day_fields_are_ored_when_both_are_restricted() -> None:
    schedule = Schedule(cron="0 0 13 * fri")  # the 13th, and every Friday
    assert fires(schedule, utc(2026, 2, 1), 4) == [
        utc(2026, 2, 6),
        utc(2026, 2, 13),
        utc(2026, 2, 20),
        utc(2026, 2, 27),
    ]


def test_weekly_day_0_is_sunday() -> None:
    schedule = Schedule(frequency=Frequency.weekly, day_of_week=0, time="09:00")
    assert fires(schedule, utc(2026, 1, 1), 2) == [utc(2026, 1, 4, 9), utc(2026, 1, 11, 9)]  # Sundays
    assert next_fire_after(Schedule(cron="0 9 * * 7"), utc(2026, 1, 1), CREATED) == utc(2026, 1, 4, 9)


def test_every_counts_from_creation() -> None:
    schedule = Schedule(every="30s")
    created = utc(2026, 1, 1, 12)
    assert next_fire_after(schedule, created - timedelta(hours=1), created) == utc(2026, 1, 1, 12, 0, 30)
    assert next_fire_after(schedule, created, created) == utc(2026, 1, 1, 12, 0, 30)
    assert next_fire_after(schedule, utc(2026, 1, 1, 12, 0, 45), created) == utc(2026, 1, 1, 12, 1)
    assert next_fire_after(schedule, utc(2026, 1, 1, 12, 1), created) == utc(2026, 1, 1, 12, 1, 30)
    ten_years = created + timedelta(days=3653)
    assert count_fire_times(schedule, created, ten_years, created, cap=10**12) == 3653 * 24 * 120


def test_one_shots() -> None:
    at = Schedule(at=datetime(2026, 12, 20, 15, tzinfo=UTC))
    assert is_one_shot(at)
    assert next_fire_after(at, utc(2026, 12, 20, 14), CREATED) == utc(2026, 12, 20, 15)
    assert next_fire_after(at, utc(2026, 12, 20, 15), CREATED) is None
    delay = Schedule(delay_seconds=3600)
    assert is_one_shot(delay)
    assert next_fire_after(delay, CREATED, CREATED) == CREATED + timedelta(hours=1)
    assert next_fire_after(delay, CREATED + timedelta(hours=2), CREATED) is None
    assert list(iter_fire_times(delay, CREATED, CREATED)) == [CREATED + timedelta(hours=1)]
    assert not is_one_shot(Schedule(every="1m"))


def test_offset_less_at_is_read_in_the_time_zone() -> None:
    at = Schedule(at=datetime(2026, 3, 8, 2, 30), time_zone="America/New_York")  # in the gap
    assert next_fire_after(at, CREATED, CREATED) == utc(2026, 3, 8, 7)


def test_seconds_field_steps_by_ten_seconds() -> None:
    schedule = Schedule(cron="*/10 * * * * *")
    assert fires(schedule, utc(2026, 1, 1, 0, 0, 5), 3) == [
        utc(2026, 1, 1, 0, 0, 10),
        utc(2026, 1, 1, 0, 0, 20),
        utc(2026, 1, 1, 0, 0, 30),
    ]


@pytest.mark.parametrize(
    ("macro", "first"),
    [
        ("@hourly", utc(2026, 1, 1, 11)),
        ("@daily", utc(2026, 1, 2)),
        ("@midnight", utc(2026, 1, 2)),
        ("@weekly", utc(2026, 1, 4)),  # Sunday
        ("@monthly", utc(2026, 2, 1)),
        ("@yearly", utc(2027, 1, 1)),
        ("@annually", utc(2027, 1, 1)),
        ("@DAILY", utc(2026, 1, 2)),
    ],
)
def test_macros(macro: str, first: datetime) -> None:
    assert next_fire_after(Schedule(cron=macro), utc(2026, 1, 1, 10, 30), CREATED) == first


def test_equal_range_is_one_value_not_the_whole_field() -> None:
    # croniter alone reads 5-5 as every minute; here it is minute 5.
    assert fires(Schedule(cron="5-5 * * * *"), utc(2026, 1, 1), 2) == [
        utc(2026, 1, 1, 0, 5),
        utc(2026, 1, 1, 1, 5),
    ]


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_after(Schedule(cron="* * * * *"), datetime(2026, 1, 1), CREATED)


# --- validation, durations, descriptions --------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        (Schedule(cron="61 * * * *"), "schedule.cron"),
        (Schedule(cron="* * * *"), "schedule.cron"),
        (Schedule(cron="0 0 1 1 * 2030 x"), "schedule.cron"),
        (Schedule(cron="@reboot"), "schedule.cron"),
        (Schedule(cron="@every 5m"), "schedule.cron"),
        (Schedule(cron="R * * * *"), "schedule.cron"),
        (Schedule(cron="H * * * *"), "schedule.cron"),
        (Schedule(cron="0 0 L * *"), "schedule.cron"),
        (Schedule(cron="*/0 * * * *"), "schedule.cron"),
        (Schedule(cron="10-5 * * * *"), "schedule.cron"),
        (Schedule(cron="? * * * *"), "schedule.cron"),
        (Schedule(cron="0 0 30 2 *"), "schedule.cron"),
        (Schedule(cron="0 9 * * 1", time_zone="Mars/Olympus_Mons"), "schedule.timeZone"),
        (Schedule(cron="0 9 * * 1", time_zone="../etc/passwd"), "schedule.timeZone"),
        (Schedule(cron="0 9 * * 1", time_zone="America"), "schedule.timeZone"),
        (Schedule(every="500ms"), "schedule.every"),
        (Schedule(every="99999999999999999999h"), "schedule.every"),
    ],
)
def test_validate_names_the_field(schedule: Schedule, field: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        validate(schedule)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_problems_names_every_bad_field_and_validate_raises_the_first() -> None:
    schedule = Schedule(cron="61 * * * *", time_zone="Mars/Olympus")
    assert [p.field for p in problems(schedule)] == ["schedule.timeZone", "schedule.cron"]
    with pytest.raises(ScheduleError) as raised:
        validate(schedule)
    assert raised.value.field == "schedule.timeZone"
    assert problems(Schedule(every="1m", time_zone="Europe/Paris")) == []


@pytest.mark.parametrize(
    "cron",
    [
        "0 9 * * 1-5",
        "*/10 * * * * *",
        "0 0 ? * MON",
        "0 0 1 jan-mar,dec *",
        "0 0 30 2 1",
        "0 0 * * 0-7",
        "@weekly",
    ],
)
def test_validate_accepts(cron: str) -> None:
    validate(Schedule(cron=cron, time_zone="Europe/London"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("0.1s", timedelta(milliseconds=100)),
        ("1m1m", timedelta(minutes=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "1d", "-5s", "1h 30m", "h", ".5s", "1.s"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (Schedule(cron="0 9 * * 1-5", time_zone="America/New_York"), "cron 0 9 * * 1-5 (America/New_York)"),
        (Schedule(frequency=Frequency.daily, time="09:00"), "daily 09:00 (UTC)"),
        (Schedule(frequency=Frequency.weekly, day_of_week=1, time="09:00"), "weekly Mon 09:00 (UTC)"),
        (Schedule(frequency=Frequency.monthly, day_of_month=31, time="09:00"), "monthly day 31 09:00 (UTC)"),
        (Schedule(at=datetime(2026, 12, 20, 15, tzinfo=UTC)), "at 2026-12-20T15:00:00Z"),
        (Schedule(delay_seconds=3600), "after 3600s"),
        (Schedule(every="30s"), "every 30s"),
    ],
)
def test_describe(schedule: Schedule, text: str) -> None:
    assert describe(schedule) == text
