"""GitOps: the operator never writes what a GitOps tool applied, so applying the same
manifests again changes nothing and a server-side diff finds no drift.

Every manifest in crds/examples is applied server-side (as Argo CD with
ServerSideApply=true and Flux do) while an operator is running and recording status; a
second apply must leave generation, spec and metadata exactly as they were. Only the
operator's status writes move resourceVersion, and they are owned on the status
subresource alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cluster import Cluster
from tests.support.kubectl import wait_for
from tests.support.operator_process import OperatorProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "crds" / "examples"
MANAGER = "gitops-test"  # the field manager a GitOps tool would use, e.g. argocd-controller


def _apply(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl_run(
        "apply", "--server-side", f"--field-manager={MANAGER}", "-n", namespace, "-f", str(EXAMPLES)
    )


def _cronjobspecs(cluster: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    listed = json.loads(
        cluster.kubectl_run(
            "get", "cronjobspecs", "-n", namespace, "-o", "json", "--show-managed-fields"
        ).stdout
    )
    return {item["metadata"]["name"]: item for item in listed["items"]}


def _applied_part(item: dict[str, Any]) -> dict[str, Any]:
    """What a GitOps tool compares: everything but status and the server's bookkeeping."""
    metadata = {k: v for k, v in item["metadata"].items() if k not in ("resourceVersion", "managedFields")}
    return {"metadata": metadata, "spec": item["spec"]}


def _managers(item: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [
        (entry["manager"], entry["operation"], entry.get("subresource"))
        for entry in item["metadata"].get("managedFields", [])
    ]


def _expected_names() -> set[str]:
    import yaml

    return {
        doc["metadata"]["name"]
        for path in EXAMPLES.glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] == "CronJobSpec"
    }


def test_applying_the_examples_twice_server_side_changes_nothing(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    _apply(cluster, namespace)
    names = _expected_names()

    def all_observed() -> dict[str, dict[str, Any]] | None:
        items = _cronjobspecs(cluster, namespace)
        observed = {
            name
            for name, item in items.items()
            if (item.get("status") or {}).get("observedGeneration") == item["metadata"]["generation"]
        }
        return items if observed == names else None

    first = wait_for(all_observed, 60, "the operator to record status on every example")
    _apply(cluster, namespace)
    second = _cronjobspecs(cluster, namespace)

    assert set(second) == names
    for name in names:
        before, after = first[name], second[name]
        assert _applied_part(after) == _applied_part(before), name
        assert after["metadata"]["generation"] == 1, name
        assert "finalizers" not in after["metadata"], name
        assert not any("kopf" in key for key in after["metadata"].get("annotations") or {}), name
        managers = _managers(after)
        # The apply owns the object; every other writer (the operator) owns status only.
        assert (MANAGER, "Apply", None) in managers, (name, managers)
        assert all(sub == "status" for manager, _, sub in managers if manager != MANAGER), (name, managers)
        # Same entry, same timestamp: the second apply was a no-op for the API server.
        applied = [e for e in after["metadata"]["managedFields"] if e["manager"] == MANAGER]
        assert applied == [e for e in before["metadata"]["managedFields"] if e["manager"] == MANAGER], name

    # What Argo CD and Flux do to detect drift: a server-side dry-run diff. Exit 0 = none.
    # The operator stops first only so that a status write between the diff's read and its
    # dry-run cannot show up as a difference; the objects are what it left behind.
    operator.stop()
    diff = cluster.kubectl_run(
        "diff",
        "--server-side",
        f"--field-manager={MANAGER}",
        "-n",
        namespace,
        "-f",
        str(EXAMPLES),
        check=False,
    )
    assert diff.returncode == 0, diff.stdout + diff.stderr
