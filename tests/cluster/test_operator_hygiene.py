"""What the operator leaves on resources and shows about itself: GitOps tools must see
no drift, and operators of the operator need metrics, probes and bounded Events."""

from __future__ import annotations

import json

import httpx

from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, events, status, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver, Reply


def test_operator_writes_status_only(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, cronjobspec("clean", {"every": "1s"}, {"url": receiver.url("/clean")}))
    wait_for(
        lambda: (status(cluster, namespace, "clean").get("counters") or {}).get("runs", 0) >= 3, 15, "runs"
    )
    obj = json.loads(
        cluster.kubectl_run(
            "get", "cjs", "clean", "-n", namespace, "-o", "json", "--show-managed-fields"
        ).stdout
    )
    meta = obj["metadata"]
    assert meta["generation"] == 1, "spec was never written"
    assert "finalizers" not in meta
    assert not [a for a in meta.get("annotations", {}) if "kopf" in a]
    managers = {(m["manager"], m.get("subresource")) for m in meta["managedFields"]}
    assert managers == {("kubectl-client-side-apply", None), ("cronwright-operator", "status")}, managers


SUCCEEDED_SCHEDULED = frozenset({("result", "Succeeded"), ("trigger", "schedule")})


def test_metrics_and_probes(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, cronjobspec("m", {"every": "1s"}, {"url": receiver.url("/m")}))
    wait_for(lambda: len(receiver.at("/m")) >= 2, 15, "runs")
    samples = wait_for(
        lambda: next(
            (s for s in [operator.samples()] if s.get(("cronwright_runs_total", SUCCEEDED_SCHEDULED))),
            None,
        ),
        10,
        "a succeeded run in the metrics",
    )
    names = {name for name, _ in samples}
    for name in (
        "cronwright_fire_skew_seconds_bucket",
        "cronwright_runs_in_flight",
        "cronwright_api_write_seconds_bucket",
    ):
        assert name in names, name
    assert samples[("cronwright_schedule_book_size", frozenset())] == 1.0
    assert ("cronwright_fire_skew_seconds_bucket", frozenset({("le", "0.005")})) in samples, (
        "millisecond buckets"
    )
    lag_count = samples[("cronwright_status_lag_seconds_count", frozenset())]
    assert lag_count >= 1, "every recorded result is timed from the run's finish to its write"
    assert httpx.get(f"{operator.base_url}/healthz").status_code == 200
    assert httpx.get(f"{operator.base_url}/readyz").json()["ok"] is True


def test_events_are_rate_limited_per_resource(
    cluster: Cluster, namespace: str, receiver: Receiver, operator: OperatorProcess
) -> None:
    receiver.script("/failing", default=Reply(status=500))
    apply(cluster, namespace, cronjobspec("noisy", {"every": "1s"}, {"url": receiver.url("/failing")}))
    wait_for(
        lambda: (status(cluster, namespace, "noisy").get("counters") or {}).get("failed", 0) >= 10,
        20,
        "10 runs",
    )
    posted = [e for e in events(cluster, namespace, "noisy") if e["reason"] == "RunFailed"]
    assert 1 <= len(posted) <= 6, f"{len(posted)} events for 10+ failed runs"
    suppressed = operator.sample("cronwright_events_suppressed_total")
    assert suppressed is not None and suppressed >= 4
