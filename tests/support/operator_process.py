"""`cronwright operator` as a real subprocess against the test cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cronwright.core.controlplane.cluster import free_port
from cronwright.core.processes import log_tail, start_component, stop_component


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        log_dir: Path,
        instance: str = "op-1",
        lease_seconds: int = 6,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.instance = instance
        self.lease_seconds = lease_seconds
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
            # Shorter than the default 15 s, so takeovers after a kill fit in a test.
            f"--shard-lease-seconds={self.lease_seconds}",
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

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """/metrics parsed: the value of each sample by name and labels, so a test compares
        numbers instead of searching the exposition text."""
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(self.metrics())
            for sample in family.samples
        }

    def sample(self, name: str, **labels: str) -> float | None:
        return self.samples().get((name, frozenset(labels.items())))

    def tail(self, lines: int = 60) -> str:
        return log_tail(self.log, lines)
