"""The cronwright image's cache key: a changed source, lock or Dockerfile always rebuilds,
an unchanged tree (or a change the build never sees) never does."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronwright.core.controlplane.image_keys import (
    context_digest,
    context_files,
    copy_context,
    is_excluded,
    parse_dockerignore,
)

ROOT = Path(__file__).resolve().parents[2]
PROJECT_IGNORE = (ROOT / ".dockerignore").read_text()
INPUTS = {"BASE_IMAGE": "localhost/cronwright-base:bookworm-0123456789ab"}


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("pyproject.toml", False),
        ("requirements.lock", False),
        ("core/cronwright/core/models.py", False),
        ("operator/cronwright/operator/main.py", False),
        ("core/cronwright/core/__pycache__/models.cpython-311.pyc", True),
        ("core/cronwright/core/models.pyc", True),
        ("core/cronwright.egg-info/PKG-INFO", True),
        ("tests/unit/test_dockerfile.py", True),
        ("docs/images.md", True),
        (".venv/bin/python", True),
        (".git/HEAD", True),
        ("Dockerfile", True),  # the build file is not copied (it is hashed all the same)
        ("charts/cronwright/values.yaml", True),
    ],
)
def test_the_projects_dockerignore(path: str, excluded: bool) -> None:
    assert is_excluded(path, parse_dockerignore(PROJECT_IGNORE)) is excluded


@pytest.mark.parametrize(
    ("rules", "path", "excluded"),
    [
        ("*.md", "README.md", True),
        ("*.md", "docs/a.md", False),  # * stays in one segment
        ("**/*.md", "docs/a.md", True),
        ("**/*.md", "README.md", True),  # ** also matches no folder
        ("docs", "docs/deep/a.md", True),  # a folder rule covers what is inside
        ("docs\n!docs/keep.md", "docs/keep.md", False),  # the last matching rule wins
        ("!docs/keep.md\ndocs", "docs/keep.md", True),
        ("/build", "build/x", True),  # a leading slash is the context root
        ("# docs", "docs/a.md", False),  # a comment is not a rule
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file10.txt", False),
        ("file[0-4].txt", "file3.txt", True),
        ("file[^0-4].txt", "file7.txt", True),
    ],
)
def test_ignore_rules(rules: str, path: str, excluded: bool) -> None:
    assert is_excluded(path, parse_dockerignore(rules)) is excluded


SOURCE_FOLDERS = ("core", "operator", "api", "kubectl", "cli")


def test_the_context_is_every_tracked_source_file_and_nothing_else() -> None:
    """Compared with git: the tracked files under the copied folders, and the root files
    the Dockerfile copies; untracked files (bytecode, editor leftovers) only where the
    build would see them too."""
    tracked = subprocess.run(
        ["git", "ls-files", *SOURCE_FOLDERS], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    files = set(context_files(ROOT, PROJECT_IGNORE))
    roots = {"pyproject.toml", "README.md", "requirements.lock", "requirements-build.lock"}
    assert roots | set(tracked) <= files
    assert all(f in roots or f.split("/")[0] in SOURCE_FOLDERS for f in files)
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)


# -- the key as a property over random trees -------------------------------------------------

_names = st.sampled_from(["a.py", "b.py", "c.toml", "d.txt"])
_places = st.sampled_from(["core/pkg", "core/pkg/sub", "api", "tests", "docs", "core/pkg/__pycache__", "."])
_trees = st.dictionaries(st.tuples(_places, _names), st.binary(max_size=40), min_size=1, max_size=8)
_IGNORE = "*\n!core/\n!api/\n!pyproject.toml\n**/__pycache__\n"


def _write(root: Path, tree: dict[tuple[str, str], bytes]) -> None:
    (root / "Dockerfile").write_text("FROM ${BASE_IMAGE}\nCOPY core ./core\n")
    (root / ".dockerignore").write_text(_IGNORE)
    for (place, name), data in tree.items():
        path = root / place / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _seen_by_the_build(place: str) -> bool:
    return place.split("/")[0] in ("core", "api") and "__pycache__" not in place


@settings(max_examples=60, deadline=None)
@given(tree=_trees, pick=st.integers(min_value=0), extra=st.binary(min_size=1, max_size=8))
def test_a_changed_file_changes_the_key_exactly_when_the_build_sees_it(
    tree: dict[tuple[str, str], bytes], pick: int, extra: bytes
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        _write(root, tree)
        before = context_digest(root, INPUTS)
        assert context_digest(root, INPUTS) == before, "the same tree, the same key"
        place, name = sorted(tree)[pick % len(tree)]
        path = root / place / name
        path.write_bytes(path.read_bytes() + extra)
        assert (context_digest(root, INPUTS) != before) is _seen_by_the_build(place)


@settings(max_examples=30, deadline=None)
@given(tree=_trees)
def test_times_and_permission_bits_other_than_execute_do_not_change_the_key(
    tree: dict[tuple[str, str], bytes],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        _write(root, tree)
        before = context_digest(root, INPUTS)
        for place, name in tree:
            path = root / place / name
            os.utime(path, (1, 1))
            path.chmod(0o600)
        assert context_digest(root, INPUTS) == before


@settings(max_examples=30, deadline=None)
@given(tree=_trees, new=st.tuples(_places, st.sampled_from(["new.py", "new.cfg"])))
def test_a_new_file_changes_the_key_exactly_when_the_build_sees_it(
    tree: dict[tuple[str, str], bytes], new: tuple[str, str]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        _write(root, tree)
        before = context_digest(root, INPUTS)
        path = root / new[0] / new[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
        assert (context_digest(root, INPUTS) != before) is _seen_by_the_build(new[0])


def test_the_dockerfile_the_ignore_file_the_base_and_the_execute_bit_change_the_key(tmp_path: Path) -> None:
    _write(tmp_path, {("core/pkg", "a.py"): b"print(1)\n", ("tests", "t.py"): b"x\n"})
    before = context_digest(tmp_path, INPUTS)
    assert context_digest(tmp_path, {"BASE_IMAGE": "python:3.11.14-slim-trixie"}) != before

    (tmp_path / "core/pkg/a.py").chmod(0o755)
    assert context_digest(tmp_path, INPUTS) != before
    (tmp_path / "core/pkg/a.py").chmod(0o644)
    assert context_digest(tmp_path, INPUTS) == before

    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "USER 10001\n")
    assert context_digest(tmp_path, INPUTS) != before
    dockerfile.write_text("FROM ${BASE_IMAGE}\nCOPY core ./core\n")
    assert context_digest(tmp_path, INPUTS) == before

    (tmp_path / ".dockerignore").write_text(_IGNORE + "!tests/\n")
    assert context_digest(tmp_path, INPUTS) != before


def test_the_projects_key_follows_its_locks_and_sources(tmp_path: Path) -> None:
    """On a copy of this project's build context: each kind of input moves the key."""
    copy_context(ROOT, tmp_path)
    before = context_digest(tmp_path, INPUTS)
    assert before == context_digest(ROOT, INPUTS), "the copy a build runs from has the tree's key"
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_new.py").write_text("def test(): pass\n")
    assert context_digest(tmp_path, INPUTS) == before, "tests are not in the image"
    for relative in ("requirements.lock", "pyproject.toml", "cli/cronwright/cli/main.py"):
        path = tmp_path / relative
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        assert context_digest(tmp_path, INPUTS) != before, relative
        path.write_bytes(original)
    assert context_digest(tmp_path, INPUTS) == before
