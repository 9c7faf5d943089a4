"""Shared fixtures: the real control plane every cluster test runs on.

One etcd + kube-apiserver per test session (started on first use, stopped at the end,
children tied to this process so none outlives it). ``CRONWRIGHT_TEST_KUBECONFIG=<path>``
points the suite at an existing cluster instead; the CRDs are then applied to it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    existing = os.environ.get("CRONWRIGHT_TEST_KUBECONFIG")
    if existing:
        from cronwright.core.controlplane.binaries import ensure_binaries

        kubectl = shutil.which("kubectl")
        handle = Cluster(
            kubeconfig=Path(existing), kubectl=Path(kubectl) if kubectl else ensure_binaries().kubectl
        )
        handle.apply_crds()
        yield handle
        return

    from cronwright.core.controlplane.cluster import ControlPlane

    plane = ControlPlane().start()
    try:
        yield Cluster(kubeconfig=plane.kubeconfig, kubectl=plane.kubectl, plane=plane)
    finally:
        plane.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace per test, so tests never see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl_run("create", "namespace", name)
    yield name
    # No namespace controller runs on a bare control plane, so the namespace would stay
    # Terminating; delete its CronJobSpecs directly and leave the empty namespace.
    cluster.kubectl_run("delete", "cronjobspecs", "--all", "-n", name, "--wait=false", check=False)
