"""`cronwright dev`: the whole product on this machine, until Ctrl-C.

A local control plane with the CRDs installed, then cronwright's own processes on it.
``<state-dir>/dev.json`` tells scripts where everything is; it is removed on exit so a
stale file never points at a dead cluster.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
from pathlib import Path

from cronwright.core.controlplane.cluster import ControlPlane


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
    try:
        if namespace != "default":
            plane.run_kubectl("create", "namespace", namespace, check=False)
        info = {"kubeconfig": str(plane.kubeconfig), "namespace": namespace, "server": plane.server}
        info_path.write_text(json.dumps(info, indent=2) + "\n")
        print(
            f"""
cronwright dev is running. Ctrl-C stops everything.

  kubeconfig: {plane.kubeconfig}
  state:      {info_path}

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
        plane.stop()
        shutil.rmtree(cluster_dir, ignore_errors=True)
    return 0
