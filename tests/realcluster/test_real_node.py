"""The real node itself: it runs pods and Jobs, routes Services, and nothing leaves it.

These are the fixture's own tests; the product's tests on the node build on them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cronwright.core.controlplane import images, node_host
from cronwright.core.controlplane.binaries import REPO_ROOT, pinned_containerd_version, pinned_versions
from cronwright.core.controlplane.images import Image
from cronwright.core.controlplane.node import Node
from cronwright.core.controlplane.node_config import CLOSED_REGISTRY
from tests.support.kubectl import wait_for
from tests.support.real_cluster import apply, busybox_pod, host_cluster, receiver_in, wait_until

pytestmark = pytest.mark.real_cluster


def _phase(*phases: str) -> Any:
    return lambda pod: pod.get("status", {}).get("phase") in phases


def test_the_node_is_ready_with_the_pinned_releases(real_cluster: Node) -> None:
    node = real_cluster.kubectl_json("get", "node", real_cluster.node_name)
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    info = node["status"]["nodeInfo"]
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}

    assert ready == "True"
    assert info["kubeletVersion"] == pinned_versions().kubernetes
    assert info["containerRuntimeVersion"] == f"containerd://{pinned_containerd_version().lstrip('v')}"
    assert addresses["InternalIP"] == real_cluster.node_ip


def test_a_pod_runs_to_succeeded_and_reaches_the_api_server_through_its_service(
    real_cluster: Node, node_namespace: str
) -> None:
    # busybox nc exits non-zero when it cannot connect: the pod only succeeds when the
    # `kubernetes` Service's ClusterIP answers from the pod network
    apply(
        real_cluster,
        node_namespace,
        busybox_pod("hello", 'nc -w 5 "$KUBERNETES_SERVICE_HOST" 443 </dev/null'),
    )

    pod = wait_until(real_cluster, node_namespace, "pod/hello", _phase("Succeeded", "Failed"))

    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert pod["status"]["podIP"].startswith("10.244.0.")


def test_a_job_runs_to_complete_through_the_job_controller(real_cluster: Node, node_namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "work"},
        "spec": {
            "completions": 2,
            "parallelism": 2,
            "backoffLimit": 0,
            "template": {"spec": busybox_pod("unused", "echo working; sleep 1")["spec"]},
        },
    }
    apply(real_cluster, node_namespace, job)

    def finished(job: dict[str, Any]) -> bool:
        conditions = job.get("status", {}).get("conditions", [])
        return any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions)

    done = wait_until(real_cluster, node_namespace, "job/work", finished)

    conditions = {c["type"]: c["status"] for c in done["status"]["conditions"]}
    assert conditions.get("Complete") == "True"
    assert done["status"]["succeeded"] == 2
    pods = real_cluster.kubectl_json("get", "pods", "-n", node_namespace, "-l", "job-name=work")["items"]
    assert sorted(p["status"]["phase"] for p in pods) == ["Succeeded", "Succeeded"]


def test_a_service_routes_to_a_pod_and_the_test_reaches_it_inside_the_namespace(
    real_cluster: Node, node_namespace: str
) -> None:
    server = busybox_pod(
        "web", "mkdir /www && echo served-by-pod > /www/index.html && httpd -f -p 8080 -h /www"
    )
    server["metadata"]["labels"] = {"app": "web"}
    server["spec"]["restartPolicy"] = "Always"
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    apply(real_cluster, node_namespace, server, service)
    wait_until(real_cluster, node_namespace, "pod/web", _phase("Running"))
    cluster_ip = real_cluster.kubectl_json("get", "service", "web", "-n", node_namespace)["spec"]["clusterIP"]
    assert real_cluster.netns is not None

    def fetch() -> httpx.Response | None:
        try:
            return real_cluster.netns.call(httpx.get, f"http://{cluster_ip}/index.html", timeout=3)  # type: ignore[union-attr]
        except httpx.HTTPError:
            return None  # kube-proxy has not programmed the Service yet

    response = wait_for(fetch, 60, "the Service to answer")

    assert response.status_code == 200
    assert response.text == "served-by-pod\n"


def test_a_pod_calls_a_receiver_listening_inside_the_namespace(
    real_cluster: Node, node_namespace: str
) -> None:
    receiver = receiver_in(real_cluster)
    try:
        request = "POST /from-pod HTTP/1.0\\r\\nContent-Length: 2\\r\\n\\r\\nhi"
        call = f"printf '{request}' | nc -w 5 {real_cluster.node_ip} {receiver.port}"
        apply(real_cluster, node_namespace, busybox_pod("caller", call))
        wait_until(real_cluster, node_namespace, "pod/caller", _phase("Succeeded", "Failed"))

        received = receiver.at("/from-pod")
    finally:
        receiver.stop()

    assert [(r.method, r.body) for r in received] == [("POST", b"hi")]


def test_the_cronwright_image_runs_as_a_pod_non_root_on_a_read_only_root(
    real_cluster: Node, node_namespace: str, cronwright_image: Image
) -> None:
    pod = busybox_pod("image", "unused")
    pod["spec"]["containers"] = [
        {
            "name": "cronwright",
            "image": cronwright_image.ref,
            "imagePullPolicy": "Never",
            "args": ["crd", "--kind", "CronJobSpec"],
            "securityContext": {
                "runAsNonRoot": True,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
    ]
    apply(real_cluster, node_namespace, pod)

    done = wait_until(real_cluster, node_namespace, "pod/image", _phase("Succeeded", "Failed"))
    printed = yaml.safe_load(real_cluster.kubectl("logs", "image", "-n", node_namespace).stdout)

    assert done["status"]["phase"] == "Succeeded"
    assert (printed["kind"], printed["metadata"]["name"]) == (
        "CustomResourceDefinition",
        "cronjobspecs.cronwright.io",
    )


def test_tools_outside_the_namespace_reach_the_api_server_through_the_loopback_relay(
    real_cluster: Node,
) -> None:
    cluster = host_cluster(real_cluster)
    server = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]

    listed = json.loads(cluster.kubectl_run("get", "nodes", "-o", "json").stdout)

    assert server.startswith("https://127.0.0.1:")
    assert [n["metadata"]["name"] for n in listed["items"]] == [real_cluster.node_name]


def test_an_image_pull_fails_locally_at_the_closed_registry_port(
    real_cluster: Node, node_namespace: str
) -> None:
    """Proof that nothing leaves: a pull of any name not imported goes to 127.0.0.1:1."""
    names = ["docker.io/library/alpine:3.20", "registry.k8s.io/pause:3.10"]
    pod = busybox_pod("pull", "true")
    pod["spec"]["containers"] = [
        {"name": f"c{i}", "image": name, "imagePullPolicy": "Always"} for i, name in enumerate(names)
    ]
    apply(real_cluster, node_namespace, pod)

    def refused(pod: dict[str, Any]) -> bool:
        statuses = pod.get("status", {}).get("containerStatuses", [])
        reasons = [s.get("state", {}).get("waiting", {}).get("reason") for s in statuses]
        return len(statuses) == len(names) and all(r in ("ErrImagePull", "ImagePullBackOff") for r in reasons)

    failed = wait_until(real_cluster, node_namespace, "pod/pull", refused)

    closed = CLOSED_REGISTRY.removeprefix("http://")
    for status in failed["status"]["containerStatuses"]:
        assert f"dial tcp {closed}: connect: connection refused" in status["state"]["waiting"]["message"]
    events = real_cluster.kubectl_json(
        "get", "events", "-n", node_namespace, "--field-selector", "involvedObject.name=pull,reason=Failed"
    )["items"]
    pulls = [e["message"] for e in events if e["message"].startswith("Failed to pull image")]
    assert {message.split('"')[1] for message in pulls} == set(names)
    assert all(f"dial tcp {closed}: connect: connection refused" in message for message in pulls)


def test_a_second_node_runs_a_pod_and_leaves_nothing_behind_when_stopped() -> None:
    node = Node(images=[images.ensure_pause(), images.ensure_busybox()])
    try:
        node.start()
        apply(node, "default", busybox_pod("once", "echo once"))
        wait_until(node, "default", "pod/once", _phase("Succeeded"))
    finally:
        node.stop()
    print(f"second node: up {node.timings['up']:.1f}s, down {node.timings['down']:.1f}s")

    assert node.leftovers() == []


def test_a_killed_test_process_takes_its_node_down_and_the_next_node_cleans_up(tmp_path: Path) -> None:
    """SIGKILL of the process that started a node (no teardown code runs): every process of
    the node dies with it; what stays on disk (run directory, cgroups) is stale and goes
    at the next node's start."""
    script = textwrap.dedent(
        f"""
        import json, os, time
        from cronwright.core.controlplane import images
        from cronwright.core.controlplane.node import Node
        from tests.support.real_cluster import apply, busybox_pod, wait_until
        node = Node(images=[images.ensure_pause(), images.ensure_busybox()]).start()
        apply(node, "default", busybox_pod("sleeper", "sleep 600"))
        wait_until(node, "default", "pod/sleeper", lambda p: p.get("status", {{}}).get("phase") == "Running")
        info = {{"id": node.instance.id, "root": str(node.instance.root), "ns": node.namespaces}}
        open({str(tmp_path / "node.json")!r}, "w").write(json.dumps(info))
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT)
    try:
        wait_for(
            lambda: (tmp_path / "node.json").exists() or child.poll() is not None, 180, "the child's node"
        )
        assert child.poll() is None, "the child process failed to start its node"
        info = json.loads((tmp_path / "node.json").read_text())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    wait_for(lambda: not node_host.processes_in(info["ns"]), 30, "the node's processes to die")
    root = Path(info["root"])
    assert root.exists(), "the killed node's run directory is what a later node must clean up"

    removed = node_host.clean_stale()

    assert info["root"] in removed
    assert node_host.leftovers(info["id"], root, info["ns"], node_host.host_links()) == []
