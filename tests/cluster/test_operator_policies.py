"""Pause and resume, manual triggers, concurrency policies, retries, timeouts, history."""

from __future__ import annotations

import time

from cronwright.core.runs import parse_time
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, merge_patch, status, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver, Reply

FAR = {"frequency": "daily", "time": "03:00", "timeZone": "Pacific/Kiritimati"}


def _history(cluster: Cluster, namespace: str, name: str) -> list[dict]:
    return status(cluster, namespace, name).get("history") or []


def test_pause_stops_runs_and_resume_does_not_make_up_for_them(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, cronjobspec("p", {"every": "1s"}, {"url": receiver.url("/p")}))
    wait_for(lambda: len(receiver.at("/p")) >= 2, 15, "runs before pause")
    merge_patch(cluster, namespace, "p", {"spec": {"suspend": True}})
    paused = wait_for(
        lambda: (s := status(cluster, namespace, "p")).get("phase") == "Paused" and s, 10, "Paused"
    )
    assert "nextRunTime" not in paused
    time.sleep(1.5)  # a run claimed just before the pause may still land
    during = len(receiver.at("/p"))
    time.sleep(4)
    assert len(receiver.at("/p")) == during, "no run while paused"

    resumed_at = time.time()
    merge_patch(cluster, namespace, "p", {"spec": {"suspend": False}})
    wait_for(lambda: status(cluster, namespace, "p").get("phase") == "Active", 10, "Active again")
    wait_for(lambda: len(receiver.at("/p")) > during, 10, "runs after resume")
    time.sleep(1)
    after = [r for r in receiver.at("/p") if r.at >= resumed_at]
    scheduled = [parse_time(r.scheduled).timestamp() for r in after]
    assert all(s >= resumed_at - 1 for s in scheduled), "nothing missed during the pause is fired"
    assert (status(cluster, namespace, "p").get("counters") or {}).get("missed", 0) == 0


def test_trigger_annotation_fires_once_per_new_value(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, cronjobspec("t", FAR, {"url": receiver.url("/t")}))
    wait_for(lambda: status(cluster, namespace, "t").get("phase") == "Active", 10, "Active")
    cluster.kubectl_run("annotate", "cjs", "t", "-n", namespace, "cronwright.io/trigger=first")
    wait_for(lambda: len(receiver.at("/t")) == 1, 10, "manual run")
    assert receiver.at("/t")[0].headers["x-cronwright-trigger"] == "manual"
    current = wait_for(lambda: (s := status(cluster, namespace, "t")).get("lastRun") and s, 10, "recorded")
    assert current["lastRun"]["trigger"] == "manual"
    assert current["lastTrigger"] == "first"
    assert current["phase"] == "Active", "a manual run does not end a recurring schedule"

    cluster.kubectl_run("annotate", "--overwrite", "cjs", "t", "-n", namespace, "cronwright.io/trigger=first")
    cluster.kubectl_run("label", "cjs", "t", "-n", namespace, "touched=yes")  # another event, same value
    time.sleep(2)
    assert len(receiver.at("/t")) == 1, "the same value never fires twice"
    cluster.kubectl_run(
        "annotate", "--overwrite", "cjs", "t", "-n", namespace, "cronwright.io/trigger=second"
    )
    wait_for(lambda: len(receiver.at("/t")) == 2, 10, "second manual run")


def test_forbid_skips_while_a_run_is_in_flight(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    receiver.script("/slow", default=Reply(delay=2.5))
    apply(
        cluster,
        namespace,
        cronjobspec("f", {"every": "1s"}, {"url": receiver.url("/slow")}, concurrencyPolicy="Forbid"),
    )
    wait_for(
        lambda: any(h["result"] == "Skipped" for h in _history(cluster, namespace, "f")), 20, "a skipped run"
    )
    assert receiver.max_in_flight["/slow"] == 1
    skipped = next(h for h in _history(cluster, namespace, "f") if h["result"] == "Skipped")
    assert "Forbid" in skipped["error"]


def test_allow_overlaps_runs(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    receiver.script("/overlap", default=Reply(delay=2.5))
    apply(cluster, namespace, cronjobspec("a", {"every": "1s"}, {"url": receiver.url("/overlap")}))
    wait_for(lambda: receiver.max_in_flight["/overlap"] >= 2, 15, "two runs in flight at once")


def test_replace_cancels_the_run_in_flight(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    receiver.script("/replace", default=Reply(delay=5))
    apply(
        cluster,
        namespace,
        cronjobspec("r", {"every": "2s"}, {"url": receiver.url("/replace")}, concurrencyPolicy="Replace"),
    )
    cancelled = wait_for(
        lambda: next((h for h in _history(cluster, namespace, "r") if h["result"] == "Cancelled"), None),
        20,
        "a cancelled run",
    )
    assert "Replace" in cancelled["error"]
    # The receiver sleeps out its 5 s whether the client is gone or not, so what it counts
    # in flight says nothing; the operator's own gauge says how many runs it has going.
    in_flight = []
    for _ in range(20):
        in_flight.append(operator.sample("cronwright_runs_in_flight"))
        time.sleep(0.2)
    assert max(in_flight) <= 2, in_flight  # the new run, and the replaced one while it closes
    assert {h["result"] for h in _history(cluster, namespace, "r")} == {"Cancelled"}, "none ran to its end"


def test_retries_with_backoff_keep_the_idempotency_key(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    receiver.script(
        "/flaky", Reply(status=503), Reply(status=429, headers={"Retry-After": "1"}), Reply(status=200)
    )
    apply(
        cluster,
        namespace,
        cronjobspec(
            "flaky",
            FAR,
            {"url": receiver.url("/flaky")},
            retry={"limit": 3, "backoffSeconds": 0.2, "maxBackoffSeconds": 5},
        ),
    )
    cluster.kubectl_run("annotate", "cjs", "flaky", "-n", namespace, "cronwright.io/trigger=go")
    run = wait_for(lambda: status(cluster, namespace, "flaky").get("lastRun"), 20, "the run's result")
    assert run["result"] == "Succeeded"
    assert run["attempts"] == 3
    requests = receiver.at("/flaky")
    assert len(requests) == 3
    assert len({r.headers["idempotency-key"] for r in requests}) == 1
    assert requests[1].at - requests[0].at >= 0.1, "exponential backoff (with jitter) between attempts"
    assert requests[2].at - requests[1].at >= 1.0, "Retry-After is honoured"


def test_exhausted_retries_and_timeouts_fail_the_run(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    receiver.script("/down", default=Reply(status=500))
    receiver.script("/hang", default=Reply(delay=3))
    apply(
        cluster,
        namespace,
        cronjobspec("down", FAR, {"url": receiver.url("/down")}, retry={"limit": 1, "backoffSeconds": 0.1}),
        cronjobspec("hang", FAR, {"url": receiver.url("/hang"), "timeoutSeconds": 1}),
    )
    for name in ("down", "hang"):
        cluster.kubectl_run("annotate", "cjs", name, "-n", namespace, "cronwright.io/trigger=go")
    down = wait_for(lambda: status(cluster, namespace, "down").get("lastRun"), 20, "down result")
    assert down["result"] == "Failed" and down["attempts"] == 2 and down["responseCode"] == 500
    assert down["error"] == "HTTP 500 (attempt 2 of 2)"
    hang = wait_for(lambda: status(cluster, namespace, "hang").get("lastRun"), 20, "hang result")
    assert hang["result"] == "Failed" and "timeout" in hang["error"]
    counters = status(cluster, namespace, "hang")["counters"]
    assert counters["failed"] == 1 and counters["consecutiveFailures"] == 1


def test_expected_status_codes_decide_success(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    receiver.script("/created", default=Reply(status=201))
    apply(
        cluster,
        namespace,
        cronjobspec("strict", FAR, {"url": receiver.url("/created"), "expectedStatusCodes": [200]}),
        cronjobspec("lenient", FAR, {"url": receiver.url("/created")}),
    )
    for name in ("strict", "lenient"):
        cluster.kubectl_run("annotate", "cjs", name, "-n", namespace, "cronwright.io/trigger=go")
    strict = wait_for(lambda: status(cluster, namespace, "strict").get("lastRun"), 20, "strict result")
    lenient = wait_for(lambda: status(cluster, namespace, "lenient").get("lastRun"), 20, "lenient result")
    assert strict["result"] == "Failed" and "unexpected status 201" in strict["error"]
    assert lenient["result"] == "Succeeded" and lenient["responseCode"] == 201


def test_history_is_bounded_newest_first(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, cronjobspec("h", {"every": "1s"}, {"url": receiver.url("/h")}, historyLimit=3))
    current = wait_for(
        lambda: (s := status(cluster, namespace, "h")).get("counters", {}).get("runs", 0) >= 5 and s,
        20,
        "5 runs",
    )
    history = current["history"]
    assert len(history) == 3
    assert [h["scheduledTime"] for h in history] == sorted(
        (h["scheduledTime"] for h in history), reverse=True
    )
    assert len({h["id"] for h in history}) == 3
    assert history[0]["id"] == current["lastRun"]["id"]
