"""Shared fixtures: the real control plane every cluster test runs on, and the real node.

One etcd + kube-apiserver per test session (started on first use, stopped at the end,
children tied to this process so none outlives it). ``CRONWRIGHT_TEST_KUBECONFIG=<path>``
points the suite at an existing cluster instead; the CRDs are then applied to it.

``real_cluster`` (tests marked ``real_cluster``) is a whole single-node Kubernetes with
kubelet and containerd in namespaces of its own (docs/real-cluster.md), also one per
session, started on first use. It never skips: where the machine lacks root, a package or
a binary, it fails naming what.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.cluster import Cluster

if TYPE_CHECKING:
    from cronwright.core.controlplane.images import Image
    from cronwright.core.controlplane.node import Node

_REAL_CLUSTER_REPORT = pytest.StashKey[list[str]]()


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


def _timings(node: Node, *names: str) -> str:
    return ", ".join(f"{name} {node.timings[name]:.1f}s" for name in names if name in node.timings)


@pytest.fixture(scope="session")
def real_cluster(pytestconfig: pytest.Config) -> Iterator[Node]:
    """The real node with the pause and busybox images imported (import more with
    ``real_cluster.import_images(...)``). Its up and down times are printed at the end.

    Its API server keeps an audit log (``real_cluster.audit_log``) from its first request,
    before the chart is installed: every request of the ServiceAccounts in the chart's
    release namespace, and every request no one could be authenticated for (a 401)."""
    from cronwright.cli.dev_cluster import SYSTEM
    from cronwright.core.controlplane import images
    from cronwright.core.controlplane.node import Node, NodeError
    from tests.support import audit

    try:
        node = Node(
            images=[images.ensure_pause(), images.ensure_busybox()],
            audit_policy=audit.policy(f"system:serviceaccounts:{SYSTEM}"),
        )
        node.start()
    except (NodeError, RuntimeError) as error:
        pytest.fail(f"the real cluster did not start: {error}", pytrace=False)
    report = pytestconfig.stash.setdefault(_REAL_CLUSTER_REPORT, [])
    steps = ("files", "namespaces", "etcd", "containerd and images", "kube-apiserver", "node Ready")
    report.append(
        f"real cluster up in {node.timings['up']:.1f}s ({_timings(node, *steps, 'default ServiceAccount')})"
    )
    yield node
    node.stop()
    report.append(f"real cluster down in {node.timings['down']:.1f}s")
    left = node.leftovers()
    if left:
        pytest.fail("the real cluster left behind:\n  " + "\n  ".join(left), pytrace=False)


@pytest.fixture(scope="session")
def cronwright_image(real_cluster: Node, pytestconfig: pytest.Config) -> Image:
    """The project's image, built from this tree (`make images` builds it first), imported
    into the real node; use `cronwright_image.ref` with `imagePullPolicy: Never`."""
    from cronwright.core.controlplane import images

    image = images.ensure_cronwright()
    real_cluster.import_images(image)
    pytestconfig.stash.setdefault(_REAL_CLUSTER_REPORT, []).append(
        f"cronwright image imported in {real_cluster.timings[f'import {image.ref}']:.1f}s"
    )
    return image


@pytest.fixture
def node_namespace(real_cluster: Node) -> Iterator[str]:
    """A fresh namespace on the real node per test (its namespace controller deletes it)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    real_cluster.kubectl("create", "namespace", name)
    yield name
    real_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    for line in config.stash.get(_REAL_CLUSTER_REPORT, []):
        terminalreporter.write_line(line)
