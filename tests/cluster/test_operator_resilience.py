"""Restarts, downtime, a second operator, bad content: no run fires twice, none is lost
silently, and one bad resource never stops the others."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from cronwright.core.runs import parse_time
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, events, status, wait_for
from tests.support.receiver import Receiver


def _duplicates(receiver: Receiver, path: str) -> list[str]:
    return [t for t, n in Counter(r.scheduled for r in receiver.at(path)).items() if n > 1]


def test_downtime_gives_one_catch_up_run_and_counts_the_rest_missed(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    operator = start_operator()
    apply(cluster, namespace, cronjobspec("m", {"every": "1s"}, {"url": receiver.url("/m")}))
    wait_for(lambda: (status(cluster, namespace, "m").get("counters") or {}).get("runs", 0) >= 2, 15, "runs")
    operator.stop()
    time.sleep(1.5)  # runs already claimed/in flight have landed
    before = len(receiver.at("/m"))
    time.sleep(5)
    assert len(receiver.at("/m")) == before, "nothing fires while no operator runs"

    restarted_at = time.time()
    start_operator(instance="op-1")
    catch_up = wait_for(
        lambda: next(
            (h for h in status(cluster, namespace, "m").get("history") or [] if h["trigger"] == "catchup"),
            None,
        ),
        15,
        "a catch-up run",
    )
    assert "missed" in catch_up["error"]
    counters = status(cluster, namespace, "m")["counters"]
    assert counters["missed"] >= 3
    first_second = [r for r in receiver.at("/m") if restarted_at <= r.at < restarted_at + 1.0]
    assert len(first_second) <= 2, "one catch-up run, not a burst"
    assert _duplicates(receiver, "/m") == []


def test_a_one_shot_missed_during_downtime_fires_late_unless_past_its_deadline(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    apply(
        cluster,
        namespace,
        cronjobspec("strict", {"at": at}, {"url": receiver.url("/strict")}, startingDeadlineSeconds=2),
        cronjobspec("lenient", {"at": at}, {"url": receiver.url("/lenient")}),
    )
    time.sleep(5)  # no operator is running when `at` passes
    start_operator()
    strict = wait_for(
        lambda: (s := status(cluster, namespace, "strict")).get("phase") == "Completed" and s,
        15,
        "strict done",
    )
    assert strict["lastRun"]["result"] == "Missed"
    assert strict["counters"]["missed"] == 1 and strict["counters"]["runs"] == 0
    lenient = wait_for(
        lambda: (s := status(cluster, namespace, "lenient")).get("phase") == "Completed" and s,
        15,
        "lenient done",
    )
    assert lenient["lastRun"]["result"] == "Succeeded"
    assert receiver.at("/strict") == []
    assert len(receiver.at("/lenient")) == 1


def test_no_double_fire_across_an_abrupt_restart(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    operator = start_operator(claim_ahead=3)
    apply(
        cluster,
        namespace,
        *[cronjobspec(f"r{i}", {"every": "1s"}, {"url": receiver.url(f"/r{i}")}) for i in range(3)],
    )
    wait_for(lambda: all(len(receiver.at(f"/r{i}")) >= 2 for i in range(3)), 15, "runs before the kill")
    operator.kill()  # claims made ahead stay in status
    start_operator(claim_ahead=3)  # same instance id, as a restarted pod
    marks = {i: len(receiver.at(f"/r{i}")) for i in range(3)}
    wait_for(
        lambda: all(len(receiver.at(f"/r{i}")) >= marks[i] + 3 for i in range(3)), 20, "runs after restart"
    )
    for i in range(3):
        assert _duplicates(receiver, f"/r{i}") == [], f"r{i} fired a scheduled time twice"


def test_two_operator_processes_never_fire_one_run_twice(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    start_operator(instance="op-a", claim_ahead=1)
    start_operator(instance="op-b", claim_ahead=1)
    apply(
        cluster,
        namespace,
        *[cronjobspec(f"j{i}", {"every": "1s"}, {"url": receiver.url(f"/j{i}")}) for i in range(4)],
    )
    wait_for(lambda: all(len(receiver.at(f"/j{i}")) >= 6 for i in range(4)), 30, "runs from both operators")
    time.sleep(1)
    for i in range(4):
        path = f"/j{i}"
        assert _duplicates(receiver, path) == [], f"j{i} fired a scheduled time twice"
        times = sorted(parse_time(r.scheduled).timestamp() for r in receiver.at(path))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert max(gaps) <= 2.0, f"j{i}: a scheduled time was lost between the two operators: {gaps}"
    holders = {(status(cluster, namespace, f"j{i}").get("claim") or {}).get("holder") for i in range(4)}
    assert holders <= {"op-a", "op-b"}


def test_bad_content_is_isolated_and_reported(
    cluster: Cluster, namespace: str, receiver: Receiver, start_operator
) -> None:
    start_operator()
    apply(
        cluster,
        namespace,
        cronjobspec("bad-cron", {"cron": "61 * * * *"}, {"url": receiver.url("/never")}),
        cronjobspec(
            "bad-zone",
            {"cron": "* * * * *", "timeZone": "Mars/Olympus_Mons"},
            {"url": receiver.url("/never")},
        ),
        cronjobspec(
            "no-secret",
            {"every": "1s"},
            {
                "url": receiver.url("/never"),
                "headersFrom": [
                    {"name": "Authorization", "secretKeyRef": {"name": "absent", "key": "token"}}
                ],
            },
        ),
        cronjobspec("good", {"every": "1s"}, {"url": receiver.url("/good")}),
    )
    for name, field in [
        ("bad-cron", "spec.schedule.cron"),
        ("bad-zone", "spec.schedule.timeZone"),
        ("no-secret", "spec.http.headersFrom[0]"),
    ]:
        current = wait_for(
            lambda n=name: (s := status(cluster, namespace, n)).get("phase") == "Invalid" and s,
            15,
            f"{name} Invalid",
        )
        valid = next(c for c in current["conditions"] if c["type"] == "Valid")
        assert valid["status"] == "False" and field in valid["message"], valid
        warnings = wait_for(
            lambda n=name: [e for e in events(cluster, namespace, n) if e["type"] == "Warning"],
            10,
            f"{name} event",
        )
        assert any(field in e["message"] for e in warnings)
    assert receiver.at("/never") == []
    marks = len(receiver.at("/good"))
    wait_for(lambda: len(receiver.at("/good")) >= marks + 3, 10, "the good job keeps firing")
