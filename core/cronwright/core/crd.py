"""Generate the CustomResourceDefinitions (CronJobSpec, CronProject) from the pydantic models.

Kubernetes wants a *structural* OpenAPI v3 schema: every node typed, no ``$ref``, no
``anyOf`` of types, no ``title``. Pydantic emits plain JSON Schema, so this module inlines
references and rewrites ``Optional[X]`` to ``X``: absence, not ``null``, is how a
Kubernetes object says "unset", and ``omitempty``-style YAML round-trips cleanly with
GitOps tools that way.
"""

from __future__ import annotations

from typing import Any

import yaml

from cronwright.core import models

_KEEP = {
    "type",
    "description",
    "default",
    "enum",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "x-kubernetes-validations",
    "x-kubernetes-preserve-unknown-fields",
}


def _clean_description(text: str) -> str:
    """Docstrings wrap at source width; kubectl explain rewraps, so join the lines."""
    return " ".join(line.strip() for line in text.strip().splitlines())


def structural(node: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """Turn one pydantic JSON-schema node into a structural Kubernetes schema node."""
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return structural(merged, defs)
    if "anyOf" in node:
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        if len(variants) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {node}")
        merged = {**variants[0], **{k: v for k, v in node.items() if k != "anyOf"}}
        return structural(merged, defs)

    out: dict[str, Any] = {k: v for k, v in node.items() if k in _KEEP}
    if out.get("default", 0) is None:
        del out["default"]
    if "description" in out:
        out["description"] = _clean_description(out["description"])
    if "const" in node:
        out["enum"] = [node["const"]]
        out.setdefault("type", "string")
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("x-kubernetes-preserve-unknown-fields") and node.get("type") == "object":
        out["type"] = "object"
    elif out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("type", None)
    if out.get("format") == "date-time":
        out["type"] = "string"

    node_type = node.get("type")
    if node_type == "object" and "properties" in node:
        out["properties"] = {name: structural(sub, defs) for name, sub in node["properties"].items()}
        if node.get("required"):
            out["required"] = list(node["required"])
    elif node_type == "object" and isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = structural(node["additionalProperties"], defs)
    elif node_type == "array":
        out["items"] = structural(node.get("items", {}), defs)
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        raise ValueError(f"schema node without a type: {node}")
    return _ordered(out)


_FIRST = ("type", "description")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """type and description first, so the YAML in crds/ reads top-down."""
    head = {k: node[k] for k in _FIRST if k in node}
    return {**head, **{k: v for k, v in node.items() if k not in _FIRST}}


def _schema_of(model: type[models.Model]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True)
    return structural(raw, raw.get("$defs", {}))


def _printer_columns() -> list[dict[str, Any]]:
    """What `kubectl get cjs` shows. Last Run and Last Result read the same record, the
    newest run of any trigger: lastScheduleTime (scheduled runs only) left Last Run empty
    after manual runs."""
    return [
        {"name": "Schedule", "type": "string", "jsonPath": ".status.schedule"},
        {"name": "Target", "type": "string", "jsonPath": ".status.target"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Next Run", "type": "string", "jsonPath": ".status.nextRunTime"},
        {"name": "Last Result", "type": "string", "jsonPath": ".status.lastRun.result"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend", "priority": 1},
        {"name": "Last Run", "type": "string", "jsonPath": ".status.lastRun.scheduledTime", "priority": 1},
    ]


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition object for CronJobSpec."""
    root: dict[str, Any] = {
        "type": "object",
        "description": _clean_description(models.CronJobSpec.__doc__ or ""),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _schema_of(models.CronJobSpecSpec),
            "status": _schema_of(models.CronJobSpecStatus),
        },
    }
    return _definition(
        kind=models.KIND,
        plural=models.PLURAL,
        singular=models.SINGULAR,
        short_names=models.SHORT_NAMES,
        root=root,
        extra_version={"subresources": {"status": {}}, "additionalPrinterColumns": _printer_columns()},
    )


def project_crd() -> dict[str, Any]:
    """The CustomResourceDefinition object for CronProject (no status: nothing runs it)."""
    root = {
        "type": "object",
        "description": _clean_description(models.CronProject.__doc__ or ""),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _schema_of(models.CronProjectSpec),
        },
    }
    columns = [
        {"name": "Display Name", "type": "string", "jsonPath": ".spec.displayName"},
        {"name": "URL", "type": "string", "jsonPath": ".spec.url"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _definition(
        kind=models.PROJECT_KIND,
        plural=models.PROJECT_PLURAL,
        singular=models.PROJECT_SINGULAR,
        short_names=["cpj"],
        root=root,
        extra_version={"additionalPrinterColumns": columns},
    )


def _definition(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: list[str],
    root: dict[str, Any],
    extra_version: dict[str, Any],
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{models.GROUP}",
            "labels": {"app.kubernetes.io/name": "cronwright", "app.kubernetes.io/part-of": "cronwright"},
        },
        "spec": {
            "group": models.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": short_names,
                "categories": ["cronwright"],
            },
            "versions": [
                {
                    "name": models.VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    **extra_version,
                }
            ],
        },
    }


#: Every CRD cronwright installs, by kind: the file in crds/ is `<plural>.<group>.yaml`.
DEFINITIONS = {models.KIND: crd, models.PROJECT_KIND: project_crd}


HEADER = "# Generated by `cronwright crd` from cronwright/core/models.py. Do not edit by hand.\n"


def render(kind: str = models.KIND) -> str:
    """One CRD as the YAML document kept in crds/."""
    return HEADER + yaml.safe_dump(DEFINITIONS[kind](), sort_keys=False, width=100)


def file_name(kind: str) -> str:
    return f"{DEFINITIONS[kind]()['metadata']['name']}.yaml"
