"""`cronwright operator` as a real subprocess against the test cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from cronwright.core.controlplane.cluster import free_port
from cronwright.core.processes import log_tail, start_component, stop_component


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        log_dir: Path,
        instance: str = "op-1",
        claim_ahead: float = 2.0,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.instance = instance
        self.claim_ahead = claim_ahead
        self.extra = extra
        self.log = log_dir / f"operator-{instance}.log"
        self.port = 0
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> OperatorProcess:
        self.port = free_port()
        args = [
            "operator",
            f"--kubeconfig={self.kubeconfig}",
            f"--namespace={self.namespace}",
            f"--lease-namespace={self.namespace}",
            f"--instance={self.instance}",
            f"--port={self.port}",
            f"--claim-ahead={self.claim_ahead}",
            "--log-format=text",
            *self.extra,
        ]
        self.popen = start_component(args, self.log, self.base_url, "/readyz", timeout)
        return self

    def stop(self) -> None:
        """Graceful: SIGTERM, as Kubernetes stops a pod."""
        stop_component(self.popen)

    def kill(self) -> None:
        """Abrupt: SIGKILL, as a node failure or an OOM kill."""
        if self.popen and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def metrics(self) -> str:
        return httpx.get(f"{self.base_url}/metrics", timeout=5).text

    def tail(self, lines: int = 60) -> str:
        return log_tail(self.log, lines)
