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


def _start_operator(kubeconfig: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The operator as a child process (the same command a pod runs), logs in the state dir."""
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cronwright.core.cli",
                "operator",
                f"--kubeconfig={kubeconfig}",
                f"--port={port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        time.sleep(0.2)
    raise RuntimeError(f"the operator did not become ready; see {log}")


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
        print("[cronwright] starting the operator ...", flush=True)
        operator, metrics_url = _start_operator(plane.kubeconfig, state / "operator.log")
        children.append(operator)
        info = {
            "kubeconfig": str(plane.kubeconfig),
            "namespace": namespace,
            "server": plane.server,
            "metrics_url": f"{metrics_url}/metrics",
        }
        info_path.write_text(json.dumps(info, indent=2) + "\n")
        print(
            f"""
cronwright dev is running. Ctrl-C stops everything.

  kubeconfig: {plane.kubeconfig}
  metrics:    {metrics_url}/metrics
  state:      {info_path} (operator log: {state / "operator.log"})

  export KUBECONFIG={plane.kubeconfig}
  {plane.kubectl} apply -f crds/examples/cron.yaml
  {plane.kubectl} get cronjobspecs -n {namespace}
  {plane.kubectl} explain cronjobspec.spec.schedule
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
