"""A cronwright component started on this machine with the exact command line the chart
gives its pod (no kubelet runs here), under the chart's service account."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cronwright.core.controlplane.cluster import free_port
from cronwright.core.processes import log_tail, start_component, stop_component


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
        self.args = local_args(pod_args, kubeconfig, config, self.port)
        self.log = log
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str, timeout: float = 90) -> ChartComponent:
        self.popen = start_component(self.args, self.log, self.url, ready_path, timeout, self.env)
        return self

    def stop(self) -> None:
        stop_component(self.popen)

    def tail(self, lines: int = 80) -> str:
        return log_tail(self.log, lines)
