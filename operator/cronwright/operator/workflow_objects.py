"""Run objects of workflow targets, as pure functions: build one, judge one.

A workflow target creates one Kubernetes object per run (a batch/v1 Job, an Argo
Workflow, a Tekton PipelineRun, ...) and reads the run's result from that object's status.
Everything that can be decided without the API server is decided here, so the I/O shell
(workflow_runs.py) only creates, reads and deletes.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cronwright.core import models
from cronwright.core.models import ObjectRef, ResultRule, WorkflowTarget
from cronwright.core.runs import parse_time
from cronwright.operator.planning import Problem

CRONJOBSPEC_LABEL = "cronwright.io/cronjobspec"
RUN_ID_LABEL = "cronwright.io/run-id"
SCHEDULED_TIME_ANNOTATION = "cronwright.io/scheduled-time"
ARGO_API_VERSION = "argoproj.io/v1alpha1"
MAX_NAME = 63
HASH_LENGTH = 8
_NOT_LABEL_SAFE = re.compile(r"[^a-z0-9-]+")
_LABEL_VALUE = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
#: What a manifest may not set in metadata: the operator owns the run object's identity.
_OWNED_METADATA = ("name", "generateName", "namespace", "uid", "resourceVersion", "creationTimestamp")


class Verdict(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    message: str = ""


# -- what the target asks for -----------------------------------------------------------


def group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _is_job(api_version: str, kind: str) -> bool:
    return group_of(api_version) == "batch" and kind == "Job"


def _is_argo_workflow(api_version: str, kind: str) -> bool:
    return group_of(api_version) == "argoproj.io" and kind == "Workflow"


def _is_tekton(api_version: str) -> bool:
    return group_of(api_version) == "tekton.dev"


def manifest_field(target: WorkflowTarget) -> str:
    """The spec field a refusal of the run object is about."""
    return "spec.workflow.templateRef" if target.template_ref is not None else "spec.workflow.manifest"


def target_problem(target: WorkflowTarget) -> Problem | None:
    """What the CRD schema cannot check about a workflow target, named by field."""
    if target.manifest is not None:
        manifest = target.manifest
        for key in ("apiVersion", "kind"):
            if not isinstance(manifest.get(key), str) or not manifest[key]:
                return Problem(f"spec.workflow.manifest.{key}", "required (a non-empty string)")
        if not isinstance(manifest.get("metadata", {}), dict):
            return Problem("spec.workflow.manifest.metadata", "must be an object")
    api_version, kind = kind_of(target)
    rule = target.result
    if rule is not None:
        if not rule.condition_type and not rule.field_path:
            return Problem("spec.workflow.result", "set conditionType or fieldPath")
        if rule.field_path and not (rule.success_values or rule.failure_values):
            return Problem("spec.workflow.result", "fieldPath needs successValues or failureValues")
    elif not _knows_result(api_version, kind):
        return Problem(
            "spec.workflow.result",
            f"cronwright cannot tell when a {kind} ({api_version}) has finished; "
            "set result.conditionType or result.fieldPath",
        )
    if target.parameters and not _takes_parameters(api_version, kind):
        return Problem(
            "spec.workflow.parameters",
            f"cronwright does not know where parameters go in a {kind} ({api_version}); "
            "write them into the manifest instead",
        )
    return None


def kind_of(target: WorkflowTarget) -> tuple[str, str]:
    """(apiVersion, kind) of the run objects the target creates."""
    if target.template_ref is not None:
        return ARGO_API_VERSION, "Workflow"
    manifest = target.manifest or {}
    return str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))


def _knows_result(api_version: str, kind: str) -> bool:
    return _is_job(api_version, kind) or _is_argo_workflow(api_version, kind) or _is_tekton(api_version)


def _takes_parameters(api_version: str, kind: str) -> bool:
    return _is_job(api_version, kind) or _is_argo_workflow(api_version, kind) or _is_tekton(api_version)


# -- naming -------------------------------------------------------------------------------


def object_name(cronjobspec_name: str, run_id: str) -> str:
    """`<name>-<8 hex>`: one name per run, so a second create of the same run is refused
    (AlreadyExists) instead of starting it twice. The hash is of the run id, which itself
    is derived from the resource's uid and the scheduled time (or the manual trigger
    value). Dots become dashes and the name is cut to leave room for the hash: the result
    is a DNS label (a Job's name also becomes a Pod label value, limited to 63)."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:HASH_LENGTH]
    base = _NOT_LABEL_SAFE.sub("-", cronjobspec_name.lower())
    base = base[: MAX_NAME - HASH_LENGTH - 1].strip("-") or "run"
    return f"{base}-{digest}"


def cronjobspec_label(cronjobspec_name: str) -> str:
    """A label value naming the resource: the name itself when it fits a label value;
    else a shortened name plus a hash, still unique per name."""
    if len(cronjobspec_name) <= MAX_NAME and re.fullmatch(
        r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", cronjobspec_name
    ):
        return cronjobspec_name
    digest = hashlib.sha256(cronjobspec_name.encode()).hexdigest()[:HASH_LENGTH]
    return f"{cronjobspec_name[: MAX_NAME - HASH_LENGTH - 1].strip('-.')}-{digest}"


# -- building -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunIdentity:
    """Who a run object belongs to and which run it is."""

    cronjobspec_name: str
    cronjobspec_uid: str
    namespace: str
    run_id: str
    scheduled_time: str


def build(target: WorkflowTarget, who: RunIdentity) -> dict[str, Any]:
    """The object to create for one run; `target` must have passed `target_problem`."""
    if target.template_ref is not None:
        ref: dict[str, Any] = {"name": target.template_ref.name}
        if target.template_ref.kind == "ClusterWorkflowTemplate":
            ref["clusterScope"] = True
        body: dict[str, Any] = {
            "apiVersion": ARGO_API_VERSION,
            "kind": "Workflow",
            "spec": {"workflowTemplateRef": ref},
        }
    else:
        body = copy.deepcopy(target.manifest or {})
    body.pop("status", None)
    metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _OWNED_METADATA}
    metadata["name"] = object_name(who.cronjobspec_name, who.run_id)
    metadata["namespace"] = who.namespace
    metadata["labels"] = {
        **(metadata.get("labels") or {}),
        CRONJOBSPEC_LABEL: cronjobspec_label(who.cronjobspec_name),
        RUN_ID_LABEL: who.run_id,
    }
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        SCHEDULED_TIME_ANNOTATION: who.scheduled_time,
    }
    # controller: the CronJobSpec manages the object; blockOwnerDeletion false: deleting
    # a CronJobSpec never waits on its run objects (and needs no delete rights on them).
    metadata["ownerReferences"] = [
        {
            "apiVersion": models.API_VERSION,
            "kind": models.KIND,
            "name": who.cronjobspec_name,
            "uid": who.cronjobspec_uid,
            "controller": True,
            "blockOwnerDeletion": False,
        }
    ]
    body["metadata"] = metadata
    if target.parameters:
        merge_parameters(body, target.parameters)
    return body


def merge_parameters(body: dict[str, Any], parameters: dict[str, str]) -> None:
    """Parameters override what the manifest sets under the same name, keep the rest:
    Argo `spec.arguments.parameters`, Tekton `spec.params`, a Job's env in every container."""
    api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
    spec = body.setdefault("spec", {})
    if _is_argo_workflow(api_version, kind):
        arguments = spec.setdefault("arguments", {})
        arguments["parameters"] = _merge_named(arguments.get("parameters"), parameters)
    elif _is_tekton(api_version):
        spec["params"] = _merge_named(spec.get("params"), parameters)
    elif _is_job(api_version, kind):
        pod = spec.setdefault("template", {}).setdefault("spec", {})
        for key in ("initContainers", "containers"):
            for container in pod.get(key) or []:
                container["env"] = _merge_named(container.get("env"), parameters)


def _merge_named(existing: list[dict[str, Any]] | None, values: dict[str, str]) -> list[dict[str, Any]]:
    kept = [item for item in existing or [] if item.get("name") not in values]
    return kept + [{"name": name, "value": value} for name, value in sorted(values.items())]


def reference(obj: dict[str, Any], run_id: str | None = None, **extra: Any) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(
        api_version=obj.get("apiVersion", ""),
        kind=obj.get("kind", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid"),
        run_id=run_id,
        **extra,
    )


# -- judging ------------------------------------------------------------------------------


def judge(obj: dict[str, Any], rule: ResultRule | None) -> Judgement:
    """Running, succeeded or failed, from a fetched run object's status."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    if rule is not None:
        return _judge_by_rule(obj, rule)
    if _is_job(api_version, kind):
        if _condition(obj, "Complete", "True"):
            return Judgement(Verdict.succeeded)
        failed = _condition(obj, "Failed", "True")
        if failed is not None:
            return Judgement(Verdict.failed, _explain(failed, "the Job failed"))
        return Judgement(Verdict.running)
    if _is_argo_workflow(api_version, kind):
        status = obj.get("status") or {}
        phase = status.get("phase")
        if phase == "Succeeded":
            return Judgement(Verdict.succeeded)
        if phase in ("Failed", "Error"):
            return Judgement(Verdict.failed, f"Workflow {phase}: {status.get('message') or 'no message'}")
        return Judgement(Verdict.running)
    return _judge_condition(obj, "Succeeded")


def _judge_by_rule(obj: dict[str, Any], rule: ResultRule) -> Judgement:
    if rule.condition_type:
        return _judge_condition(obj, rule.condition_type)
    value = field_value(obj, rule.field_path or "")
    if value is None:
        return Judgement(Verdict.running)
    text = str(value)
    if text in (rule.success_values or []):
        return Judgement(Verdict.succeeded)
    if text in (rule.failure_values or []):
        return Judgement(Verdict.failed, f"{rule.field_path} is {text}")
    return Judgement(Verdict.running)


def _judge_condition(obj: dict[str, Any], kind: str) -> Judgement:
    """Tekton's convention (and the usual one): True = done well, False = done badly."""
    if _condition(obj, kind, "True"):
        return Judgement(Verdict.succeeded)
    failed = _condition(obj, kind, "False")
    if failed is not None:
        return Judgement(Verdict.failed, _explain(failed, f"condition {kind} is False"))
    return Judgement(Verdict.running)


def _condition(obj: dict[str, Any], kind: str, status: str) -> dict[str, Any] | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind and c.get("status") == status), None)


def _explain(condition: dict[str, Any], fallback: str) -> str:
    parts = [p for p in (condition.get("reason"), condition.get("message")) if p]
    return ": ".join(parts) or fallback


def field_value(obj: dict[str, Any], path: str) -> Any:
    """A dotted path (`status.phase`, `status.items.0.state`); None when absent."""
    current: Any = obj
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


# -- cleanup ------------------------------------------------------------------------------


def to_prune(objects: list[dict[str, Any]], owner_uid: str, keep: int, active: set[str]) -> list[str]:
    """Names of finished run objects beyond the newest `keep`: the history limit applied to
    run objects. Objects of another owner (a deleted and re-created namesake) and
    objects in flight are never touched."""
    owned = [
        o
        for o in objects
        if any(ref.get("uid") == owner_uid for ref in (o.get("metadata") or {}).get("ownerReferences") or [])
        and o["metadata"].get("name") not in active
    ]
    owned.sort(key=_age_key, reverse=True)
    return [o["metadata"]["name"] for o in owned[keep:]]


def _age_key(obj: dict[str, Any]) -> tuple[datetime, str]:
    meta = obj["metadata"]
    scheduled = parse_time((meta.get("annotations") or {}).get(SCHEDULED_TIME_ANNOTATION))
    created = parse_time(meta.get("creationTimestamp"))
    return scheduled or created or datetime.min.replace(tzinfo=UTC), meta.get("name", "")
