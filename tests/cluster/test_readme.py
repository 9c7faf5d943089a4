"""README.md as a test: every shell example runs, in order, as printed, against
`cronwright dev` on the real control plane, in a shell that loaded `.cronwright/env`, and
answers what the README says it answers (`# → …` lines; tests/support/readme.py).

The shell runs in a folder that looks like a checkout (every top-level entry of the
repository linked in) whose `.cronwright/` is this test's own `cronwright dev` state, so
README paths (`crds/examples/...`, `. .cronwright/env`) work as printed and a developer's
own `make dev` is never touched. On its PATH, kubectl, helm and cronwright are not found
until `.cronwright/env` is loaded, as for a new user.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import readme
from tests.support.cluster import Cluster
from tests.support.dev import DevProcess

ROOT = Path(__file__).resolve().parents[2]
OWN_COMMANDS = ("kubectl", "helm", "cronwright")


def _checkout(tmp: Path) -> Path:
    work = tmp / "checkout"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in (".cronwright", ".git"):
            (work / entry.name).symlink_to(entry)
    return work


def _shadowing_path(tmp: Path) -> str:
    """PATH with a folder in front whose kubectl, helm and cronwright fail as "command not
    found" would: only `.cronwright/env`, which puts its folders before it, makes them work
    (this machine has an unrelated kubectl in /usr/bin)."""
    shadows = tmp / "not-on-path"
    shadows.mkdir()
    for name in OWN_COMMANDS:
        script = shadows / name
        message = f"{name}: command not found (load .cronwright/env)"
        script.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 127\n")
        script.chmod(0o755)
    return os.pathsep.join([str(shadows), os.environ.get("PATH", "/usr/bin:/bin")])


@pytest.fixture(scope="module")
def dev_checkout(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A checkout-like folder with `cronwright dev` running on its `.cronwright/`.
    (`cluster` only makes sure the binaries are built; dev runs a control plane of its own.)"""
    work = _checkout(tmp_path_factory.mktemp("readme"))
    dev = DevProcess(state=work / ".cronwright", cwd=work).start()
    try:
        yield work
    finally:
        output = dev.stop()
        if dev.process is not None and dev.process.returncode != 0:
            print(output)


@pytest.mark.timeout(600)  # starting cronwright dev takes 10-30 s on a busy 2-core machine
def test_every_shell_example_of_the_readme_runs_as_printed(dev_checkout: Path, tmp_path: Path) -> None:
    blocks = readme.blocks((ROOT / "README.md").read_text())
    runnable = [block for block in blocks if block.lang == "sh" and block.skip is None]
    commands = [command for block in runnable for command in readme.commands(block)]
    assert len(runnable) >= 10 and len(commands) >= 50, "the README lost its examples"
    assert runnable[0].body == [". .cronwright/env"], "the first example loads .cronwright/env"
    results = tmp_path / "results"
    results.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": _shadowing_path(tmp_path), "HOME": str(home), "LANG": "C.UTF-8"}
    done = subprocess.run(
        ["bash", "-c", readme.script(commands, results)],
        cwd=dev_checkout,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    for index, command in enumerate(commands):
        rc_file = results / f"{index}.rc"
        rc = int(rc_file.read_text()) if rc_file.exists() else None
        out = (results / f"{index}.out").read_text() if rc is not None else ""
        err = (results / f"{index}.err").read_text() if rc is not None else ""
        broken = readme.problem(command, rc, out, err)
        assert broken is None, (
            f"README.md:{command.line}: {broken}\n$ {command.text}\n--- stdout\n{out[-3000:]}"
            f"\n--- stderr\n{err[-3000:]}"
        )
