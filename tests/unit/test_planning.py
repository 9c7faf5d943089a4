"""The operator's decisions as pure functions: catch-up, takeover after a watermark, status after a run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronwright.core.models import CronJobSpecSpec, ObjectRef, RunRecord, RunResult, Trigger
from cronwright.core.runs import manual_run_id, rfc3339, run_id
from cronwright.operator.planning import (
    Problem,
    apply_merge_patch,
    fired_through,
    merge_patch,
    mergeable,
    parse_spec,
    plan,
    record_patch,
    spec_problems,
    sync_patch,
    takeover_backlog,
    unknown_times,
)

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def spec(schedule: dict, **extra: object) -> CronJobSpecSpec:
    return CronJobSpecSpec.model_validate(
        {"schedule": schedule, "http": {"url": "http://127.0.0.1:1/"}, **extra}
    )


def test_new_resource_plans_its_first_run_after_creation() -> None:
    result = plan(spec({"every": "10s"}), {}, created=T0, generation=1, now=T0 + timedelta(seconds=1))
    assert result.next_due == T0 + timedelta(seconds=10)
    assert result.catch_up is None and result.missed == 0


def test_downtime_yields_one_catch_up_for_the_latest_missed_time() -> None:
    status = {"observedGeneration": 1, "nextRunTime": rfc3339(T0 + timedelta(seconds=10)), "phase": "Active"}
    now = T0 + timedelta(seconds=65)
    result = plan(spec({"every": "10s"}), status, created=T0, generation=1, now=now)
    assert result.catch_up == T0 + timedelta(seconds=60)
    assert result.missed == 5  # 10, 20, 30, 40, 50 given up; 60 fired late
    assert result.next_due == T0 + timedelta(seconds=70)


def test_downtime_past_the_starting_deadline_fires_nothing() -> None:
    status = {"observedGeneration": 1, "nextRunTime": rfc3339(T0 + timedelta(seconds=10)), "phase": "Active"}
    now = T0 + timedelta(seconds=65)
    result = plan(
        spec({"every": "10s"}, startingDeadlineSeconds=3), status, created=T0, generation=1, now=now
    )
    assert result.catch_up is None
    assert result.missed == 6
    assert result.next_due == T0 + timedelta(seconds=70)


def test_resume_after_pause_plans_from_now() -> None:
    status = {"observedGeneration": 1, "phase": "Paused", "lastScheduleTime": rfc3339(T0)}
    now = T0 + timedelta(hours=3, seconds=5)
    result = plan(spec({"every": "10s"}), status, created=T0, generation=2, now=now)
    assert result.next_due == T0 + timedelta(hours=3, seconds=10)
    assert result.missed == 0 and result.catch_up is None


def test_completed_one_shot_never_fires_again() -> None:
    status = {"observedGeneration": 1, "phase": "Completed", "lastScheduleTime": rfc3339(T0)}
    result = plan(spec({"at": rfc3339(T0)}), status, created=T0, generation=1, now=T0 + timedelta(days=1))
    assert result.next_due is None and result.catch_up is None


def test_long_downtime_of_an_every_second_job_is_cheap_and_counted() -> None:
    status = {"observedGeneration": 1, "nextRunTime": rfc3339(T0 + timedelta(seconds=1)), "phase": "Active"}
    result = plan(spec({"cron": "* * * * * *"}), status, created=T0, generation=1, now=T0 + timedelta(days=1))
    assert result.catch_up == T0 + timedelta(days=1)
    assert result.missed == 9_999  # counting stops at the cap


@pytest.mark.parametrize(
    ("next_run", "last", "watermark", "now", "due", "catch_up"),
    [
        # the former holder's watermark is after an older nextRunTime: nothing at or
        # before it fires again
        (10, None, 25, 26, 30, None),
        (10, None, 30, 26, 40, None),  # a watermark ahead of now: start after it
        (10, None, 5, 9, 10, None),  # a watermark before nextRunTime changes nothing
        (10, None, None, 9, 10, None),  # no watermark: as before
        (10, None, 25, 45, 50, 40),  # overdue after the watermark: the latest is caught up
    ],
)
def test_plan_after_a_takeover_starts_after_the_former_holders_watermark(
    next_run: int, last: int | None, watermark: int | None, now: int, due: int, catch_up: int | None
) -> None:
    every10 = spec({"every": "10s"})
    status = {"observedGeneration": 1, "nextRunTime": rfc3339(T0 + timedelta(seconds=next_run))}
    if last is not None:
        status["lastScheduleTime"] = rfc3339(T0 + timedelta(seconds=last))
    fired = None if watermark is None else T0 + timedelta(seconds=watermark)
    result = plan(
        every10, status, created=T0, generation=1, now=T0 + timedelta(seconds=now), fired_up_to=fired
    )
    expected_catch_up = None if catch_up is None else T0 + timedelta(seconds=catch_up)
    assert (result.next_due, result.catch_up) == (T0 + timedelta(seconds=due), expected_catch_up)


@pytest.mark.parametrize(
    ("last", "fired_here", "watermark", "unknown"),
    [
        (None, None, 25, [10, 20]),  # nothing recorded: every time up to the watermark
        (10, None, 25, [20]),  # after the last recorded
        (10, 20, 25, []),  # this process fired 20 itself: its result is on its way
        (20, None, 20, []),  # recorded up to the watermark: nothing unknown
        (20, None, 19, []),  # a watermark lowered by a graceful handover
        (None, None, None, []),  # the first holder ever
    ],
)
def test_unknown_times_are_those_after_the_last_record_up_to_the_watermark(
    last: int | None, fired_here: int | None, watermark: int | None, unknown: list[int]
) -> None:
    status = {} if last is None else {"lastScheduleTime": rfc3339(T0 + timedelta(seconds=last))}
    here = None if fired_here is None else T0 + timedelta(seconds=fired_here)
    fired = None if watermark is None else T0 + timedelta(seconds=watermark)
    times, more = unknown_times(spec({"every": "10s"}), status, T0, fired, here)
    assert (times, more) == ([T0 + timedelta(seconds=u) for u in unknown], 0)


def test_unknown_times_beyond_the_cap_are_counted_not_listed() -> None:
    times, more = unknown_times(spec({"every": "1s"}), {}, T0, T0 + timedelta(seconds=250), None, cap=100)
    assert len(times) == 100 and times[-1] == T0 + timedelta(seconds=100)
    assert more == 150


def test_an_unknown_record_is_counted_and_advances_the_last_scheduled_time() -> None:
    due = T0 + timedelta(seconds=20)
    record = RunRecord(id=run_id("u", due), scheduled_time=due, result=RunResult.Unknown)
    patch = record_patch(
        {}, record, spec=spec({"every": "10s"}), generation=1, next_due=None, now=T0, unknown=4
    )
    assert patch["counters"]["unknown"] == 5
    assert patch["counters"]["runs"] == 0
    assert patch["lastScheduleTime"] == rfc3339(due)


def _record(i: int, result: RunResult = RunResult.Succeeded) -> RunRecord:
    due = T0 + timedelta(seconds=i)
    return RunRecord(
        id=run_id("uid", due), scheduled_time=due, start_time=due, finish_time=due, result=result, attempts=1
    )


@settings(max_examples=50, deadline=None)
@given(
    limit=st.integers(min_value=0, max_value=10),
    results=st.lists(st.sampled_from(list(RunResult)), max_size=25),
)
def test_history_bound_and_counters(limit: int, results: list[RunResult]) -> None:
    job = spec({"every": "1s"}, historyLimit=limit)
    status: dict = {}
    for i, result in enumerate(results):
        status = {
            **status,
            **record_patch(status, _record(i, result), spec=job, generation=1, next_due=T0, now=T0),
        }
    history = status.get("history", [])
    assert len(history) == min(limit, len(results))
    assert [h["id"] for h in history] == [
        run_id("uid", T0 + timedelta(seconds=i)) for i in reversed(range(len(results)))
    ][:limit]
    if results:
        counters = status["counters"]
        assert counters["succeeded"] == results.count(RunResult.Succeeded)
        assert counters["failed"] == results.count(RunResult.Failed) + results.count(RunResult.Cancelled)
        assert counters["missed"] == results.count(RunResult.Missed)
        assert counters["runs"] == counters["succeeded"] + counters["failed"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(old=JSON, new=JSON)
def test_merge_patch_turns_the_old_value_into_exactly_the_new_one(old: Any, new: Any) -> None:
    wanted = mergeable(new)
    assert apply_merge_patch(old, merge_patch(old, wanted)) == wanted


def test_merge_patch_names_what_goes_and_only_what_changes() -> None:
    old = {"result": "Succeeded", "responseCode": 200, "responseBody": {"ok": True, "n": 1}}
    new = {"result": "Failed", "responseBody": {"n": 1}, "error": "connection refused"}
    assert merge_patch(old, new) == {
        "result": "Failed",
        "responseCode": None,
        "responseBody": {"ok": None},
        "error": "connection refused",
    }
    assert merge_patch(None, new) == new, "nothing to remove from a first record"
    assert mergeable({"a": None, "b": {"c": None}, "d": [{"e": None}]}) == {"b": {}, "d": [{"e": None}]}


RECORDS = st.builds(
    RunRecord,
    id=st.text("0123456789abcdef", min_size=1, max_size=4),
    result=st.sampled_from(list(RunResult)),
    trigger=st.sampled_from(list(Trigger)),
    attempts=st.integers(0, 3),
    response_code=st.none() | st.sampled_from([200, 404, 500]),
    response_body=st.none() | JSON,
    error=st.none() | st.sampled_from(["HTTP 500", 'spec.http.headersFrom[0]: Secret "s" not found']),
    scheduled_time=st.none() | st.just(T0),
)


@settings(max_examples=100, deadline=None)
@given(records=st.lists(RECORDS, min_size=1, max_size=6), limit=st.integers(1, 3))
def test_last_run_is_exactly_the_newest_record_after_any_sequence(
    records: list[RunRecord], limit: int
) -> None:
    """Regression: a failure after a success showed the success's responseCode and body, a
    success after a missing-Secret failure kept its error."""
    job = spec({"every": "1s"}, historyLimit=limit)
    status: dict = {}
    for record in records:
        patch = record_patch(status, record, spec=job, generation=1, next_due=T0, now=T0)
        status = apply_merge_patch(status, patch)
        newest = mergeable(record.model_dump(mode="json", by_alias=True, exclude_none=True))
        assert status["lastRun"] == newest
        assert status["history"][0] == status["lastRun"]


def test_manual_run_keeps_a_recurring_schedule_active() -> None:
    record = _record(0).model_copy(update={"trigger": Trigger.manual})
    patch = record_patch(
        {}, record, spec=spec({"every": "1s"}), generation=1, next_due=None, now=T0, trigger_value="v"
    )
    assert patch["phase"] == "Active"
    assert patch["lastTrigger"] == "v"
    assert "lastScheduleTime" not in patch


def test_one_shot_completes_after_its_run() -> None:
    patch = record_patch({}, _record(0), spec=spec({"delaySeconds": 5}), generation=1, next_due=None, now=T0)
    assert patch["phase"] == "Completed" and patch["nextRunTime"] is None


def test_a_workflow_result_takes_its_object_off_the_active_list_only() -> None:
    active = [{"apiVersion": "batch/v1", "kind": "Job", "name": n} for n in ("j-1", "j-2")]
    record = _record(0).model_copy(
        update={"object": ObjectRef(api_version="batch/v1", kind="Job", name="j-1")}
    )
    patch = record_patch(
        {"active": active}, record, spec=spec({"every": "1s"}), generation=1, next_due=None, now=T0
    )
    assert patch["active"] == [active[1]]
    assert patch["lastRun"]["object"] == {"apiVersion": "batch/v1", "kind": "Job", "name": "j-1"}
    http_patch = record_patch(
        {"active": active}, _record(0), spec=spec({"every": "1s"}), generation=1, next_due=None, now=T0
    )
    assert "active" not in http_patch


def test_sync_patch_is_none_when_status_is_current() -> None:
    kwargs = dict(
        generation=3,
        phase="Active",
        next_due=T0,
        schedule_text="every 1s",
        target_text="POST x",
        problem=None,
        now=T0,
    )
    first = sync_patch({}, **kwargs)
    assert first is not None
    assert sync_patch(first, **{**kwargs, "now": T0 + timedelta(hours=1)}) is None
    changed = sync_patch(first, **{**kwargs, "next_due": T0 + timedelta(seconds=1)})
    assert changed is not None and changed["nextRunTime"] == rfc3339(T0 + timedelta(seconds=1))


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"schedule": {"cron": "61 * * * *"}, "http": {"url": "http://127.0.0.1/"}}, "spec.schedule.cron"),
        (
            {"schedule": {"every": "1s", "timeZone": "Nowhere/Land"}, "http": {"url": "http://127.0.0.1/"}},
            "spec.schedule.timeZone",
        ),
        (
            {"schedule": {"every": "1s"}, "http": {"url": "http://127.0.0.1/", "method": "FETCH"}},
            "spec.http.method",
        ),
    ],
)
def test_parse_spec_names_the_bad_field(raw: dict, field: str) -> None:
    problem = parse_spec(raw)
    assert isinstance(problem, Problem)
    assert problem.field == field


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        (
            {"schedule": {"cron": "61 * * * *", "timeZone": "Mars/Olympus"}, "http": {"url": "http://h/"}},
            ["spec.schedule.timeZone", "spec.schedule.cron"],
        ),
        (
            {"schedule": {"every": "1ms", "timeZone": "No"}, "http": {"url": "http://h/", "method": "X"}},
            ["spec.http.method", "spec.schedule.timeZone", "spec.schedule.every"],
        ),
        # A schedule the model refuses is reported once, by the model.
        ({"schedule": {"cron": ""}, "http": {"url": "http://h/", "method": "X"}}, None),
        ({"schedule": {"cron": "0 9 * * *"}, "http": {"url": "http://h/"}}, []),
    ],
)
def test_spec_problems_names_every_bad_field(raw: dict, fields: list[str] | None) -> None:
    spec, problems = spec_problems(raw)
    if fields is None:
        assert spec is None
        assert sorted(p.field for p in problems) == ["spec.http.method", "spec.schedule.cron"]
        return
    assert [p.field for p in problems] == fields
    assert (spec is None) == bool(fields)
    first = parse_spec(raw)
    assert first == problems[0] if problems else first == spec


def test_run_ids_are_stable_and_distinct() -> None:
    assert run_id("u", T0) == run_id("u", T0)
    assert run_id("u", T0) != run_id("u", T0 + timedelta(seconds=1))
    assert run_id("u", T0) != run_id("v", T0)
    assert run_id("u", T0, "a") != run_id("u", T0, "b")


def test_a_manual_run_id_is_known_from_the_trigger_value_alone() -> None:
    assert manual_run_id("u", "a") == manual_run_id("u", "a")
    assert manual_run_id("u", "a") not in {
        manual_run_id("u", "b"),
        manual_run_id("v", "a"),
        run_id("u", T0, "a"),
    }


@pytest.mark.parametrize(
    ("last", "watermark", "now", "backlog"),
    [
        (None, 20, 45, [30, 40]),  # a takeover 25 s after the watermark: each time fires late
        (30, 20, 45, [40]),  # after what is recorded, too
        (None, 20, 25, []),  # nothing came due yet
        (None, 20, 60, None),  # 40 s: longer than any takeover, so downtime (plan decides)
    ],
)
def test_takeover_backlog_fires_what_came_due_during_a_handover_and_leaves_downtime_to_plan(
    last: int | None, watermark: int, now: int, backlog: list[int] | None
) -> None:
    status = {} if last is None else {"lastScheduleTime": rfc3339(T0 + timedelta(seconds=last))}
    result = takeover_backlog(
        spec({"every": "10s"}),
        status,
        T0,
        T0 + timedelta(seconds=watermark),
        T0 + timedelta(seconds=now),
        horizon=timedelta(seconds=30),
    )
    assert result == (None if backlog is None else [T0 + timedelta(seconds=b) for b in backlog])


def test_takeover_backlog_beyond_the_cap_is_downtime() -> None:
    every = spec({"every": "1s"})
    horizon = timedelta(minutes=10)
    assert takeover_backlog(every, {}, T0, T0, T0 + timedelta(seconds=5), horizon, cap=5) is not None
    assert takeover_backlog(every, {}, T0, T0, T0 + timedelta(seconds=6), horizon, cap=5) is None


@pytest.mark.parametrize(
    ("fired", "waiting", "through"),
    [
        ([], [5], None),  # nothing fired: the watermark taken over stays
        ([3, 5], [6], 5),  # everything due fired: the last one
        ([3, 5], [5], 5 - 1e-6),  # a run of the same instant still waiting: just below it
        ([3, 5], [4, 9], 4 - 1e-6),
    ],
)
def test_a_handover_watermark_leaves_no_waiting_run_under_it(
    fired: list[int], waiting: list[int], through: float | None
) -> None:
    at = [T0 + timedelta(seconds=s) for s in fired]
    due = [T0 + timedelta(seconds=s) for s in waiting]
    expected = None if through is None else T0 + timedelta(seconds=through)
    assert fired_through(at, due) == expected
