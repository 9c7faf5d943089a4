"""`cronwright dev-cluster`: a real single-node Kubernetes on this machine, with cronwright
installed by its own chart from the locally built image, until Ctrl-C — a local cluster
the way kind makes one, built without Docker (docs/real-cluster.md).

Where `cronwright dev` runs the operator and the facade as local processes on a bare
control plane, this runs them as pods: Deployments, Services, ServiceAccount tokens,
RBAC, the admission webhook behind its Service, the Job controller and the garbage
collector are all real. The node lives in a network namespace with no route out; this
process forwards the API server and the facade's Service to 127.0.0.1 and writes where
they are to ``<state-dir>/cluster.json`` and ``<state-dir>/cluster-env`` (for `. `-ing in
a second shell). An echo receiver answers inside the namespace on the node IP, port 8089.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx

from cronwright.cli.devecho import ECHO_ADDRESS, start_echo
from cronwright.cli.devstate import env_script, write_private
from cronwright.core.controlplane import images
from cronwright.core.controlplane.binaries import REPO_ROOT, ensure_helm
from cronwright.core.controlplane.netns import Relay
from cronwright.core.controlplane.node import Node
from cronwright.core.kube import run_with_kube

RELEASE = "cronwright"
SYSTEM = "cronwright-system"


def install_chart(node: Node, image: images.Image) -> None:
    """`helm install` of the chart with the image imported into the node (never pulled)
    and the admission webhook on; returns once its Deployments are Ready."""
    repository, tag = image.ref.rsplit(":", 1)
    values = {"image.repository": repository, "image.tag": tag, "image.pullPolicy": "Never"}
    values["webhook.enabled"] = "true"
    settings = [argument for key, value in values.items() for argument in ("--set", f"{key}={value}")]
    chart = str(REPO_ROOT / "charts" / "cronwright")
    node.helm("install", RELEASE, chart, "--namespace", SYSTEM, "--create-namespace", *settings, "--wait")


def forward_facade(node: Node, timeout: float = 120) -> Relay:
    """The facade's Service on 127.0.0.1, once it answers there: pods Ready come a moment
    before kube-proxy has programmed the Service's endpoints, and until then a connection
    is refused."""
    service = node.kubectl_json("get", "service", f"{RELEASE}-api", "-n", SYSTEM)
    relay = node.forward(service["spec"]["clusterIP"], service["spec"]["ports"][0]["port"])
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://{relay.address}/healthz", timeout=5).status_code == 200:
                return relay
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the facade's Service did not answer at {relay.address} within {timeout:.0f}s"
            )
        time.sleep(0.5)


def api_key(node: Node, namespace: str) -> str:
    """A read+write key for `namespace`, stored where the chart's facade looks for keys."""
    from cronwright.api.apikeys import create_key  # the facade's key format, written as it writes it

    return run_with_kube(
        str(node.host_kubeconfig),
        lambda kube: create_key(kube, namespace, ("read", "write"), keys_namespace=SYSTEM),
    )


def _write_state(state: Path, node: Node, api_url: str, key: str) -> dict[str, str]:
    """cluster.json for scripts and cluster-env for a second shell, both private (they hold
    the API key), and a copy of the relay kubeconfig."""
    kubeconfig = state / "cluster-kubeconfig"
    write_private(kubeconfig, node.host_kubeconfig.read_text())
    info = {
        "kubeconfig": str(kubeconfig.resolve()),
        "api_url": api_url,
        "api_key": key,
        "node_ip": node.node_ip,
        "echo_url": f"http://{node.node_ip}:{ECHO_ADDRESS[1]}",
    }
    write_private(state / "cluster.json", json.dumps(info, indent=2) + "\n")
    path = [Path(sys.executable).parent, node.binaries.kubectl.parent, ensure_helm().parent]
    script = env_script(
        path, kubeconfig.resolve(), api_url, key, "cronwright dev-cluster", f"{state}/cluster-env"
    )
    write_private(state / "cluster-env", script)
    return info


def run(state_dir: str, namespace: str = "default") -> int:
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    image = images.ensure_cronwright()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    node = Node(images=[images.ensure_pause(), images.ensure_busybox(), image])
    print("[cronwright] starting the node ...", flush=True)
    node.start()
    echo = None
    try:
        install_chart(node, image)
        assert node.netns is not None
        netns = node.netns
        address = (node.node_ip, ECHO_ADDRESS[1])
        echo = start_echo(state / "cluster-echo.log", address, lambda *a: netns.call(ThreadingHTTPServer, *a))
        relay = forward_facade(node)
        info = _write_state(state, node, f"http://{relay.address}", api_key(node, namespace))
        print(
            f"""
cronwright is running on a real node (chart release {RELEASE!r} in {SYSTEM}).

  in a second shell:   . {state}/cluster-env      (KUBECONFIG, CRONWRIGHT_URL, API_KEY, PATH)
  kubectl:             kubectl get pods -n {SYSTEM}
  facade (its Service): {info["api_url"]}   API key for namespace {namespace!r}: {info["api_key"]}
  echo receiver:       {info["echo_url"]}  (pods reach it; 127.0.0.1 in a pod is the pod itself)

Ctrl-C stops the node and removes everything it made.""",
            flush=True,
        )
        stop.wait()
    finally:
        if echo is not None:
            echo.shutdown()
        node.stop()
        for name in ("cluster.json", "cluster-env", "cluster-kubeconfig"):
            (state / name).unlink(missing_ok=True)
    return 0
