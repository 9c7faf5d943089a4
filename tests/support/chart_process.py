"""A cronwright component started on this machine with the exact command line the chart
gives its pod (no kubelet runs here), under the chart's service account."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from cronwright.core.controlplane.cluster import die_with_parent, free_port


def local_args(pod_args: list[str], kubeconfig: Path, config: Path, port: int) -> list[str]:
    """The pod's arguments, with what only a pod has replaced by this machine's: loopback
    instead of 0.0.0.0, free ports, the settings file's local copy, a kubeconfig."""
    replaced = {
        "--host": "127.0.0.1",
        "--port": str(port),
        "--config": str(config),
        "--webhook-host": "127.0.0.1",
        "--webhook-port": str(free_port()),
    }
    args = []
    for arg in pod_args:
        name, _, _ = arg.partition("=")
        args.append(f"{name}={replaced[name]}" if name in replaced else arg)
    return [*args, f"--kubeconfig={kubeconfig}"]


class ChartComponent:
    def __init__(
        self, pod_args: list[str], kubeconfig: Path, config: Path, log: Path, env: dict[str, str]
    ) -> None:
        self.port = free_port()
        self.command = [
            sys.executable,
            "-m",
            "cronwright.core.cli",
            *local_args(pod_args, kubeconfig, config, self.port),
        ]
        self.log = log
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str, timeout: float = 90) -> ChartComponent:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent, env=self.env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.command[3]} exited with {self.popen.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}{ready_path}", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.command[3]} not ready in {timeout}s:\n{self.tail()}")

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
