"""Workflow targets in the end-to-end tests: Argo stand-in CRDs, run objects, finishing them.

No Job controller and no Argo controller run on the test control plane, so tests play
their part as envtest users do: they patch a run object's status to finished or failed.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tests.support.cluster import Cluster

#: Same group, version, kind and scope as Argo's own CRDs (which, like these, have no
#: status subresource: Argo writes status with the object).
ARGO_KINDS = (("Workflow", "workflows", "wf"), ("WorkflowTemplate", "workflowtemplates", "wftmpl"))


def _argo_crd(kind: str, plural: str, short: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.argoproj.io"},
        "spec": {
            "group": "argoproj.io",
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
            },
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                }
            ],
        },
    }


def install_argo_crds(cluster: Cluster) -> None:
    document = {"apiVersion": "v1", "kind": "List", "items": [_argo_crd(*kind) for kind in ARGO_KINDS]}
    cluster.kubectl_run("apply", "-f", "-", input=json.dumps(document))
    for _, plural, _ in ARGO_KINDS:
        cluster.kubectl_run(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{plural}.argoproj.io"
        )
    deadline = time.monotonic() + 60
    while cluster.kubectl_run("get", "workflows.argoproj.io", "-A", check=False).returncode != 0:
        assert time.monotonic() < deadline, "the Workflow stand-in CRD is not served"
        time.sleep(0.2)


def workflow_cjs(
    name: str, schedule: dict[str, Any], workflow: dict[str, Any], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "cronwright.io/v1alpha1",
        "kind": "CronJobSpec",
        "metadata": {"name": name},
        "spec": {"schedule": schedule, "workflow": workflow, **spec},
    }


def job_manifest(command: str = "echo hi") -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", command]}
                    ],
                }
            },
        },
    }


def run_objects(cluster: Cluster, namespace: str, resource: str, cronjobspec: str) -> list[dict[str, Any]]:
    listed = cluster.kubectl_run(
        "get", resource, "-n", namespace, "-l", f"cronwright.io/cronjobspec={cronjobspec}", "-o", "json"
    )
    return json.loads(listed.stdout)["items"]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def finish_job(cluster: Cluster, namespace: str, name: str, succeeded: bool, message: str = "") -> None:
    """What the Job controller writes when a Job ends (the API server checks the pairs of
    conditions and the times since Kubernetes 1.31)."""
    now = _now()
    if succeeded:
        status = {
            "startTime": now,
            "completionTime": now,
            "succeeded": 1,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
                {"type": "Complete", "status": "True", "lastTransitionTime": now},
            ],
        }
    else:
        failed = {
            "status": "True",
            "reason": "BackoffLimitExceeded",
            "message": message,
            "lastTransitionTime": now,
        }
        status = {
            "startTime": now,
            "failed": 1,
            "conditions": [{"type": "FailureTarget", **failed}, {"type": "Failed", **failed}],
        }
    cluster.kubectl_run(
        "patch",
        "job",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def set_workflow_phase(cluster: Cluster, namespace: str, name: str, phase: str, message: str = "") -> None:
    """What Argo's controller writes (on the object: Argo's CRD has no status subresource)."""
    patch = {"status": {"phase": phase, "message": message}}
    cluster.kubectl_run(
        "patch", "workflow.argoproj.io", name, "-n", namespace, "--type=merge", "-p", json.dumps(patch)
    )


def restricted_kubeconfig(cluster: Cluster, namespace: str, rules: list[dict[str, Any]], path: Path) -> Path:
    """A kubeconfig for a ServiceAccount allowed only `rules` in the namespace: the
    operator under a real, non-admin identity, refused by RBAC like in a cluster."""
    account = "cronwright-limited"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": account},
        "rules": rules,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": account},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }
    account_obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}}
    document = {"apiVersion": "v1", "kind": "List", "items": [account_obj, role, binding]}
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(document))
    token = cluster.kubectl_run("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": account, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = account
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
