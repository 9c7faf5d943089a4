"""`cronwright dev`: the whole product on this machine, until Ctrl-C.

A local control plane with the CRDs installed, then cronwright's own processes on it, and
an echo receiver on 127.0.0.1:8089 — the address every example in crds/ and docs/ calls —
so a first run succeeds and shows what a target receives. ``<state-dir>/dev.json`` tells
scripts where everything is; it is removed on exit so a stale file never points at a dead
cluster.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cronwright.core.controlplane.cluster import ControlPlane, free_port
from cronwright.core.processes import start_component, stop_component


def _start_child(command: list[str], log: Path, ready_path: str) -> tuple[subprocess.Popen[bytes], str]:
    """A cronwright process (the same command a pod runs) on a free port, logging to `log`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    return start_component([*command, f"--port={port}"], log, url, ready_path), url


ECHO_ADDRESS = ("127.0.0.1", 8089)

#: The settings file `cronwright dev` uses unless given one: named targets for the
#: cron-registry and asta examples, all pointing at the echo receiver.
DEV_CONFIG = """\
handlers:
  reminder_scheduler:
    http: {url: "http://127.0.0.1:8089/handlers/reminder_scheduler", method: POST}
  cleanup:
    http: {url: "http://127.0.0.1:8089/handlers/cleanup", method: POST}
channels:
  web: {url: "http://127.0.0.1:8089/channels/web"}
  telegram: {url: "http://127.0.0.1:8089/channels/telegram"}
"""


def _start_echo(log: Path) -> ThreadingHTTPServer | None:
    """Answer 200 to anything and log one line per request; None when the port is taken
    (the user's own receiver is listening there)."""
    logger = logging.getLogger("cronwright.dev.echo")
    handler_log = logging.FileHandler(log)
    handler_log.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler_log)
    logger.setLevel(logging.INFO)

    class Echo(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            logger.info("%s %s %s", self.command, self.path, body[:200].decode(errors="replace"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *_: object) -> None:
            """Requests are logged by `_answer`, with their body."""

    try:
        server = ThreadingHTTPServer(ECHO_ADDRESS, Echo)
    except OSError:
        return None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _api_key(kubeconfig: Path, namespace: str) -> str:
    from cronwright.api.apikeys import create_key
    from cronwright.core.kube import run_with_kube

    return run_with_kube(
        str(kubeconfig),
        lambda kube: create_key(kube, namespace, ["read", "write", "*"], description="cronwright dev"),
    )


def run(state_dir: str, namespace: str, config: str | None = None) -> int:
    state = Path(state_dir).resolve()
    cluster_dir = state / "cluster"
    state.mkdir(parents=True, exist_ok=True)
    if config is None:
        config = str(state / "config.yaml")
        Path(config).write_text(DEV_CONFIG)
    shutil.rmtree(cluster_dir, ignore_errors=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    print("[cronwright] starting the local control plane ...", flush=True)
    plane = ControlPlane(workdir=cluster_dir).start()
    info_path = state / "dev.json"
    children: list[subprocess.Popen[bytes]] = []
    echo: ThreadingHTTPServer | None = None
    try:
        if namespace != "default":
            plane.run_kubectl("create", "namespace", namespace, check=False)
        common = [f"--kubeconfig={plane.kubeconfig}", f"--config={config}"]
        print("[cronwright] starting the operator and the REST facade ...", flush=True)
        operator, operator_url = _start_child(["operator", *common], state / "operator.log", "/readyz")
        children.append(operator)
        api, api_url = _start_child(["api", *common], state / "api.log", "/healthz")
        children.append(api)
        api_key = _api_key(plane.kubeconfig, namespace)
        info = {
            "kubeconfig": str(plane.kubeconfig),
            "namespace": namespace,
            "server": plane.server,
            "metrics_url": f"{operator_url}/metrics",
            "api_url": api_url,
            "api_key": api_key,
        }
        echo = _start_echo(state / "receiver.log")
        info_path.write_text(json.dumps(info, indent=2) + "\n")
        receiver = (
            f"echo receiver on http://127.0.0.1:8089 (requests: {state / 'receiver.log'})"
            if echo
            else "127.0.0.1:8089 is taken: your own receiver gets the examples' calls"
        )
        print(
            f"""
cronwright dev is running. Ctrl-C stops everything.

  kubeconfig: {plane.kubeconfig}
  metrics:    {operator_url}/metrics
  REST API:   {api_url}  (docs: {api_url}/docs)
  API key:    {api_key}   (namespace {namespace}; shown once, also in dev.json)
  state:      {info_path} (logs: operator.log, api.log)
  settings:   {config}
  targets:    {receiver}

  export KUBECONFIG={plane.kubeconfig}
  {plane.kubectl} apply -f crds/examples/cron.yaml
  {plane.kubectl} get cronjobspecs -n {namespace}
  {plane.kubectl} explain cronjobspec.spec.schedule
  curl -H "Authorization: Bearer {api_key}" {api_url}/v1/cron-jobs
""",
            flush=True,
        )
        stop.wait()
    finally:
        print("[cronwright] stopping ...", flush=True)
        info_path.unlink(missing_ok=True)
        if echo is not None:
            echo.shutdown()
        for child in children:
            stop_component(child)
        plane.stop()
        shutil.rmtree(cluster_dir, ignore_errors=True)
    return 0
