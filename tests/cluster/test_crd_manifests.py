"""kubectl apply against the real API server: the examples are accepted, bad manifests
are refused with a message that names the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "crds" / "examples").glob("*.yaml"))
INVALID = sorted((ROOT / "tests" / "manifests" / "invalid").glob("*.yaml"))


def _expected(manifest: Path) -> list[str]:
    return [
        line.removeprefix("# expect:").strip()
        for line in manifest.read_text().splitlines()
        if line.startswith("# expect:")
    ]


def test_there_is_an_example_per_schedule_form_and_target() -> None:
    text = "\n".join(p.read_text() for p in EXAMPLES)
    for form in (
        "cron:",
        "frequency: daily",
        "frequency: weekly",
        "frequency: monthly",
        "at:",
        "delaySeconds:",
        "every:",
    ):
        assert form in text, form
    for target in ("http:", "kind: Job", "templateRef:", "kind: Workflow"):
        assert target in text, target


@pytest.mark.parametrize("manifest", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_accepted(cluster: Cluster, namespace: str, manifest: Path) -> None:
    out = cluster.kubectl_run("apply", "-n", namespace, "-f", str(manifest)).stdout
    assert "cronjobspec.cronwright.io/" in out
    listed = json.loads(cluster.kubectl_run("get", "cronjobspecs", "-n", namespace, "-o", "json").stdout)
    assert len(listed["items"]) == 1


@pytest.mark.parametrize("manifest", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_is_refused_naming_the_field(
    cluster: Cluster, namespace: str, manifest: Path
) -> None:
    expected = _expected(manifest)
    assert expected, f"{manifest.name} must say what error it expects"
    result = cluster.kubectl_run("apply", "-n", namespace, "-f", str(manifest), check=False)
    assert result.returncode != 0, f"{manifest.name} was accepted"
    for fragment in expected:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"
    missing = cluster.kubectl_run("get", "cronjobspecs", "-n", namespace, "-o", "name").stdout
    assert missing.strip() == ""


def test_printer_columns_and_explain(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl_run("apply", "-n", namespace, "-f", str(ROOT / "crds" / "examples" / "every.yaml"))
    header = cluster.kubectl_run("get", "cjs", "-n", namespace).stdout.splitlines()[0].split()
    assert header[:6] == ["NAME", "SCHEDULE", "TARGET", "PHASE", "NEXT", "RUN"]
    assert header[-3:] == ["LAST", "RESULT", "AGE"]
    explained = cluster.kubectl_run("explain", "cronjobspec.spec.schedule").stdout
    for field in ("cron", "frequency", "dayOfWeek", "dayOfMonth", "at", "delaySeconds", "every", "timeZone"):
        assert f"  {field}\t" in explained, field
    assert "0 = Sunday" in explained


def test_defaults_are_applied_by_the_api_server(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl_run("apply", "-n", namespace, "-f", str(ROOT / "crds" / "examples" / "every.yaml"))
    obj = json.loads(cluster.kubectl_run("get", "cjs", "health-probe", "-n", namespace, "-o", "json").stdout)
    assert obj["spec"]["schedule"]["timeZone"] == "UTC"
    assert obj["spec"]["concurrencyPolicy"] == "Allow"
    assert obj["spec"]["historyLimit"] == 20
    assert obj["spec"]["suspend"] is False
