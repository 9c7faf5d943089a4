"""The repository layout never shadows the standard library's `operator` module."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_folder_is_importable_as_operator() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()
    out = subprocess.run(
        [sys.executable, "-c", "import operator, sys; print(operator.__file__); print(operator.itemgetter)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.splitlines()[0] == str(Path(sysconfig.get_paths()["stdlib"]) / "operator.py")
    assert "itemgetter" in out


def test_components_share_one_namespace() -> None:
    import cronwright.api
    import cronwright.core.models
    import cronwright.operator

    assert cronwright.core.models.KIND == "CronJobSpec"
