"""Run objects of workflow targets: naming, building, parameters, judging, pruning."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cronwright.core.models import ResultRule, WorkflowTarget
from cronwright.operator.planning import Problem, add_active, is_active
from cronwright.operator.workflow_objects import (
    CRONJOBSPEC_LABEL,
    RUN_ID_LABEL,
    SCHEDULED_TIME_ANNOTATION,
    RunIdentity,
    Verdict,
    build,
    cronjobspec_label,
    judge,
    object_name,
    target_problem,
    to_prune,
)

WHO = RunIdentity("nightly", "uid-1", "team-a", "abcdef0123456789", "2026-11-23T02:00:00Z")
JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "ignored", "namespace": "elsewhere", "labels": {"team": "a"}},
    "spec": {
        "template": {
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [
                    {"name": "main", "image": "busybox", "env": [{"name": "MODE", "value": "dry"}]},
                    {"name": "side", "image": "busybox"},
                ],
            }
        }
    },
}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def target(**fields: Any) -> WorkflowTarget:
    return WorkflowTarget.model_validate(fields)


# -- naming ----------------------------------------------------------------------------


def test_object_name_is_stable_per_run_and_differs_between_runs() -> None:
    assert object_name("nightly", "run-1") == object_name("nightly", "run-1")
    assert object_name("nightly", "run-1") != object_name("nightly", "run-2")
    assert re.fullmatch(r"nightly-[0-9a-f]{8}", object_name("nightly", "run-1"))


@given(
    name=st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True),
    rid=st.text(min_size=1, max_size=40),
)
def test_object_name_is_always_a_dns_label(name: str, rid: str) -> None:
    made = object_name(name, rid)
    assert len(made) <= 63 and DNS_LABEL.match(made), made


@given(name=st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True))
def test_cronjobspec_label_is_a_valid_label_value(name: str) -> None:
    value = cronjobspec_label(name)
    assert len(value) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", value), value


def test_long_names_get_distinct_labels() -> None:
    a, b = "x" * 70 + "a", "x" * 70 + "b"
    assert cronjobspec_label(a) != cronjobspec_label(b)
    assert cronjobspec_label("short") == "short"


# -- building --------------------------------------------------------------------------


def test_job_manifest_gets_identity_owner_and_env_parameters() -> None:
    body = build(target(manifest=JOB, parameters={"MODE": "full", "DAY": "mon"}), WHO)
    meta = body["metadata"]
    assert meta["name"] == object_name("nightly", WHO.run_id)
    assert meta["namespace"] == "team-a", "the manifest cannot create in another namespace"
    assert meta["labels"] == {"team": "a", CRONJOBSPEC_LABEL: "nightly", RUN_ID_LABEL: WHO.run_id}
    assert meta["annotations"] == {SCHEDULED_TIME_ANNOTATION: "2026-11-23T02:00:00Z"}
    (owner,) = meta["ownerReferences"]
    assert owner == {
        "apiVersion": "cronwright.io/v1alpha1",
        "kind": "CronJobSpec",
        "name": "nightly",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": False,
    }
    pod = body["spec"]["template"]["spec"]
    for container in [*pod["initContainers"], *pod["containers"]]:
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MODE"] == "full" and env["DAY"] == "mon", container["name"]
    assert [e["name"] for e in pod["containers"][0]["env"]].count("MODE") == 1
    assert JOB["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "dry"}], (
        "the spec's manifest is not changed"
    )


def test_template_ref_becomes_an_argo_workflow_with_arguments() -> None:
    body = build(target(templateRef={"name": "etl"}, parameters={"date": "today"}), WHO)
    assert body["apiVersion"] == "argoproj.io/v1alpha1" and body["kind"] == "Workflow"
    assert body["spec"] == {
        "workflowTemplateRef": {"name": "etl"},
        "arguments": {"parameters": [{"name": "date", "value": "today"}]},
    }
    cluster = build(target(templateRef={"kind": "ClusterWorkflowTemplate", "name": "etl"}), WHO)
    assert cluster["spec"]["workflowTemplateRef"] == {"name": "etl", "clusterScope": True}


def test_argo_and_tekton_parameters_override_by_name_and_keep_the_rest() -> None:
    argo = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "spec": {"arguments": {"parameters": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]}},
    }
    body = build(target(manifest=argo, parameters={"b": "20", "c": "30"}), WHO)
    assert body["spec"]["arguments"]["parameters"] == [
        {"name": "a", "value": "1"},
        {"name": "b", "value": "20"},
        {"name": "c", "value": "30"},
    ]
    tekton = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "spec": {"pipelineRef": {"name": "p"}}}
    body = build(target(manifest=tekton, parameters={"x": "y"}), WHO)
    assert body["spec"]["params"] == [{"name": "x", "value": "y"}]


# -- what the operator refuses before creating anything -----------------------------------


def test_target_problems_name_the_field() -> None:
    assert target_problem(target(manifest={"kind": "Job"})) == Problem(
        "spec.workflow.manifest.apiVersion", "required (a non-empty string)"
    )
    unknown = target_problem(target(manifest={"apiVersion": "v1", "kind": "ConfigMap"}))
    assert unknown is not None and unknown.field == "spec.workflow.result"
    params = target_problem(
        target(
            manifest={"apiVersion": "v1", "kind": "ConfigMap"},
            parameters={"a": "b"},
            result={"fieldPath": "data.done", "successValues": ["yes"]},
        )
    )
    assert params is not None and params.field == "spec.workflow.parameters"
    rule = target_problem(
        target(manifest={"apiVersion": "v1", "kind": "ConfigMap"}, result={"fieldPath": "data.done"})
    )
    assert rule == Problem("spec.workflow.result", "fieldPath needs successValues or failureValues")
    assert target_problem(target(manifest=JOB, parameters={"A": "b"})) is None
    assert target_problem(target(templateRef={"name": "etl"})) is None


# -- judging ---------------------------------------------------------------------------


def with_status(api_version: str, kind: str, status: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "status": status}


def cond(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def test_job_conditions() -> None:
    running = with_status("batch/v1", "Job", {"active": 1})
    assert judge(running, None).verdict is Verdict.running
    done = with_status(
        "batch/v1", "Job", {"conditions": [cond("SuccessCriteriaMet", "True"), cond("Complete", "True")]}
    )
    assert judge(done, None).verdict is Verdict.succeeded
    failed = judge(
        with_status(
            "batch/v1", "Job", {"conditions": [cond("Failed", "True", "BackoffLimitExceeded", "too many")]}
        ),
        None,
    )
    assert failed.verdict is Verdict.failed and failed.message == "BackoffLimitExceeded: too many"


def test_argo_phases() -> None:
    def phase(value: str, message: str = "") -> Any:
        return judge(
            with_status("argoproj.io/v1alpha1", "Workflow", {"phase": value, "message": message}), None
        )

    assert phase("Running").verdict is Verdict.running
    assert phase("Succeeded").verdict is Verdict.succeeded
    assert phase("Failed", "child failed").verdict is Verdict.failed
    error = phase("Error", "pod deleted")
    assert error.verdict is Verdict.failed and "pod deleted" in error.message


def test_tekton_succeeded_condition() -> None:
    def run(status: str) -> Verdict:
        obj = with_status("tekton.dev/v1", "PipelineRun", {"conditions": [cond("Succeeded", status, "R")]})
        return judge(obj, None).verdict

    assert run("Unknown") is Verdict.running
    assert run("True") is Verdict.succeeded
    assert run("False") is Verdict.failed


def test_result_rules_by_condition_and_by_field_path() -> None:
    by_condition = ResultRule(condition_type="Done")
    obj = with_status("example.io/v1", "Thing", {"conditions": [cond("Done", "False", "Broke")]})
    assert judge(obj, by_condition).verdict is Verdict.failed
    by_field = ResultRule(field_path="status.state.0", success_values=["ok"], failure_values=["bad"])
    assert judge(with_status("example.io/v1", "Thing", {}), by_field).verdict is Verdict.running
    assert (
        judge(with_status("example.io/v1", "Thing", {"state": ["ok"]}), by_field).verdict is Verdict.succeeded
    )
    bad = judge(with_status("example.io/v1", "Thing", {"state": ["bad"]}), by_field)
    assert bad.verdict is Verdict.failed and bad.message == "status.state.0 is bad"
    assert (
        judge(with_status("example.io/v1", "Thing", {"state": ["other"]}), by_field).verdict
        is Verdict.running
    )


# -- status.active and pruning ---------------------------------------------------------


def test_active_list_is_added_to_once() -> None:
    ref = {"apiVersion": "batch/v1", "kind": "Job", "name": "a-1"}
    patch = add_active({}, ref)
    assert patch == {"active": [ref]}
    assert is_active(patch, "a-1") and not is_active(patch, "a-2")
    assert add_active(patch, ref) is None


def run_object(name: str, scheduled: str, owner: str = "uid-1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "annotations": {SCHEDULED_TIME_ANNOTATION: scheduled},
            "ownerReferences": [{"uid": owner}],
        }
    }


def test_prune_keeps_the_newest_finished_and_never_touches_active_or_foreign() -> None:
    objects = [
        run_object("old", "2026-11-23T01:00:00Z"),
        run_object("newer", "2026-11-23T03:00:00.500Z"),
        run_object("new", "2026-11-23T03:00:00Z"),
        run_object("running", "2026-11-23T00:00:00Z"),
        run_object("foreign", "2026-11-22T00:00:00Z", owner="uid-2"),
    ]
    assert to_prune(objects, "uid-1", keep=2, active={"running"}) == ["old"]
    assert sorted(to_prune(objects, "uid-1", keep=0, active={"running"})) == ["new", "newer", "old"]
