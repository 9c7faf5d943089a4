"""Test helpers over the real node (``cronwright.core.controlplane.node.Node``).

The node lives in a network namespace of its own. A test reaches it with
``node.kubectl(...)``/``node.helm(...)``/``node.run(argv)`` (commands inside the namespace),
``node.netns.call(fn, ...)`` (Python code, e.g. ``httpx.get`` of a ClusterIP, inside it),
:func:`receiver_in` (a receiver pods can call) and :func:`host_cluster` (the usual
``Cluster`` handle, through a loopback relay, for the helpers in tests/support/kubectl.py).
docs/test-support.md describes them.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cronwright.core.controlplane.images import BUSYBOX_REF
from cronwright.core.controlplane.node import Node
from tests.support.cluster import Cluster
from tests.support.receiver import Receiver


def receiver_in(node: Node) -> Receiver:
    """A started Receiver listening on the node IP inside the namespace: pods reach it at
    ``receiver.url(path)``. Its listening socket is made there (a socket keeps its
    namespace); stop it when done."""
    assert node.netns is not None, "the node is not started"
    return node.netns.call(Receiver, node.node_ip).start()


def host_cluster(node: Node) -> Cluster:
    """A Cluster handle whose kubeconfig reaches the node's API server through a relay on
    127.0.0.1: tests/support/kubectl.py and Helm work on it unchanged."""
    return Cluster(kubeconfig=node.host_kubeconfig, kubectl=node.binaries.kubectl)


def busybox_pod(name: str, command: str, **spec: Any) -> dict[str, Any]:
    """A pod running `sh -c command` once in the test busybox image (never pulled)."""
    container = {
        "name": "main",
        "image": BUSYBOX_REF,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", command],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def apply(node: Node, namespace: str, *objects: dict[str, Any]) -> None:
    document = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    node.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))


def wait_until(node: Node, namespace: str, kind_name: str, done: Any, timeout: float = 90) -> dict[str, Any]:
    """Poll `kubectl get kind/name` until done(object) is true; fail with its last state."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        result = node.kubectl("get", kind_name, "-n", namespace, "-o", "json", check=False)
        if result.returncode == 0:
            last = json.loads(result.stdout)
            if done(last):
                return last
        time.sleep(0.5)
    raise AssertionError(f"{kind_name} in {namespace} not done in {timeout}s; status: {last.get('status')}")
