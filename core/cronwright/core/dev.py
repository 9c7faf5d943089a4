"""`cronwright dev`: the whole product on this machine, until Ctrl-C.

A local control plane with the CRDs installed, then cronwright's own processes on it.
``<state-dir>/dev.json`` tells scripts where everything is; it is removed on exit so a
stale file never points at a dead cluster.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from cronwright.core.controlplane.cluster import ControlPlane, die_with_parent, free_port


def _start_child(command: list[str], log: Path, ready_path: str) -> tuple[subprocess.Popen[bytes], str]:
    """A cronwright process (the same command a pod runs) on a free port, logging to `log`."""
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cronwright.core.cli", *command, f"--port={port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}{ready_path}", timeout=1).status_code == 200:
                return process, url
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"`cronwright {command[0]}` did not become ready; see {log}")


def _api_key(kubeconfig: Path, namespace: str) -> str:
    from cronwright.api.apikeys import create_key
    from cronwright.core.kube import run_with_kube

    return run_with_kube(
        str(kubeconfig),
        lambda kube: create_key(kube, namespace, ["read", "write", "*"], description="cronwright dev"),
    )


def run(state_dir: str, namespace: str) -> int:
    state = Path(state_dir).resolve()
    cluster_dir = state / "cluster"
    shutil.rmtree(cluster_dir, ignore_errors=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    print("[cronwright] starting the local control plane ...", flush=True)
    plane = ControlPlane(workdir=cluster_dir).start()
    info_path = state / "dev.json"
    children: list[subprocess.Popen[bytes]] = []
    try:
        if namespace != "default":
            plane.run_kubectl("create", "namespace", namespace, check=False)
        kubeconfig = f"--kubeconfig={plane.kubeconfig}"
        print("[cronwright] starting the operator and the REST facade ...", flush=True)
        operator, operator_url = _start_child(["operator", kubeconfig], state / "operator.log", "/readyz")
        children.append(operator)
        api, api_url = _start_child(["api", kubeconfig], state / "api.log", "/healthz")
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
        info_path.write_text(json.dumps(info, indent=2) + "\n")
        print(
            f"""
cronwright dev is running. Ctrl-C stops everything.

  kubeconfig: {plane.kubeconfig}
  metrics:    {operator_url}/metrics
  REST API:   {api_url}  (docs: {api_url}/docs)
  API key:    {api_key}   (namespace {namespace}; shown once, also in dev.json)
  state:      {info_path} (logs: operator.log, api.log)

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
        for child in children:
            child.terminate()
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
        plane.stop()
        shutil.rmtree(cluster_dir, ignore_errors=True)
    return 0
