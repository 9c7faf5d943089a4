"""PID 1 of the real node's own pid and mount namespaces (``python -m`` this module).

node.py starts it as ``unshare --mount --pid --fork --kill-child=SIGKILL``; every component
then joins its namespaces. It does two things:

1. Lays an overlay over each host directory the node writes to whatever its config says
   (``node_config.OVERLAID_HOST_DIRS``), with the upper layer in the run directory: inside
   the node those directories look like this machine's, and nothing written there reaches
   the machine. The mounts exist only in this mount namespace, so they vanish with it.
2. Reaps orphans (containerd's shims are re-parented to it) until it is killed. Killing it
   kills every process of the namespace: that is the node's teardown.

It writes ``ready`` (or ``failed`` with the reason) into the run directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from cronwright.core.controlplane.node_config import OVERLAID_HOST_DIRS, Layout


def overlay_options(lower: str, layout: Layout) -> tuple[str, Path, Path]:
    """(mount options, upper, work) for the overlay over `lower`."""
    base = layout.overlays / lower.strip("/").replace("/", "-")
    upper, work = base / "upper", base / "work"
    return f"lowerdir={lower},upperdir={upper},workdir={work}", upper, work


def mount_overlays(layout: Layout) -> None:
    for lower in OVERLAID_HOST_DIRS:
        options, upper, work = overlay_options(lower, layout)
        upper.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, lower], check=True, capture_output=True
        )


def reap_forever() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        signal.sigwait({signal.SIGCHLD})


def main(argv: list[str]) -> int:
    layout = Layout(Path(argv[0]))
    if os.getpid() != 1:
        (layout.root / "failed").write_text("node_init must run as PID 1 of a new pid namespace\n")
        return 1
    try:
        mount_overlays(layout)
    except subprocess.CalledProcessError as error:
        (layout.root / "failed").write_text(f"{error}: {error.stderr.decode(errors='replace')}")
        return 1
    (layout.root / "ready").write_text("ok\n")
    reap_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
