"""cronwright's own components as child processes of this machine: `cronwright dev` and the
tests start the operator and the facade exactly as a pod does, so they share one way of
starting a component, knowing it is ready, and stopping it.

A child never outlives its parent and has a session of its own (`detached_child`: a
terminal's Ctrl-C reaches the parent alone, which stops children in order), logs to a file
(a pipe nobody reads would fill up and block it), and counts as started only once its
readiness path answers 200: a process that is merely alive may still be loading settings
or waiting for the API server. When it exits or stays unready, the error carries the tail
of its log, which is where the reason is.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from cronwright.core.controlplane.cluster import detached_child


def start_component(
    args: Sequence[str],
    log: Path,
    url: str,
    ready_path: str,
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """`python -m cronwright.cli *args`, appending to `log`, once `url + ready_path` is 200.

    `args` must make the component listen where `url` says (its `--port`). `prefix` is a
    command that execs the rest (a namespace wrapper, say). A child still not ready after
    `timeout` seconds is killed, so a failed start leaves nothing running.
    """
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "cronwright.cli", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=detached_child,
            env=env,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`cronwright {args[0]}` exited with {process.returncode}:\n{log_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}{ready_path}", timeout=1).status_code == 200:
                return process
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"`cronwright {args[0]}` not ready in {timeout}s:\n{log_tail(log)}")


def stop_component(process: subprocess.Popen[bytes] | None, grace: float = 20) -> None:
    """SIGTERM, as Kubernetes stops a pod, and SIGKILL after `grace` seconds."""
    stop_components([process], grace)


def stop_components(processes: Sequence[subprocess.Popen[bytes] | None], grace: float = 20) -> None:
    """SIGTERM to all at once, then wait for each; SIGKILL to those still running after
    `grace` seconds. Together, so stopping several takes as long as the slowest."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tail(log: Path, lines: int = 60) -> str:
    """The last `lines` lines of `log` ("" when there is none yet)."""
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""
