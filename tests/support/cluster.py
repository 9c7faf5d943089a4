"""A handle on the cluster under test: kubectl and the Python client, one kubeconfig."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cronwright.core.controlplane.cluster import install_crds, run_kubectl

if TYPE_CHECKING:
    from cronwright.core.controlplane.cluster import ControlPlane


@dataclass
class Cluster:
    kubeconfig: Path
    kubectl: Path
    plane: ControlPlane | None = None

    def kubectl_run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(self.kubectl, self.kubeconfig, *args, input=input, check=check)

    def apply_crds(self) -> None:
        install_crds(self.kubectl, self.kubeconfig)
