"""The repository layout: it never shadows the standard library's `operator` module, and
imports between its parts go one way."""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

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
    import cronwright.cli.main
    import cronwright.core.models
    import cronwright.operator

    assert cronwright.core.models.KIND == "CronJobSpec"


#: Imports go one way: core knows no other part; the operator, the facade and the kubectl
#: plugin build on core and never on one another; the command line (`cli/`) sits above all
#: of them and nothing imports it. Rules two parts share live in core (core.runs: trigger
#: annotation, run ids, times), so no part needs a sibling's module to agree with it.
PARTS = ("core", "operator", "api", "kubectl", "cli")
MAY_IMPORT = {
    "core": {"core"},
    "operator": {"core", "operator"},
    "api": {"core", "api"},
    "kubectl": {"core", "kubectl"},
    "cli": set(PARTS),
}


def imported_modules(tree: ast.AST, package: str) -> set[str]:
    """Every module a source imports, wherever the import statement sits (module level,
    a function body, an `if TYPE_CHECKING:` block): `from a.b import c` counts as both
    `a.b` and `a.b.c` (c may be a module), relative imports are resolved against `package`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def part_of(module: str) -> str | None:
    """The part (folder) a cronwright module belongs to, None for any other module."""
    head, _, rest = module.partition(".")
    return rest.split(".")[0] if head == "cronwright" and rest.split(".")[0] in PARTS else None


def wrong_imports(root: Path) -> dict[str, list[str]]:
    """Each module file (relative to `root`) that imports a part its own part may not."""
    wrong: dict[str, list[str]] = {}
    for part in PARTS:
        for path in sorted((root / part).rglob("*.py")):
            package = ".".join(path.relative_to(root / part).parent.parts)
            modules = imported_modules(ast.parse(path.read_text(), str(path)), package)
            bad = sorted(m for m in modules if part_of(m) not in (None, *MAY_IMPORT[part]))
            if bad:
                wrong[str(path.relative_to(root))] = bad
    return wrong


def test_imports_go_one_way() -> None:
    assert wrong_imports(ROOT) == {}


#: Underscore names that are public API by convention (namedtuple methods, os._exit).
PUBLIC_UNDERSCORE = {"_replace", "_asdict", "_fields", "_make", "_exit"}


def private_reaches(tree: ast.AST) -> list[str]:
    """Where a module touches another object's or module's private names: `x._name` for
    any x but self and cls (self.other._name included), and `from m import _name`. An
    owner that others need to ask something gives them a public method instead."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names if _private(a.name)]
            found += [f"{node.lineno}: from {node.module} import {name}" for name in names]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and not _own(node.value):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def _own(owner: ast.expr) -> bool:
    return isinstance(owner, ast.Name) and owner.id in ("self", "cls")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORE


def test_no_module_reaches_into_private_state() -> None:
    reaches = {
        str(path.relative_to(ROOT)): found
        for part in PARTS
        for path in sorted((ROOT / part).rglob("*.py"))
        if (found := private_reaches(ast.parse(path.read_text(), str(path))))
    }
    assert reaches == {}


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("def f(scheduler):\n    return scheduler._book\n", True),
        ("class A:\n    def f(self):\n        return self.kube._client\n", True),
        ("from cronwright.core.controlplane.binaries import _go\n", True),
        ("class A:\n    def f(self):\n        return self._book, type(self).__name__\n", False),
        ("def f(point):\n    return point._replace(x=1)\n", False),
    ],
)
def test_the_private_state_rule_sees_every_form(source: str, caught: bool) -> None:
    assert bool(private_reaches(ast.parse(source))) is caught


@pytest.mark.parametrize(
    ("part", "source", "caught"),
    [
        ("core", "from cronwright.operator import main\n", True),
        ("core", "def f():\n    import cronwright.api.apikeys\n", True),  # function-local
        (
            "core",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cronwright import api\n",
            True,
        ),
        ("core", "from cronwright.cli import main\n", True),
        ("core", "from .. import operator\n", True),  # relative, from cronwright/core/x.py
        ("core", "import operator\nfrom cronwright.core import models\n", False),  # the stdlib's
        ("api", "from cronwright.operator.planning import Problem\n", True),
        ("kubectl", "from cronwright.operator import planning\n", True),
        ("operator", "from cronwright.api.errors import ApiProblem\n", True),
        ("operator", "from cronwright.core.runs import run_id\n", False),
        ("cli", "from cronwright.operator import main\nfrom cronwright.api import app\n", False),
    ],
)
def test_the_import_rule_sees_every_form(tmp_path: Path, part: str, source: str, caught: bool) -> None:
    """The scan itself, on one-file trees: what it must catch and what it must let through."""
    folder = tmp_path / part / "cronwright" / part
    folder.mkdir(parents=True)
    (folder / "x.py").write_text(source)
    assert bool(wrong_imports(tmp_path)) is caught
