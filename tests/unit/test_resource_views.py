"""The readings every dialect shares: when a job runs next, whether a run is in flight (a
cron-registry job's `lock_acquired`), and the merge patches that rewrite a spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwright.api.dialects import a1base, cronpulse, resource_views
from cronwright.api.dialects.resource_views import merge_value, next_fire, replacing, run_in_flight, utc_text
from cronwright.core.runs import TRIGGER_ANNOTATION, manual_run_id, run_id
from cronwright.operator.planning import apply_merge_patch

UID = "0b7e4a7c-1d2e-4f3a-9b8c-7d6e5f4a3b2c"
NOW = datetime(2026, 3, 26, 10, 25, tzinfo=UTC)


def job(status: dict[str, Any] | None = None, trigger: str | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"uid": UID, "name": "job-x", "annotations": {}}
    if trigger:
        meta["annotations"][TRIGGER_ANNOTATION] = trigger
    return {"metadata": meta, "spec": {"schedule": {"cron": "0 8 * * *"}, **spec}, "status": status or {}}


def at(minutes: float) -> str:
    return utc_text(NOW + timedelta(minutes=minutes)) or ""


def test_a_fresh_job_has_nothing_in_flight() -> None:
    assert not run_in_flight(job(), NOW)


def test_a_run_object_still_going_is_in_flight() -> None:
    active = [{"apiVersion": "batch/v1", "kind": "Job", "name": "run-1"}]
    assert run_in_flight(job({"active": active}), NOW)


def test_a_next_run_whose_time_has_come_without_a_result_is_in_flight() -> None:
    status = {"nextRunTime": at(-1), "lastScheduleTime": at(-61)}
    assert run_in_flight(job(status), NOW)


def test_a_next_run_ahead_of_time_is_not_a_run() -> None:
    """The operator writes the next run's time together with the last result."""
    status = {"nextRunTime": at(60), "lastScheduleTime": at(-1)}
    assert not run_in_flight(job(status), NOW)


def test_a_next_run_with_its_result_recorded_is_over() -> None:
    due = NOW - timedelta(minutes=1)
    status = {
        "nextRunTime": at(-1),
        "lastScheduleTime": at(-61),
        "lastRun": {"id": run_id(UID, due), "result": "Succeeded"},
    }
    assert not run_in_flight(job(status), NOW)


def test_a_suspended_jobs_next_run_never_fires() -> None:
    status = {"nextRunTime": at(-5), "lastScheduleTime": at(-65)}
    assert not run_in_flight(job(status, suspend=True), NOW)


def test_a_manual_trigger_is_in_flight_until_its_run_is_recorded() -> None:
    asked = job(trigger="t1")
    assert run_in_flight(asked, NOW), "asked for, not yet picked up"
    started = job({"lastTrigger": "t1"}, trigger="t1")
    assert run_in_flight(started, NOW), "picked up, no result yet"
    done = {"lastTrigger": "t1", "history": [{"id": manual_run_id(UID, "t1"), "result": "Succeeded"}]}
    assert not run_in_flight(job(done, trigger="t1"), NOW)
    done_without_history = {"lastTrigger": "t1", "lastRun": {"id": manual_run_id(UID, "t1")}}
    assert not run_in_flight(job(done_without_history, trigger="t1", historyLimit=0), NOW)


def test_a_new_trigger_after_a_finished_one_is_in_flight() -> None:
    done = {"lastTrigger": "t1", "history": [{"id": manual_run_id(UID, "t1"), "result": "Succeeded"}]}
    assert run_in_flight(job(done, trigger="t2"), NOW)


def test_a_manual_run_pushed_out_of_a_full_history_is_not_held_forever() -> None:
    full = {"lastTrigger": "t1", "history": [{"id": f"r{i}"} for i in range(3)], "lastRun": {"id": "r0"}}
    assert not run_in_flight(job(full, trigger="t1", historyLimit=3), NOW)


def scheduled(schedule: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"uid": UID, "name": "job-x", "creationTimestamp": "2026-03-26T09:00:00Z"},
        "spec": {"schedule": schedule, "http": {"url": "http://127.0.0.1:9/hook"}, **spec},
    }


def test_the_next_fire_is_an_instant_of_the_jobs_own_zone() -> None:
    berlin = scheduled({"cron": "0 8 * * *", "timeZone": "Europe/Berlin"})
    assert next_fire(berlin, NOW) == datetime(2026, 3, 27, 7, 0, tzinfo=UTC)  # 08:00 CET


def test_relative_schedules_count_from_the_jobs_creation() -> None:
    delayed = scheduled({"delaySeconds": 3600})
    assert next_fire(delayed, datetime(2026, 3, 26, 9, 30, tzinfo=UTC)) == datetime(
        2026, 3, 26, 10, 0, tzinfo=UTC
    )
    assert next_fire(delayed, NOW) is None, "the delay has passed: nothing is left to run"


def test_nothing_runs_next_while_suspended() -> None:
    assert next_fire(scheduled({"cron": "*/5 * * * *"}, suspend=True), NOW) is None


def test_content_the_operator_refuses_has_no_next_fire() -> None:
    assert next_fire(scheduled({"cron": "61 * * * *"}), NOW) is None
    assert next_fire(scheduled({"cron": "0 8 * * *", "timeZone": "Mars/Olympus"}), NOW) is None
    assert next_fire({"metadata": {"uid": UID}, "spec": {"http": {}}}, NOW) is None


def test_each_dialect_shows_the_same_next_fire_in_its_own_format() -> None:
    obj = scheduled({"cron": "30 8 * * *", "timeZone": "America/New_York"})
    assert next_fire(obj, NOW) == datetime(2026, 3, 26, 12, 30, tzinfo=UTC)
    assert a1base.next_execution(obj, NOW) == "2026-03-26T08:30:00-04:00"
    assert utc_text(next_fire(obj, NOW)) == "2026-03-26T12:30:00Z"
    assert cronpulse.job_view(obj, {}, NOW)["nextRunAt"] == "2026-03-26T12:30:00.000Z"


@given(
    st.dictionaries(
        st.sampled_from("abcd"), st.integers() | st.dictionaries(st.sampled_from("xy"), st.integers())
    )
)
def test_replacing_turns_old_into_new(new: dict[str, Any]) -> None:
    old = {"a": {"x": 1}, "b": 2, "e": {"y": 3}}
    assert apply_merge_patch(old, replacing(old, new)) == new


values = st.recursive(
    st.integers() | st.text(max_size=3),
    lambda inner: st.dictionaries(st.sampled_from(["a", "b", "body"]), inner, max_size=3),
    max_leaves=8,
)


@given(values, values)
def test_merge_value_turns_any_old_value_into_the_new_one(old: Any, new: Any) -> None:
    """At every depth, a request body included: a1base and cronpulse rewrite whole values."""
    assert apply_merge_patch(old, merge_value(old, new)) == new


@pytest.mark.parametrize(
    ("current", "suspend", "written"),
    [(None, True, True), (False, True, True), (True, True, False), (True, False, True), (None, False, False)],
)
def test_suspend_change_writes_only_a_change(current: bool | None, suspend: bool, written: bool) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    spec = {} if current is None else {"suspend": current}
    change = resource_views.suspend_change(suspend, now)({"spec": spec})
    if written:
        assert change == {
            "metadata": {"annotations": {resource_views.UPDATED_ANNOTATION: "2026-03-01T12:00:00Z"}},
            "spec": {"suspend": suspend},
        }
    else:
        assert change is None
