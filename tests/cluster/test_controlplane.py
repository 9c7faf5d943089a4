"""The control plane the suite runs on is the real, pinned Kubernetes release."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cronwright.core.controlplane.binaries import pinned_versions
from cronwright.core.controlplane.cluster import ControlPlane
from tests.support.cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def _wait_gone(pids: list[int], within: float = 30.0) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


def test_server_reports_the_pinned_release(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl_run("version", "-o", "json").stdout)
    if cluster.plane is None:
        pytest.skip("version pinning is a property of the suite's own control plane")
    pinned = pinned_versions().kubernetes
    assert version["serverVersion"]["gitVersion"] == pinned
    assert version["clientVersion"]["gitVersion"] == pinned
    assert version["serverVersion"]["minor"] == pinned.split(".")[1]


def test_crd_is_established_with_short_name_and_status_subresource(cluster: Cluster) -> None:
    crd = json.loads(cluster.kubectl_run("get", "crd", "cronjobspecs.cronwright.io", "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    resources = cluster.kubectl_run("api-resources", "--api-group=cronwright.io", "-o", "wide").stdout
    assert "cjs" in resources and "CronJobSpec" in resources
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_stop_leaves_no_process_behind() -> None:
    plane = ControlPlane(install_crds=False).start()
    pids = plane.pids
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    plane.stop()
    assert _wait_gone(pids) == []


def test_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL leaves no chance to clean up; the kernel's parent-death signal still does."""
    script = textwrap.dedent(
        """
        import sys, time
        from cronwright.core.controlplane.cluster import ControlPlane
        plane = ControlPlane(install_crds=False).start()
        print(" ".join(map(str, plane.pids)), flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _wait_gone(pids) == []


def test_a_kept_plane_restarts_with_its_data_and_credentials_and_replaces_a_taken_port(
    tmp_path: Path,
) -> None:
    """What `cronwright dev` relies on across restarts: etcd's data and the kubeconfig's
    credentials survive; a port another process took meanwhile is replaced, the rest kept."""
    workdir = tmp_path / "cluster"
    first = ControlPlane(workdir=workdir, install_crds=False, keep_credentials=True).start()
    try:
        first.run_kubectl("create", "configmap", "kept", "--from-literal=answer=42")
        ports = dict(first.ports)
        admin_cert = (workdir / "pki" / "admin.crt").read_bytes()
    finally:
        first.stop()
    taken = ("apiserver", "etcd-peer")  # other processes listen there now
    with socket.socket() as squat_1, socket.socket() as squat_2:
        for squatter, role in zip((squat_1, squat_2), taken, strict=True):
            squatter.bind(("127.0.0.1", ports[role]))
            squatter.listen()
        second = ControlPlane(workdir=workdir, install_crds=False, keep_credentials=True, ports=dict(ports))
        second.start()
    try:
        assert all(second.ports[role] != ports[role] for role in taken)
        assert second.ports["etcd"] == ports["etcd"]
        assert (workdir / "pki" / "admin.crt").read_bytes() == admin_cert
        kept = second.run_kubectl("get", "configmap", "kept", "-o", "jsonpath={.data.answer}")
        assert kept.stdout == "42"
    finally:
        second.stop()
