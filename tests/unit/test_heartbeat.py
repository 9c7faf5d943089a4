"""The heartbeat decision: when a job is Down, and which status write says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cronwright.core.models import PING_ANNOTATION, CronJobSpecSpec, HeartbeatState
from cronwright.core.runs import rfc3339
from cronwright.operator import heartbeat

CREATED = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)


def spec(cron: str = "*/5 * * * *", tolerance: int | None = 60, **extra: object) -> CronJobSpecSpec:
    raw: dict[str, object] = {"schedule": {"cron": cron}, "http": {"url": "http://127.0.0.1:9/"}, **extra}
    if tolerance is not None:
        raw["heartbeat"] = {"toleranceSeconds": tolerance}
    return CronJobSpecSpec.model_validate(raw)


def at(minutes: float) -> datetime:
    return CREATED + timedelta(minutes=minutes)


def test_up_until_the_first_due_time_plus_tolerance_then_down() -> None:
    # due at 00:05, tolerance 60 s: Down from 00:06 on
    assert heartbeat.judge(spec(), {}, {}, CREATED, at(5.99)).state is HeartbeatState.Up
    verdict = heartbeat.judge(spec(), {}, {}, CREATED, at(6))
    assert verdict.state is HeartbeatState.Down and verdict.deadline == at(6)


def test_a_successful_run_moves_the_deadline_to_the_next_due_time() -> None:
    status = {"lastSuccessfulTime": rfc3339(at(5) + timedelta(seconds=1))}
    verdict = heartbeat.judge(spec(), status, {}, CREATED, at(8))
    assert verdict.state is HeartbeatState.Up and verdict.deadline == at(11)
    assert heartbeat.judge(spec(), status, {}, CREATED, at(11)).state is HeartbeatState.Down


def test_a_ping_counts_as_activity_and_the_later_of_ping_and_run_wins() -> None:
    status = {"lastSuccessfulTime": rfc3339(at(5))}
    ping = {PING_ANNOTATION: rfc3339(at(17))}
    verdict = heartbeat.judge(spec(), status, ping, CREATED, at(20))
    assert verdict.state is HeartbeatState.Up and verdict.last_activity == at(17)
    assert verdict.deadline == at(21)


def test_an_unreadable_ping_is_ignored_not_fatal() -> None:
    verdict = heartbeat.judge(spec(), {}, {PING_ANNOTATION: "yesterday"}, CREATED, at(7))
    assert verdict.state is HeartbeatState.Down and verdict.last_activity is None


def test_not_monitored_without_heartbeat_or_while_suspended() -> None:
    assert heartbeat.judge(spec(tolerance=None), {}, {}, CREATED, at(60)).state is None
    assert heartbeat.judge(spec(suspend=True), {}, {}, CREATED, at(60)).state is None


def test_a_one_shot_job_that_succeeded_has_nothing_more_due() -> None:
    one_shot = CronJobSpecSpec.model_validate(
        {"schedule": {"delaySeconds": 60}, "http": {"url": "http://127.0.0.1:9/"}, "heartbeat": {}}
    )
    assert heartbeat.judge(one_shot, {}, {}, CREATED, at(7)).state is HeartbeatState.Down  # 1 min + 5 min
    done = {"lastSuccessfulTime": rfc3339(at(1))}
    assert heartbeat.judge(one_shot, done, {}, CREATED, at(600)).state is HeartbeatState.Up


def test_status_patch_writes_transitions_only() -> None:
    down = heartbeat.judge(spec(), {}, {}, CREATED, at(6))
    patch = heartbeat.status_patch({"conditions": [{"type": "Ready", "status": "True"}]}, down, 3, at(6))
    assert patch is not None
    assert patch["heartbeat"] == {"state": "Down", "since": rfc3339(at(6)), "missedDeadline": rfc3339(at(6))}
    assert [c["type"] for c in patch["conditions"]] == ["Heartbeat", "Ready"]
    condition = patch["conditions"][0]
    assert (condition["status"], condition["reason"], condition["observedGeneration"]) == ("False", "Late", 3)
    assert "never" in condition["message"]
    # already Down: no write
    assert heartbeat.status_patch(patch, down, 3, at(7)) is None
    # a ping clears it
    up = heartbeat.judge(spec(), patch, {PING_ANNOTATION: rfc3339(at(7))}, CREATED, at(7))
    cleared = heartbeat.status_patch(patch, up, 3, at(7))
    assert cleared is not None and cleared["heartbeat"]["state"] == "Up"
    assert cleared["heartbeat"]["missedDeadline"] is None
    assert cleared["conditions"][0]["status"] == "True"


def test_status_patch_removes_what_an_unmonitored_job_no_longer_needs() -> None:
    status = {
        "heartbeat": {"state": "Down"},
        "conditions": [{"type": "Heartbeat", "status": "False"}, {"type": "Ready", "status": "True"}],
    }
    patch = heartbeat.status_patch(status, heartbeat.Verdict(None), 1, at(0))
    assert patch == {"heartbeat": None, "conditions": [{"type": "Ready", "status": "True"}]}
    assert (
        heartbeat.status_patch({"conditions": patch["conditions"]}, heartbeat.Verdict(None), 1, at(0)) is None
    )


minutes = st.floats(min_value=0, max_value=60 * 24 * 40, allow_nan=False)
crons = st.sampled_from(["* * * * *", "*/5 * * * *", "0 * * * *", "30 9 * * 1-5", "0 0 1 * *"])
tolerances = st.integers(min_value=0, max_value=7 * 24 * 3600)


@given(crons, tolerances, st.none() | minutes, minutes)
def test_a_ping_now_always_clears(cron: str, tolerance: int, activity: float | None, now: float) -> None:
    status = {"lastSuccessfulTime": rfc3339(at(activity))} if activity is not None else {}
    verdict = heartbeat.judge(
        spec(cron, tolerance), status, {PING_ANNOTATION: rfc3339(at(now))}, CREATED, at(now)
    )
    assert verdict.state is HeartbeatState.Up


@given(crons, tolerances, st.none() | minutes, minutes, minutes)
def test_once_down_stays_down_until_new_activity(
    cron: str, tolerance: int, activity: float | None, now: float, later: float
) -> None:
    status = {"lastSuccessfulTime": rfc3339(at(activity))} if activity is not None else {}
    job = spec(cron, tolerance)
    first = heartbeat.judge(job, status, {}, CREATED, at(now))
    if first.state is HeartbeatState.Down:
        again = heartbeat.judge(job, status, {}, CREATED, at(now + later))
        assert again.state is HeartbeatState.Down and again.deadline == first.deadline
        assert first.deadline is not None and first.deadline <= at(now)
        assert first.deadline - timedelta(seconds=tolerance) > (first.last_activity or CREATED)
