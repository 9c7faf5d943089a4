"""Heartbeat monitoring by the real operator: Down reported as status, condition, Warning
Event and metric; a ping (annotation) clears it; removing spec.heartbeat clears the state."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime

from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, events, get, merge_patch, status, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver, Reply

FAST = ("--heartbeat-interval", "0.5")


def _condition(cluster: Cluster, namespace: str, name: str) -> dict | None:
    found = [c for c in status(cluster, namespace, name).get("conditions") or [] if c["type"] == "Heartbeat"]
    return found[0] if found else None


def _down_metric(operator: OperatorProcess, namespace: str, name: str) -> float | None:
    pattern = rf'^cronwright_heartbeat_down\{{name="{name}",namespace="{namespace}"\}} (\S+)$'
    match = re.search(pattern, operator.metrics(), re.MULTILINE)
    return float(match.group(1)) if match else None


def test_a_job_that_never_succeeds_goes_down_and_a_ping_clears_it(
    cluster: Cluster,
    namespace: str,
    receiver: Receiver,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    operator = start_operator(extra=FAST)
    receiver.script("/fails", default=Reply(status=500))
    # One run, 2 s after creation, that fails; 1 s of tolerance after it was due.
    job = cronjobspec(
        "watched", {"delaySeconds": 2}, {"url": receiver.url("/fails")}, heartbeat={"toleranceSeconds": 1}
    )
    apply(cluster, namespace, job)

    down = wait_for(
        lambda: (s := status(cluster, namespace, "watched").get("heartbeat")) and s["state"] == "Down" and s,
        30,
        "heartbeat Down",
    )
    assert down["missedDeadline"] and down["since"]
    assert receiver.at("/fails"), "the run did happen (and failed)"
    condition = _condition(cluster, namespace, "watched")
    assert condition and (condition["status"], condition["reason"]) == ("False", "Late")
    assert "no successful run or ping" in condition["message"]
    warning = wait_for(
        lambda: [e for e in events(cluster, namespace, "watched") if e["reason"] == "HeartbeatMissed"],
        20,
        "a HeartbeatMissed Event",
    )
    assert warning[0]["type"] == "Warning"
    assert wait_for(lambda: _down_metric(operator, namespace, "watched"), 10, "the down metric") == 1.0
    assert re.search(r"^cronwright_heartbeat_missed_total 1\.0$", operator.metrics(), re.MULTILINE)

    generation = get(cluster, namespace, "watched")["metadata"]["generation"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.kubectl_run(
        "annotate", "cronjobspec", "watched", "-n", namespace, f"cronwright.io/last-ping={now}"
    )

    up = wait_for(
        lambda: (s := status(cluster, namespace, "watched").get("heartbeat")) and s["state"] == "Up" and s,
        20,
        "heartbeat Up after the ping",
    )
    assert up.get("missedDeadline") is None
    condition = _condition(cluster, namespace, "watched")
    assert condition and (condition["status"], condition["reason"]) == ("True", "OnTime")
    assert now in condition["message"]
    wait_for(lambda: _down_metric(operator, namespace, "watched") is None, 10, "the down metric removed")
    wait_for(
        lambda: [e for e in events(cluster, namespace, "watched") if e["reason"] == "HeartbeatRecovered"],
        20,
        "a HeartbeatRecovered Event",
    )
    assert get(cluster, namespace, "watched")["metadata"]["generation"] == generation


def test_succeeding_runs_keep_it_up_and_removing_heartbeat_clears_the_state(
    cluster: Cluster,
    namespace: str,
    receiver: Receiver,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    start_operator(extra=FAST)
    job = cronjobspec(
        "healthy", {"every": "2s"}, {"url": receiver.url("/ok")}, heartbeat={"toleranceSeconds": 60}
    )
    apply(cluster, namespace, job)
    wait_for(lambda: len(receiver.at("/ok")) >= 3, 30, "three runs")
    wait_for(
        lambda: (status(cluster, namespace, "healthy").get("heartbeat") or {}).get("state") == "Up",
        10,
        "heartbeat Up",
    )
    assert not [e for e in events(cluster, namespace, "healthy") if e["reason"].startswith("Heartbeat")]

    merge_patch(cluster, namespace, "healthy", {"spec": {"heartbeat": None}})
    wait_for(
        lambda: (
            "heartbeat" not in status(cluster, namespace, "healthy")
            and _condition(cluster, namespace, "healthy") is None
        ),
        20,
        "heartbeat state removed",
    )
    assert any(c["type"] == "Ready" for c in status(cluster, namespace, "healthy")["conditions"])


def test_the_crd_refuses_a_bad_tolerance(cluster: Cluster, namespace: str) -> None:
    job = cronjobspec(
        "bad", {"cron": "* * * * *"}, {"url": "http://127.0.0.1:9/"}, heartbeat={"toleranceSeconds": -5}
    )
    result = cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(job), check=False)
    assert result.returncode != 0 and "toleranceSeconds" in result.stderr
