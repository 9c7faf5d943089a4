"""Workflow targets end to end: batch/v1 Jobs and Argo Workflows (stand-in CRDs) created
per run, followed to a result, bounded by policies and the history limit, followed again
after an operator restart — on the real control plane, with tests playing the controllers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import Cluster
from tests.support.kubectl import apply, events, get, status, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.workflows import (
    finish_job,
    install_argo_crds,
    job_manifest,
    restricted_kubeconfig,
    run_objects,
    set_workflow_phase,
    workflow_cjs,
)

FAR = {"frequency": "daily", "time": "03:00", "timeZone": "Pacific/Kiritimati"}
#: Polling backs off to 10 s between reads of a run object; results may take that long.
RESULT_WAIT = 40


@pytest.fixture(scope="module")
def argo(cluster: Cluster) -> None:
    install_argo_crds(cluster)


def trigger(cluster: Cluster, namespace: str, name: str, value: str) -> None:
    cluster.kubectl_run(
        "annotate", "--overwrite", "cjs", name, "-n", namespace, f"cronwright.io/trigger={value}"
    )


def one_object(
    cluster: Cluster, namespace: str, resource: str, name: str, count: int = 1
) -> list[dict[str, Any]]:
    return wait_for(
        lambda: (objs := run_objects(cluster, namespace, resource, name)) and len(objs) >= count and objs,
        30,
        f"{count} {resource} of {name}",
    )


def last_run(cluster: Cluster, namespace: str, name: str, run_id: str) -> dict[str, Any]:
    return wait_for(
        lambda: (run := status(cluster, namespace, name).get("lastRun")) and run["id"] == run_id and run,
        RESULT_WAIT,
        f"the result of run {run_id}",
    )


def reasons(cluster: Cluster, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in events(cluster, namespace, name)]


def test_a_job_per_run_followed_to_completion(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    workflow = {"manifest": job_manifest("echo $MODE"), "parameters": {"MODE": "full"}}
    apply(cluster, namespace, workflow_cjs("nightly", FAR, workflow))
    wait_for(lambda: status(cluster, namespace, "nightly").get("phase") == "Active", 15, "Active")
    owner = get(cluster, namespace, "nightly")["metadata"]
    trigger(cluster, namespace, "nightly", "one")

    (job,) = one_object(cluster, namespace, "jobs", "nightly")
    meta = job["metadata"]
    run_id = meta["labels"]["cronwright.io/run-id"]
    assert re.fullmatch(r"nightly-[0-9a-f]{8}", meta["name"])
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "cronwright.io/v1alpha1",
            "kind": "CronJobSpec",
            "name": "nightly",
            "uid": owner["uid"],
            "controller": True,
            "blockOwnerDeletion": False,
        }
    ]
    assert "cronwright.io/scheduled-time" in meta["annotations"]
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "MODE", "value": "full"} in env
    active = wait_for(lambda: status(cluster, namespace, "nightly").get("active"), 15, "status.active")
    assert [(a["kind"], a["name"], a["runId"]) for a in active] == [("Job", meta["name"], run_id)]
    assert "lastRun" not in status(cluster, namespace, "nightly"), "no result before the Job ends"

    finish_job(cluster, namespace, meta["name"], succeeded=True)
    run = last_run(cluster, namespace, "nightly", run_id)
    assert run["result"] == "Succeeded" and run["trigger"] == "manual"
    assert run["object"] == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "uid": meta["uid"],
    }
    current = status(cluster, namespace, "nightly")
    assert not current.get("active")
    assert current["counters"]["succeeded"] == 1
    assert "RunObjectCreated" in reasons(cluster, namespace, "nightly")
    wait_for(lambda: "RunSucceeded" in reasons(cluster, namespace, "nightly"), 10, "a RunSucceeded Event")
    assert operator.sample("cronwright_runs_total", result="Succeeded", trigger="manual") == 1.0


def test_a_failed_job_fails_the_run_with_its_reason(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, workflow_cjs("breaks", FAR, {"manifest": job_manifest()}))
    wait_for(lambda: status(cluster, namespace, "breaks").get("phase") == "Active", 15, "Active")
    trigger(cluster, namespace, "breaks", "go")
    (job,) = one_object(cluster, namespace, "jobs", "breaks")
    finish_job(cluster, namespace, job["metadata"]["name"], succeeded=False, message="exit code 3")
    run = last_run(cluster, namespace, "breaks", job["metadata"]["labels"]["cronwright.io/run-id"])
    assert run["result"] == "Failed"
    assert run["error"] == "BackoffLimitExceeded: exit code 3"
    assert status(cluster, namespace, "breaks")["counters"]["consecutiveFailures"] == 1
    wait_for(lambda: "RunFailed" in reasons(cluster, namespace, "breaks"), 10, "a RunFailed Event")


def test_argo_workflows_from_a_template_ref_and_from_a_manifest(
    cluster: Cluster, namespace: str, argo: None, operator: OperatorProcess
) -> None:
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "container": {"image": "alpine:3.20"}}],
        },
    }
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "etl"},
        "spec": {"entrypoint": "main", "arguments": {"parameters": [{"name": "date"}]}},
    }
    apply(
        cluster,
        namespace,
        template,
        workflow_cjs("etl", FAR, {"templateRef": {"name": "etl"}, "parameters": {"date": "today"}}),
        workflow_cjs("inline", FAR, {"manifest": manifest}),
    )
    for name in ("etl", "inline"):
        wait_for(lambda n=name: status(cluster, namespace, n).get("phase") == "Active", 15, f"{name} Active")
        trigger(cluster, namespace, name, "go")

    (from_template,) = one_object(cluster, namespace, "workflows.argoproj.io", "etl")
    assert from_template["spec"] == {
        "workflowTemplateRef": {"name": "etl"},
        "arguments": {"parameters": [{"name": "date", "value": "today"}]},
    }
    (inline,) = one_object(cluster, namespace, "workflows.argoproj.io", "inline")
    assert inline["spec"]["entrypoint"] == "main"

    set_workflow_phase(cluster, namespace, from_template["metadata"]["name"], "Running")
    set_workflow_phase(cluster, namespace, inline["metadata"]["name"], "Succeeded")
    done = last_run(cluster, namespace, "inline", inline["metadata"]["labels"]["cronwright.io/run-id"])
    assert done["result"] == "Succeeded" and done["object"]["kind"] == "Workflow"
    assert "lastRun" not in status(cluster, namespace, "etl"), "a Running workflow has no result yet"

    set_workflow_phase(cluster, namespace, from_template["metadata"]["name"], "Error", "pod deleted")
    failed = last_run(cluster, namespace, "etl", from_template["metadata"]["labels"]["cronwright.io/run-id"])
    assert failed["result"] == "Failed" and "pod deleted" in failed["error"]


def test_a_run_past_its_deadline_fails_with_a_timeout_and_its_object_is_deleted(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, workflow_cjs("slow", FAR, {"manifest": job_manifest(), "deadlineSeconds": 3}))
    wait_for(lambda: status(cluster, namespace, "slow").get("phase") == "Active", 15, "Active")
    trigger(cluster, namespace, "slow", "go")
    (job,) = one_object(cluster, namespace, "jobs", "slow")
    run = last_run(cluster, namespace, "slow", job["metadata"]["labels"]["cronwright.io/run-id"])
    assert run["result"] == "Failed"
    assert run["error"].startswith("timeout:") and "deadlineSeconds (3s)" in run["error"]
    assert run_objects(cluster, namespace, "jobs", "slow") == [], "the timed-out Job is deleted"
    assert not status(cluster, namespace, "slow").get("active")


def test_forbid_skips_while_a_run_object_is_active(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    apply(
        cluster,
        namespace,
        workflow_cjs("f", {"every": "2s"}, {"manifest": job_manifest()}, concurrencyPolicy="Forbid"),
    )
    (job,) = one_object(cluster, namespace, "jobs", "f")
    skipped = wait_for(
        lambda: [h for h in status(cluster, namespace, "f").get("history") or [] if h["result"] == "Skipped"],
        20,
        "skipped runs",
    )
    assert "Forbid" in skipped[0]["error"]
    assert len(run_objects(cluster, namespace, "jobs", "f")) == 1, "no second Job while the first runs"

    finish_job(cluster, namespace, job["metadata"]["name"], succeeded=True)
    one_object(cluster, namespace, "jobs", "f", count=2)  # runs start again once it is done


def test_replace_deletes_the_active_object_and_starts_the_new_one(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    apply(
        cluster,
        namespace,
        workflow_cjs("r", {"every": "3s"}, {"manifest": job_manifest()}, concurrencyPolicy="Replace"),
    )
    cancelled = wait_for(
        lambda: next(
            (h for h in status(cluster, namespace, "r").get("history") or [] if h["result"] == "Cancelled"),
            None,
        ),
        30,
        "a replaced run",
    )
    assert "Replace" in cancelled["error"]
    replaced = cancelled["object"]["name"]
    wait_for(
        lambda: replaced not in [j["metadata"]["name"] for j in run_objects(cluster, namespace, "jobs", "r")],
        15,
        "the replaced Job deleted",
    )
    active = status(cluster, namespace, "r").get("active") or []
    assert replaced not in [a["name"] for a in active]
    assert len(active) <= 1


def test_the_history_limit_deletes_the_oldest_run_objects(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, workflow_cjs("h", FAR, {"manifest": job_manifest()}, historyLimit=2))
    wait_for(lambda: status(cluster, namespace, "h").get("phase") == "Active", 15, "Active")
    names: list[str] = []
    for round_ in range(4):
        trigger(cluster, namespace, "h", f"round-{round_}")
        job = wait_for(
            lambda: next(
                (
                    j
                    for j in run_objects(cluster, namespace, "jobs", "h")
                    if j["metadata"]["name"] not in names
                ),
                None,
            ),
            30,
            f"the Job of round {round_}",
        )
        names.append(job["metadata"]["name"])
        finish_job(cluster, namespace, job["metadata"]["name"], succeeded=True)
        last_run(cluster, namespace, "h", job["metadata"]["labels"]["cronwright.io/run-id"])
    wait_for(
        lambda: (
            sorted(j["metadata"]["name"] for j in run_objects(cluster, namespace, "jobs", "h"))
            == sorted(names[-2:])
        ),
        15,
        "only the newest two Jobs kept",
    )
    assert status(cluster, namespace, "h")["counters"]["succeeded"] == 4


def test_a_restart_while_run_objects_are_active_records_each_result_exactly_once(
    cluster: Cluster, namespace: str, start_operator: Callable[..., OperatorProcess]
) -> None:
    first = start_operator(instance="op-1")
    # "early" finishes while no operator runs; "late" after the operators are back.
    apply(
        cluster,
        namespace,
        workflow_cjs("early", FAR, {"manifest": job_manifest()}),
        workflow_cjs("late", FAR, {"manifest": job_manifest()}),
    )
    jobs = {}
    for name in ("early", "late"):
        wait_for(lambda n=name: status(cluster, namespace, n).get("phase") == "Active", 15, f"{name} Active")
        trigger(cluster, namespace, name, "go")
        (jobs[name],) = one_object(cluster, namespace, "jobs", name)
        wait_for(lambda n=name: status(cluster, namespace, n).get("active"), 15, f"{name} status.active")
    first.stop()

    finish_job(cluster, namespace, jobs["early"]["metadata"]["name"], succeeded=True)
    # Two operators learn the resources afresh and both follow the Jobs listed in
    # status.active; only one of them may record each result.
    start_operator(instance="op-1")
    start_operator(instance="op-2")
    time.sleep(3)
    assert "lastRun" not in status(cluster, namespace, "late"), "the unfinished Job has no result"
    finish_job(cluster, namespace, jobs["late"]["metadata"]["name"], succeeded=False, message="exit 1")

    for name, result in (("early", "Succeeded"), ("late", "Failed")):
        run_id = jobs[name]["metadata"]["labels"]["cronwright.io/run-id"]
        run = last_run(cluster, namespace, name, run_id)
        assert run["result"] == result and run["trigger"] == "manual"
    time.sleep(12)  # longer than the slowest follower's poll interval
    for name, event in (("early", "RunSucceeded"), ("late", "RunFailed")):
        current = status(cluster, namespace, name)
        assert current["counters"]["runs"] == 1, name
        assert [h["id"] for h in current["history"]] == [current["lastRun"]["id"]], name
        assert not current.get("active"), name
        assert reasons(cluster, namespace, name).count(event) == 1, name
        assert len(run_objects(cluster, namespace, "jobs", name)) == 1, (
            f"{name}: the Job was not created again"
        )


def test_a_kind_the_operator_may_not_create_marks_only_its_resource_invalid(
    cluster: Cluster, namespace: str, start_operator: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    rules = [
        {"apiGroups": ["cronwright.io"], "resources": ["cronjobspecs"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["cronwright.io"],
            "resources": ["cronjobspecs/status"],
            "verbs": ["get", "patch", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
    ]
    kubeconfig = restricted_kubeconfig(cluster, namespace, rules, tmp_path / "limited.kubeconfig")
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"done": "no"}}
    apply(
        cluster,
        namespace,
        workflow_cjs(
            "notes",
            FAR,
            {"manifest": config_map, "result": {"fieldPath": "data.done", "successValues": ["yes"]}},
        ),
        workflow_cjs("batch", FAR, {"manifest": job_manifest()}),
    )
    start_operator(extra=(f"--kubeconfig={kubeconfig}",))
    for name in ("notes", "batch"):
        wait_for(lambda n=name: status(cluster, namespace, n).get("phase") == "Active", 15, f"{name} Active")
        trigger(cluster, namespace, name, "go")

    refused = wait_for(
        lambda: (s := status(cluster, namespace, "notes")).get("phase") == "Invalid" and s,
        RESULT_WAIT,
        "Invalid",
    )
    valid = next(c for c in refused["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False"
    assert valid["message"].startswith("spec.workflow.manifest: ")
    assert "forbidden" in valid["message"] and "configmaps" in valid["message"]
    assert refused["lastRun"]["result"] == "Failed"
    assert "nextRunTime" in refused, "the schedule goes on: a later run succeeds once it is allowed"
    warning = wait_for(
        lambda: next(
            (e for e in events(cluster, namespace, "notes") if e["reason"] == "RunObjectRefused"), None
        ),
        10,
        "a RunObjectRefused Event",
    )
    assert warning["type"] == "Warning" and "forbidden" in warning["message"]

    (job,) = one_object(cluster, namespace, "jobs", "batch")
    finish_job(cluster, namespace, job["metadata"]["name"], succeeded=True)
    run = last_run(cluster, namespace, "batch", job["metadata"]["labels"]["cronwright.io/run-id"])
    assert run["result"] == "Succeeded", "the other resource keeps running"


def test_an_unknown_kind_and_an_unreadable_result_are_named_in_the_status(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    widget = {"apiVersion": "example.io/v1", "kind": "Widget"}
    apply(
        cluster,
        namespace,
        workflow_cjs("widget", FAR, {"manifest": widget, "result": {"conditionType": "Ready"}}),
        workflow_cjs("mystery", FAR, {"manifest": {"apiVersion": "v1", "kind": "ConfigMap"}}),
    )
    mystery = wait_for(
        lambda: (s := status(cluster, namespace, "mystery")).get("phase") == "Invalid" and s,
        15,
        "mystery Invalid",
    )
    message = next(c["message"] for c in mystery["conditions"] if c["type"] == "Valid")
    assert message.startswith("spec.workflow.result: ") and "ConfigMap" in message

    wait_for(lambda: status(cluster, namespace, "widget").get("phase") == "Active", 15, "widget Active")
    trigger(cluster, namespace, "widget", "go")
    widget_status = wait_for(
        lambda: (s := status(cluster, namespace, "widget")).get("phase") == "Invalid" and s,
        15,
        "widget Invalid",
    )
    message = next(c["message"] for c in widget_status["conditions"] if c["type"] == "Valid")
    assert message == "spec.workflow.manifest: the API server does not serve example.io/v1"


def test_the_workflow_examples_run_as_they_say(
    cluster: Cluster, namespace: str, argo: None, operator: OperatorProcess
) -> None:
    examples = sorted((Path(__file__).resolve().parents[2] / "crds" / "examples").glob("workflow-*.yaml"))
    assert len(examples) == 3
    for example in examples:
        cluster.kubectl_run("apply", "-n", namespace, "-f", str(example))
    names = {
        "nightly-batch": "jobs",
        "etl-pipeline": "workflows.argoproj.io",
        "inline-workflow": "workflows.argoproj.io",
    }
    for name in names:
        wait_for(lambda n=name: status(cluster, namespace, n).get("phase") == "Active", 15, f"{name} Active")
        trigger(cluster, namespace, name, "try")
    (job,) = one_object(cluster, namespace, names["nightly-batch"], "nightly-batch")
    assert {"name": "MODE", "value": "full"} in job["spec"]["template"]["spec"]["containers"][0]["env"]
    (etl,) = one_object(cluster, namespace, names["etl-pipeline"], "etl-pipeline")
    assert etl["spec"]["workflowTemplateRef"] == {"name": "etl"}
    assert etl["spec"]["arguments"]["parameters"] == [{"name": "date", "value": "today"}]
    (inline,) = one_object(cluster, namespace, names["inline-workflow"], "inline-workflow")
    assert inline["spec"]["templates"][0]["container"]["command"] == ["echo", "hello"]
