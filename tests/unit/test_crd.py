"""The CRD in crds/ is exactly what the models generate, and is a structural schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cronwright.core import crd

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "cronjobspecs.cronwright.io.yaml"


def test_crd_file_is_the_generated_one() -> None:
    assert CRD_FILE.read_text() == crd.render(), (
        "crds/ is stale: run `cronwright crd > crds/cronjobspecs.cronwright.io.yaml`"
    )


def _walk(node: dict[str, Any], path: str) -> list[str]:
    """Every place that breaks Kubernetes' structural-schema rules."""
    problems = []
    if "$ref" in node or "anyOf" in node or "title" in node:
        problems.append(f"{path}: $ref/anyOf/title")
    if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: no type")
    for name, sub in node.get("properties", {}).items():
        problems += _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        problems += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        problems += _walk(node["additionalProperties"], f"{path}{{}}")
    return problems


def test_schema_is_structural_and_documented() -> None:
    schema = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema, "") == []
    spec = schema["properties"]["spec"]["properties"]
    undocumented = [
        f"spec.{name}.{field}"
        for name, node in spec.items()
        for field, sub in node.get("properties", {}).items()
        if not sub.get("description")
    ]
    assert undocumented == []


def test_document_parses_as_one_crd() -> None:
    docs = list(yaml.safe_load_all(CRD_FILE.read_text()))
    assert [d["kind"] for d in docs] == ["CustomResourceDefinition"]
    assert docs[0]["metadata"]["name"] == "cronjobspecs.cronwright.io"
