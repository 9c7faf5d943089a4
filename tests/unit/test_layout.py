"""The repository layout never shadows the standard library's `operator` module."""

from __future__ import annotations

import ast
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


def _imported_modules(folder: Path) -> dict[str, set[str]]:
    """Each module file below `folder` and the cronwright modules it imports."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(ROOT))] = {n for n in names if n.startswith("cronwright.")}
    return found


def test_the_facade_and_the_plugin_do_not_import_the_operator() -> None:
    """Rules both sides use (trigger annotation, run ids, times) live in core.runs."""
    for folder in ("api", "kubectl"):
        wrong = {
            path: sorted(n for n in names if n.startswith("cronwright.operator"))
            for path, names in _imported_modules(ROOT / folder).items()
        }
        assert {path: names for path, names in wrong.items() if names} == {}
