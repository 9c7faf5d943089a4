"""The chart ships exactly the CRDs of the top-level crds/ folder, file by file.

A new CRD generated into crds/ makes this fail until `make crd` (which writes both places)
has copied it into the chart, so `helm install` never lacks a resource the code uses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP = ROOT / "crds"
CHART = ROOT / "charts" / "cronwright" / "crds"


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.yaml")}


def test_chart_has_the_same_crd_files() -> None:
    assert _names(TOP), "no CRDs in crds/"
    assert _names(CHART) == _names(TOP), "chart crds/ differs from crds/: run `make crd`"


@pytest.mark.parametrize("name", sorted(_names(TOP)))
def test_chart_crd_is_identical(name: str) -> None:
    assert (CHART / name).read_bytes() == (TOP / name).read_bytes(), (
        f"charts/cronwright/crds/{name} is stale: run `make crd`"
    )
