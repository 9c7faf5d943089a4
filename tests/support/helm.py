"""The Helm CLI (built from the Go module proxy, cached) against the test cluster, and the
chart's service accounts as kubeconfigs of their own for running components under them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from cronwright.core.controlplane.binaries import REPO_ROOT, ensure_helm
from tests.support.cluster import Cluster

CHART = REPO_ROOT / "charts" / "cronwright"


class Helm:
    """Helm gets home folders of its own (HOME too: its Kubernetes client keeps a discovery
    cache under $HOME/.kube, and without HOME writes it into the working directory)."""

    def __init__(self, cluster: Cluster, home: Path) -> None:
        self.cluster = cluster
        self.binary = ensure_helm()
        self.home = home
        self._files = 0
        self.env = {
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "KUBECONFIG": str(cluster.kubeconfig),
            "PATH": "/usr/bin:/bin",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=self.env, timeout=180, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def template(self, namespace: str, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        rendered = self.run("template", "r", str(CHART), "-n", namespace, *self.values_args(values)).stdout
        return [doc for doc in yaml.safe_load_all(rendered) if doc]

    def install(self, release: str, namespace: str, values: dict[str, Any] | None = None) -> None:
        """No --wait: without a kubelet no pod ever becomes ready (Helm 4's default
        strategy, hookOnly, waits for hooks only; the chart has none)."""
        self.run(
            "install", release, str(CHART), "-n", namespace, "--wait=hookOnly", *self.values_args(values)
        )

    def values_args(self, values: dict[str, Any] | None) -> list[str]:
        """A values file (JSON is YAML), so nested values arrive exactly as written."""
        if not values:
            return []
        self._files += 1
        path = self.home / f"values-{self._files}.json"
        path.write_text(json.dumps(values))
        return ["-f", str(path)]


def service_account_kubeconfig(cluster: Cluster, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the service account (a TokenRequest token), so a
    component run on this machine has exactly the rights the chart grants its pods."""
    token = cluster.kubectl_run("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    config = yaml.safe_load(cluster.kubectl_run("config", "view", "--raw", "--minify", "--flatten").stdout)
    config["users"] = [{"name": account, "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = account
    path.write_text(yaml.safe_dump(config))
    return path
