"""The readings of a CronJobSpec both the kubectl plugin and the /ui dashboard show."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwright.core import job_view
from cronwright.core.models import Frequency, Schedule

NOW = datetime(2026, 3, 7, 12, tzinfo=UTC)


def job(schedule: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "j", "namespace": "n", "creationTimestamp": "2026-01-01T00:00:00Z", "uid": "u"},
        "spec": {"schedule": schedule, "http": {"url": "http://127.0.0.1:9/"}, **spec},
    }


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (Schedule(cron="*/5 * * * *"), "Every 5 minutes"),
        (Schedule(cron="0 9 * * 1-5"), "At 09:00, Monday through Friday"),
        (Schedule(cron="@hourly"), "Every hour"),
        (Schedule(cron="*/10 * * * * *"), "Every 10 seconds"),
        (Schedule(frequency=Frequency.daily, time="09:00"), "At 09:00, every day"),
        (Schedule(frequency=Frequency.weekly, time="09:30", day_of_week=0), "At 09:30, only on Sunday"),
        (
            Schedule(frequency=Frequency.monthly, time="23:00", day_of_month=31),
            "At 23:00, on day 31 of the month (the last day in shorter months)",
        ),
        (
            Schedule(frequency=Frequency.monthly, time="06:00", day_of_month=1),
            "At 06:00, on day 1 of the month",
        ),
        (Schedule(at=datetime(2026, 12, 20, 15, tzinfo=UTC)), "Once, at 2026-12-20 15:00:00 UTC"),
        (
            Schedule(at=datetime(2026, 12, 20, 15), time_zone="Europe/Berlin"),
            "Once, at 2026-12-20 14:00:00 UTC",
        ),
        (Schedule(delay_seconds=300), "Once, 5 minutes after it was created"),
        (Schedule(every="1h30m"), "Every 1 hour 30 minutes, counted from creation"),
        (Schedule(every="1s"), "Every 1 second, counted from creation"),
        (Schedule(every="1.5s"), "Every 1 second 500 ms, counted from creation"),
    ],
)
def test_in_words(schedule: Schedule, words: str) -> None:
    assert job_view.in_words(schedule) == words


@pytest.mark.parametrize(
    ("results", "rate"),
    [
        ([], None),
        (["Running"], None),
        (["Skipped", "Skipped"], None),
        (["Succeeded"], 1.0),
        (["Succeeded", "Failed", "Missed", "Succeeded"], 0.5),
        (["Succeeded", "Skipped", "Running", "Cancelled"], 0.5),
    ],
)
def test_success_rate_of_the_kept_history(results: list[str], rate: float | None) -> None:
    assert job_view.success_rate([{"result": r} for r in results]) == rate


@given(st.lists(st.sampled_from(["Succeeded", "Failed", "Missed", "Skipped", "Cancelled", "Running"])))
def test_success_rate_is_a_share(results: list[str]) -> None:
    rate = job_view.success_rate([{"result": r} for r in results])
    assert rate is None or 0 <= rate <= 1
    assert (rate == 1.0) == (bool(rate) and all(r in ("Succeeded", "Skipped", "Running") for r in results))


def test_upcoming_marks_dst_and_stops_for_paused_or_invalid_jobs() -> None:
    fires = job_view.upcoming(job({"cron": "30 2 * * *", "timeZone": "America/New_York"}), NOW, 3)
    assert [f.at for f in fires] == [
        datetime(2026, 3, 8, 7, tzinfo=UTC),
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
        datetime(2026, 3, 10, 6, 30, tzinfo=UTC),
    ]
    assert fires[0].dst_note == "02:30 does not exist that day (DST starts): runs at 03:00 EDT"
    assert fires[1].dst_note is None
    assert job_view.upcoming(job({"cron": "30 2 * * *"}, suspend=True), NOW, 3) == []
    assert job_view.upcoming(job({"cron": "61 * * * *"}), NOW, 3) == []
    assert job_view.upcoming(job({"cron": "* * * * *", "timeZone": "Mars/Olympus"}), NOW, 3) == []
    assert job_view.upcoming(job({"at": "2026-01-02T00:00:00Z"}), NOW, 3) == [], "a used-up one-shot"


def test_upcoming_until_is_bounded() -> None:
    day = job_view.upcoming_until(job({"every": "1s"}), NOW, NOW.replace(day=8), cap=100)
    assert len(day) == 100
    hours = job_view.upcoming_until(job({"cron": "0 * * * *"}), NOW, NOW.replace(day=8))
    assert len(hours) == 24 and hours[-1].at == NOW.replace(day=8)


@pytest.mark.parametrize(
    ("obj", "dialect", "state"),
    [
        (job({"every": "1m"}), "kubectl", "Pending"),
        ({**job({"every": "1m"}), "status": {"phase": "Active"}}, "kubectl", "Active"),
        (job({"every": "1m"}, suspend=True), "kubectl", "Paused"),
        (
            {**job({"every": "1m"}), "metadata": {"labels": {"cronwright.io/dialect": "cronpulse"}}},
            "cronpulse",
            "Pending",
        ),
    ],
)
def test_dialect_and_state(obj: dict[str, Any], dialect: str, state: str) -> None:
    assert job_view.dialect(obj) == dialect
    assert job_view.state(obj) == state
