"""Every schedule form fires at the right instants, with exactly the request it describes."""

from __future__ import annotations

import base64
import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronwright.core.runs import parse_time
from cronwright.core.signing import verify
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, status, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver

LATE = 1.0  # arrival may trail the scheduled time by this much on a loaded 2-core CI machine


def _arrival_offsets(requests: list) -> list[float]:
    return [r.at - parse_time(r.scheduled).timestamp() for r in requests]


def _on_time(requests: list) -> bool:
    """Never early; after the first, never more than LATE behind. The first run of a new
    resource may be due before its claim (its first status write) is through, so it may
    trail by what that write took on a busy API server."""
    offsets = _arrival_offsets(requests)
    return all(offset >= 0 for offset in offsets) and all(offset < LATE for offset in offsets[1:])


def test_every_sends_the_described_request(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hook"},
        "data": {
            "token": base64.b64encode(b"Bearer s3cret").decode(),
            "key": base64.b64encode(b"signing-key").decode(),
        },
    }
    job = cronjobspec(
        "every-second",
        {"every": "1s"},
        {
            "url": receiver.url("/every"),
            "method": "PUT",
            "headers": {"X-Team": "blue"},
            "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "hook", "key": "token"}}],
            "signing": {"secretKeyRef": {"name": "hook", "key": "key"}},
            "body": {"action": "tick", "n": 1},
        },
    )
    apply(cluster, namespace, secret, job)
    requests = wait_for(
        lambda: receiver.at("/every")[:3] if len(receiver.at("/every")) >= 3 else None, 20, "3 runs"
    )

    for request in requests:
        assert request.method == "PUT"
        assert request.json() == {"action": "tick", "n": 1}
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-team"] == "blue"
        assert request.headers["authorization"] == "Bearer s3cret"
        assert request.headers["user-agent"].startswith("cronwright/")
        assert verify(
            b"signing-key", request.body, request.headers["x-cronwright-signature"], now=int(time.time())
        )
        assert not verify(
            b"wrong-key", request.body, request.headers["x-cronwright-signature"], now=int(time.time())
        )
    keys = [r.headers["idempotency-key"] for r in requests]
    assert len(set(keys)) == 3, "each run has its own idempotency key"
    scheduled = [parse_time(r.scheduled) for r in requests]
    assert [b - a for a, b in itertools.pairwise(scheduled)] == [timedelta(seconds=1)] * 2
    assert _on_time(requests), _arrival_offsets(requests)

    def recorded() -> dict | None:
        current = status(cluster, namespace, "every-second")
        return current if (current.get("counters") or {}).get("succeeded", 0) >= 3 else None

    current = wait_for(recorded, 10, "3 results in status")
    assert current["phase"] == "Active"
    assert current["lastRun"]["responseCode"] == 200
    assert current["lastRun"]["responseBody"] == {"ok": True}
    assert current["lastRun"]["trigger"] == "schedule"
    history_times = [h["scheduledTime"] for h in current["history"]]
    assert history_times == sorted(history_times, reverse=True), "history is newest first"
    assert parse_time(current["nextRunTime"]) > parse_time(current["lastScheduleTime"])


def test_cron_with_seconds_field_fires_on_matching_seconds(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, cronjobspec("even", {"cron": "*/2 * * * * *"}, {"url": receiver.url("/even")}))
    requests = wait_for(
        lambda: receiver.at("/even") if len(receiver.at("/even")) >= 3 else None, 20, "3 runs"
    )
    seconds = [parse_time(r.scheduled).second for r in requests]
    assert all(s % 2 == 0 for s in seconds), seconds
    assert _on_time(requests), _arrival_offsets(requests)


def test_wall_clock_forms_fire_at_the_next_minute_in_their_zones(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    """5-field cron, daily, weekly and monthly presets, each in another zone, all due at
    the coming minute boundary (at most a minute of waiting for four forms at once)."""
    now = datetime.now(UTC)
    boundary = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (boundary - now).total_seconds() < 8:  # leave time to create and claim
        boundary += timedelta(minutes=1)
    jobs = []
    for name, zone, make in [
        ("cron5", "America/New_York", lambda w: {"cron": f"{w.minute} {w.hour} * * *"}),
        ("daily", "Asia/Kolkata", lambda w: {"frequency": "daily", "time": f"{w:%H:%M}"}),
        (
            "weekly",
            "Australia/Lord_Howe",
            lambda w: {"frequency": "weekly", "time": f"{w:%H:%M}", "dayOfWeek": (w.weekday() + 1) % 7},
        ),
        (
            "monthly",
            "Europe/London",
            lambda w: {"frequency": "monthly", "time": f"{w:%H:%M}", "dayOfMonth": w.day},
        ),
    ]:
        wall = boundary.astimezone(ZoneInfo(zone))
        jobs.append(cronjobspec(name, {**make(wall), "timeZone": zone}, {"url": receiver.url(f"/{name}")}))
    apply(cluster, namespace, *jobs)
    for name in ("cron5", "daily", "weekly", "monthly"):
        current = wait_for(
            lambda n=name: status(cluster, namespace, n).get("nextRunTime"), 10, f"{name} planned"
        )
        assert parse_time(current) == boundary, name

    wait_until = boundary.timestamp() + 5
    wait_for(
        lambda: all(receiver.at(f"/{n}") for n in ("cron5", "daily", "weekly", "monthly")), 75, "all four"
    )
    time.sleep(max(0.0, wait_until - time.time()))
    for name in ("cron5", "daily", "weekly", "monthly"):
        requests = receiver.at(f"/{name}")
        assert len(requests) == 1, name
        assert parse_time(requests[0].scheduled) == boundary
        assert 0 <= _arrival_offsets(requests)[0] < LATE


def test_at_and_delay_fire_once_and_complete(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    apply(
        cluster,
        namespace,
        cronjobspec("once", {"at": at.isoformat().replace("+00:00", "Z")}, {"url": receiver.url("/once")}),
        cronjobspec("later", {"delaySeconds": 3}, {"url": receiver.url("/later")}),
    )
    for name in ("once", "later"):
        done = wait_for(
            lambda n=name: (s := status(cluster, namespace, n)).get("phase") == "Completed" and s,
            20,
            f"{name} done",
        )
        assert "nextRunTime" not in done
        assert done["counters"]["runs"] == 1
    assert parse_time(receiver.at("/once")[0].scheduled) == at
    time.sleep(3)
    assert len(receiver.at("/once")) == 1
    assert len(receiver.at("/later")) == 1
    later = json.loads(cluster.kubectl_run("get", "cjs", "later", "-n", namespace, "-o", "json").stdout)
    created = parse_time(later["metadata"]["creationTimestamp"])
    assert parse_time(receiver.at("/later")[0].scheduled) == created + timedelta(seconds=3)
