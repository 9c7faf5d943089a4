"""What the cronwright image is built from, as one digest: the cache key of its build.

The build context is what `.dockerignore` admits (the same rules Docker and buildah apply),
plus the Dockerfile and `.dockerignore` themselves; the key hashes each file's path,
executable bit and content, with the recipe's own inputs (the base image, the build
arguments). So an unchanged tree maps to the same key and is never rebuilt, a changed
source, lock or Dockerfile always maps to a new one, and files the build never sees (tests,
docs, the virtualenv, bytecode) do not matter. Pure functions of the tree: no buildah here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Files that shape the build without being in the context's admitted set.
BUILD_FILES = ("Dockerfile", ".dockerignore")


@dataclass(frozen=True)
class IgnoreRule:
    """One `.dockerignore` line: a pattern, and whether it re-admits (`!`)."""

    regex: re.Pattern[str]
    negated: bool
    literal_prefix: str


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match plus `**`, as moby's patternmatcher reads a `.dockerignore`:
    `*` and `?` stay within one path segment, `**` crosses segments (also none)."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                # A class is the same in Go and in `re` ([abc], [a-z], [^a-z]).
                out.append(pattern[i : end + 1])
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    out.append("$")
    return re.compile("".join(out))


def parse_dockerignore(text: str) -> list[IgnoreRule]:
    """The rules of a `.dockerignore`, in order (the last rule that matches a path wins)."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line[1:].strip() if negated else line).lstrip("/")
        if pattern in ("", "."):
            continue
        prefix = re.split(r"[*?\[\\]", pattern, maxsplit=1)[0]
        rules.append(IgnoreRule(_pattern_regex(pattern), negated, prefix))
    return rules


def is_excluded(path: str, rules: Sequence[IgnoreRule]) -> bool:
    """Whether a context-relative path (with `/`) is left out of the build context.

    A rule matches a path when it matches the path itself or any of its parent folders,
    so `core/` admits everything below it and `**/__pycache__` drops whole folders.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for rule in rules:
        if any(rule.regex.match(candidate) for candidate in candidates):
            excluded = not rule.negated
    return excluded


def _may_readmit_below(folder: str, rules: Sequence[IgnoreRule]) -> bool:
    """Whether some `!` rule could admit a path inside an excluded folder (else prune it)."""
    for rule in rules:
        if not rule.negated:
            continue
        prefix = rule.literal_prefix
        if not prefix or prefix.startswith(folder + "/") or (folder + "/").startswith(prefix):
            return True
    return False


def context_files(root: Path, dockerignore: str) -> list[str]:
    """The files (context-relative, `/`-separated, sorted) that a build of `root` sees."""
    rules = parse_dockerignore(dockerignore)
    found: list[str] = []
    for directory, folders, files in os.walk(root):
        relative = Path(directory).relative_to(root).as_posix()
        base = "" if relative == "." else relative + "/"
        folders[:] = [
            name
            for name in sorted(folders)
            if not (is_excluded(base + name, rules) and not _may_readmit_below(base + name, rules))
        ]
        found += [base + name for name in files if not is_excluded(base + name, rules)]
    return sorted(found)


def _file_record(root: Path, relative: str) -> dict[str, str | bool]:
    path = root / relative
    if path.is_symlink():
        return {"path": relative, "symlink": os.readlink(path)}
    return {
        "path": relative,
        "executable": bool(path.stat().st_mode & 0o111),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def build_digest(root: Path, files: Iterable[str], inputs: Mapping[str, str]) -> str:
    """sha256 over the recipe's inputs and each file's path, executable bit and content.

    Timestamps, owners and the walk order do not count: only what the build can copy.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(dict(sorted(inputs.items()))).encode())
    for relative in sorted(set(files)):
        digest.update(b"\0" + json.dumps(_file_record(root, relative), sort_keys=True).encode())
    return digest.hexdigest()


def context_digest(root: Path, inputs: Mapping[str, str]) -> str:
    """The cache key of building `root`'s Dockerfile: its context, build files and inputs."""
    ignore = root / ".dockerignore"
    text = ignore.read_text() if ignore.exists() else ""
    files = context_files(root, text) + [name for name in BUILD_FILES if (root / name).exists()]
    return build_digest(root, files, inputs)


def copy_context(root: Path, destination: Path) -> None:
    """Copy what a build of `root` sees (context and build files) to `destination`.

    Building from this copy makes the key and the image agree even when the tree is being
    edited during a build (the key is then computed from the copy).
    """
    ignore = root / ".dockerignore"
    text = ignore.read_text() if ignore.exists() else ""
    for relative in context_files(root, text) + [name for name in BUILD_FILES if (root / name).exists()]:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target, follow_symlinks=False)
