"""Small helpers over kubectl for the end-to-end tests: apply, get, patch, wait."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.support.cluster import Cluster

T = TypeVar("T")


def cronjobspec(name: str, schedule: dict[str, Any], http: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cronwright.io/v1alpha1",
        "kind": "CronJobSpec",
        "metadata": {"name": name},
        "spec": {"schedule": schedule, "http": http, **spec},
    }


def apply(cluster: Cluster, namespace: str, *objects: dict[str, Any]) -> None:
    document = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(document))


def get(cluster: Cluster, namespace: str, name: str, kind: str = "cronjobspec") -> dict[str, Any]:
    return json.loads(cluster.kubectl_run("get", kind, name, "-n", namespace, "-o", "json").stdout)


def status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return get(cluster, namespace, name).get("status") or {}


def merge_patch(cluster: Cluster, namespace: str, name: str, patch: dict[str, Any]) -> None:
    cluster.kubectl_run(
        "patch", "cronjobspec", name, "-n", namespace, "--type=merge", "-p", json.dumps(patch)
    )


def events(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = json.loads(
        cluster.kubectl_run(
            "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}", "-o", "json"
        ).stdout
    )
    return listed["items"]


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll until probe returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
