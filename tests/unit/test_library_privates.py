"""No private attribute of httpx or httpcore is used: the project's rule, checked on the source.

A private attribute is one whose name starts with one underscore. Three ways of reaching
one are caught, in every module under core/, operator/ and api/:

* importing a private module or name (``from httpx._config import ...``, ``httpx._x``);
* ``something._name`` on anything but ``self`` or ``cls`` in a module that imports httpx
  or httpcore (``getattr``/``setattr``/``hasattr``/``delattr`` with such a name count too);
* in a class derived from an httpx or httpcore class, ``self._name`` where ``_name`` is an
  attribute the library's classes in its bases use: a subclass assigning it (as
  ``self._pool = ...`` over ``httpx.AsyncHTTPTransport`` once did) reaches into the library.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TREES = ("core", "operator", "api")
LIBRARIES = ("httpx", "httpcore")
ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "hasattr", "delattr"}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def modules() -> list[Path]:
    found = [path for tree in TREES for path in sorted((REPO / tree).rglob("*.py"))]
    assert any(path.name == "ssrf.py" for path in found)  # the scan sees the transport
    return found


def library_of(name: str) -> str | None:
    top = name.split(".")[0]
    return top if top in LIBRARIES else None


def imports_a_library(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(library_of(alias.name) for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and library_of(node.module or ""):
            return True
    return False


def private_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if library_of(alias.name) and any(map(private, alias.name.split("."))):
                    yield node.lineno, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and library_of(node.module or ""):
            module = node.module or ""
            names = [alias.name for alias in node.names]
            if any(map(private, module.split("."))) or any(map(private, names)):
                yield node.lineno, f"from {module} import {', '.join(names)}"


def foreign_private_accesses(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            base = ast.unparse(node.value)
            if base not in ("self", "cls"):
                yield node.lineno, f"{base}.{node.attr}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ATTRIBUTE_FUNCTIONS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and private(node.args[1].value)
        ):
            yield node.lineno, ast.unparse(node)


def functions_of(cls: type) -> Iterator[Callable[..., object]]:
    for value in vars(cls).values():
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        if isinstance(value, property):
            yield from (f for f in (value.fget, value.fset, value.fdel) if f is not None)
        elif inspect.isfunction(value):
            yield value


@cache
def library_privates(cls: type) -> frozenset[str]:
    """The private ``self.`` attributes a library class's own methods use.

    Method by method, because httpx sets ``__module__ = "httpx"`` on its public classes,
    which sends ``inspect.getsource(cls)`` to the wrong file."""
    names: set[str] = set()
    for function in functions_of(cls):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        except (OSError, TypeError):  # no source: nothing to clash with
            continue
        names.update(
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        )
    return frozenset(names)


def subclass_clashes(tree: ast.Module, namespace: dict[str, object]) -> Iterator[tuple[int, str]]:
    """``self._name`` in our subclasses of library classes, where a library base uses ``_name``."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        cls = namespace.get(node.name)
        if not isinstance(cls, type):
            continue
        bases = [base for base in cls.__mro__ if library_of(base.__module__)]
        if not bases:
            continue
        theirs = frozenset().union(*(library_privates(base) for base in bases))
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Attribute)
                and isinstance(inner.value, ast.Name)
                and inner.value.id == "self"
                and inner.attr in theirs
            ):
                owners = [b for b in bases if inner.attr in library_privates(b)]
                library = ", ".join(f"{b.__module__}.{b.__qualname__}" for b in owners)
                yield inner.lineno, f"{node.name}: self.{inner.attr} is private to {library}"


def module_name(path: Path) -> str:
    tree = path.relative_to(REPO).parts[0]
    return ".".join(path.relative_to(REPO / tree).with_suffix("").parts).removesuffix(".__init__")


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = list(private_imports(tree))
    if imports_a_library(tree):
        found += foreign_private_accesses(tree)
        module = importlib.import_module(module_name(path))
        found += subclass_clashes(tree, vars(module))
    relative = path.relative_to(REPO)
    return [f"{relative}:{line}: {what}" for line, what in found]


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(REPO)))
def test_no_module_uses_a_private_attribute_of_httpx_or_httpcore(path: Path) -> None:
    assert violations(path) == []


# The checks themselves, on what they must catch and must let through.

OLD_TRANSPORT = """
import httpcore
import httpx

class GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend, limits):
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(network_backend=backend)
"""


def test_the_check_catches_the_transport_that_replaced_httpxs_private_pool() -> None:
    namespace: dict[str, object] = {}
    exec(compile(OLD_TRANSPORT, "old_transport.py", "exec"), namespace)
    tree = ast.parse(OLD_TRANSPORT)
    assert [what for _, what in subclass_clashes(tree, namespace)] == [
        "GuardedTransport: self._pool is private to httpx.AsyncHTTPTransport"
    ]


@pytest.mark.parametrize(
    "source",
    [
        "from httpx._config import create_ssl_context",
        "from httpcore import _exceptions",
        "import httpcore._async.connection_pool",
        "import httpx\nclient = httpx.AsyncClient()\nclient._transport",
        "import httpx\ntransport = object()\ntransport._pool = None",
        "import httpcore\ngetattr(httpcore.AsyncConnectionPool(), '_connections')",
    ],
)
def test_the_check_catches_private_imports_and_accesses(source: str) -> None:
    tree = ast.parse(source)
    assert list(private_imports(tree)) + list(foreign_private_accesses(tree))


def test_the_check_lets_own_private_attributes_and_public_api_through() -> None:
    source = (
        "import httpx\n"
        "class Mine:\n"
        "    def __init__(self):\n"
        "        self._resolve = None\n"
        "        self.pool = httpx.AsyncClient().__aenter__\n"
    )
    tree = ast.parse(source)
    assert list(private_imports(tree)) + list(foreign_private_accesses(tree)) == []
