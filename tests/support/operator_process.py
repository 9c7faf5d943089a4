"""`cronwright operator` as a real subprocess against the test cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cronwright.core.controlplane.cluster import die_with_parent, free_port


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
        command = [
            sys.executable,
            "-m",
            "cronwright.core.cli",
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
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent, env={**os.environ}
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"operator exited with {self.popen.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"operator not ready in {timeout}s:\n{self.tail()}")

    def stop(self) -> None:
        """Graceful: SIGTERM, as Kubernetes stops a pod."""
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def kill(self) -> None:
        """Abrupt: SIGKILL, as a node failure or an OOM kill."""
        if self.popen and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def metrics(self) -> str:
        return httpx.get(f"{self.base_url}/metrics", timeout=5).text

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
