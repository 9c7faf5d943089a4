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
import shlex
import shutil
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from cronwright.core.controlplane import images
from cronwright.core.controlplane.binaries import REPO_ROOT, ensure_helm
from cronwright.core.controlplane.node import Node
from cronwright.core.kube import run_with_kube

RELEASE = "cronwright"
SYSTEM = "cronwright-system"
ECHO_PORT = 8089


def _echo(node: Node, log: Path) -> ThreadingHTTPServer:
    """Answer 200 to anything on node-IP:8089 inside the namespace; one log line per call."""

    class Echo(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with log.open("a") as out:
                out.write(json.dumps({"method": self.command, "path": self.path}) + "\n")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b'{"ok":true}')

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *_: object) -> None:
            pass

    assert node.netns is not None
    server = node.netns.call(ThreadingHTTPServer, (node.node_ip, ECHO_PORT), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _install(node: Node, image: images.Image) -> None:
    repository, tag = image.ref.rsplit(":", 1)
    values = {"image.repository": repository, "image.tag": tag, "image.pullPolicy": "Never"}
    values["webhook.enabled"] = "true"
    settings = [argument for key, value in values.items() for argument in ("--set", f"{key}={value}")]
    chart = str(REPO_ROOT / "charts" / "cronwright")
    node.helm("install", RELEASE, chart, "--namespace", SYSTEM, "--create-namespace", *settings, "--wait")


def _wait_until_serving(url: str, timeout: float = 120) -> None:
    """The facade answering through its Service: pods Ready come a moment before kube-proxy
    has programmed the Service's endpoints, and until then a connection is refused."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the facade's Service did not answer at {url} within {timeout:.0f}s")
        time.sleep(0.5)


def _api_key(node: Node, namespace: str) -> str:
    from cronwright.api.apikeys import create_key  # the facade's key format, written as it writes it

    return run_with_kube(
        str(node.host_kubeconfig),
        lambda kube: create_key(kube, namespace, ("read", "write"), keys_namespace=SYSTEM),
    )


def _write_state(state: Path, node: Node, api_url: str, key: str) -> dict[str, str]:
    state.mkdir(parents=True, exist_ok=True)
    kubeconfig = state / "cluster-kubeconfig"
    shutil.copyfile(node.host_kubeconfig, kubeconfig)
    kubeconfig.chmod(0o600)
    info = {
        "kubeconfig": str(kubeconfig.resolve()),
        "api_url": api_url,
        "api_key": key,
        "node_ip": node.node_ip,
        "echo_url": f"http://{node.node_ip}:{ECHO_PORT}",
    }
    (state / "cluster.json").write_text(json.dumps(info, indent=2) + "\n")
    path = [str(Path(sys.executable).parent), str(node.binaries.kubectl.parent), str(ensure_helm().parent)]
    env = {"KUBECONFIG": info["kubeconfig"], "CRONWRIGHT_URL": api_url, "API_KEY": key}
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    lines.append(f'export PATH={shlex.quote(":".join(path))}:"$PATH"')
    (state / "cluster-env").write_text("\n".join(lines) + "\n")
    (state / "cluster-env").chmod(0o600)
    return info


def run(state_dir: str, namespace: str = "default") -> int:
    state = Path(state_dir)
    image = images.ensure_cronwright()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    node = Node(images=[images.ensure_pause(), images.ensure_busybox(), image])
    print("[cronwright] starting the node ...", flush=True)
    node.start()
    echo = None
    try:
        _install(node, image)
        echo = _echo(node, state / "cluster-echo.log")
        service = node.kubectl_json("get", "service", f"{RELEASE}-api", "-n", SYSTEM)
        relay = node.forward(service["spec"]["clusterIP"], service["spec"]["ports"][0]["port"])
        _wait_until_serving(f"http://{relay.address}")
        info = _write_state(state, node, f"http://{relay.address}", _api_key(node, namespace))
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
