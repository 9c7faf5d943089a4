"""The CRDs in crds/ are exactly what the models generate, and are structural schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cronwright.core import crd

CRDS = Path(__file__).resolve().parents[2] / "crds"


@pytest.mark.parametrize("kind", list(crd.DEFINITIONS))
def test_crd_file_is_the_generated_one(kind: str) -> None:
    path = CRDS / crd.file_name(kind)
    assert path.exists() and path.read_text() == crd.render(kind), (
        f"crds/ is stale: run `make crd` (cronwright crd --kind {kind} > crds/{path.name})"
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


@pytest.mark.parametrize("kind", list(crd.DEFINITIONS))
def test_schema_is_structural_and_documented(kind: str) -> None:
    schema = crd.DEFINITIONS[kind]()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema, "") == []
    spec = schema["properties"]["spec"]["properties"]
    undocumented = [
        f"spec.{name}.{field}"
        for name, node in spec.items()
        for field, sub in node.get("properties", {}).items()
        if not sub.get("description")
    ]
    assert undocumented == []


@pytest.mark.parametrize(
    ("kind", "name"),
    [("CronJobSpec", "cronjobspecs.cronwright.io"), ("CronProject", "cronprojects.cronwright.io")],
)
def test_document_parses_as_one_crd(kind: str, name: str) -> None:
    docs = list(yaml.safe_load_all((CRDS / f"{name}.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["CustomResourceDefinition"]
    assert docs[0]["metadata"]["name"] == name
    assert docs[0]["spec"]["names"]["kind"] == kind


@pytest.mark.parametrize("kind", list(crd.DEFINITIONS))
def test_cli_prints_what_make_crd_writes(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    from cronwright.cli import main as cli

    assert cli.main(["crd", "--kind", kind]) == 0
    assert capsys.readouterr().out == (CRDS / crd.file_name(kind)).read_text()
