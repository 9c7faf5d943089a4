"""`cronwright dev` (what `make dev` runs): everything comes up, the printed key works in
the REST facade, an example manifest runs against the echo receiver, Ctrl-C stops it all."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from cronwright.core.controlplane.cluster import die_with_parent, run_kubectl
from tests.support.cluster import Cluster
from tests.support.kubectl import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _echo_requests(log: Path) -> list[tuple[str, str]]:
    """(method, path) of each request the echo receiver logged ("<date> <time> <method>
    <path> <body>"): fields compared, not words searched in a line with a timestamp."""
    if not log.exists():
        return []
    return [tuple(line.split(" ", 4)[2:4]) for line in log.read_text().splitlines() if line.count(" ") >= 3]


def _banner(output: str) -> dict[str, str]:
    """The "  label:  value  (remark)" lines dev prints: the first word of each value."""
    return {
        m["label"]: m["value"] for m in re.finditer(r"(?m)^  (?P<label>[A-Za-z ]+):\s+(?P<value>\S+)", output)
    }


def test_dev_runs_the_product_and_stops_cleanly(cluster: Cluster, tmp_path: Path) -> None:
    """`cluster` is only borrowed for its kubectl binary; dev starts a control plane of its own."""
    state = tmp_path / "state"
    echo_expected = _port_free(8089)
    process = subprocess.Popen(
        [sys.executable, "-m", "cronwright.core.cli", "dev", f"--state-dir={state}", "--namespace=dev"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
        cwd=ROOT,
    )
    try:
        info = wait_for(
            lambda: (state / "dev.json").exists() and json.loads((state / "dev.json").read_text()),
            120,
            "dev.json",
            every=0.5,
        )
        headers = {"Authorization": f"Bearer {info['api_key']}"}
        listed = httpx.get(f"{info['api_url']}/v1/cron-jobs", headers=headers, timeout=10)
        assert listed.status_code == 200 and listed.json()["meta"]["total"] == 0, listed.text
        registered = httpx.post(
            f"{info['api_url']}/api/v1/cron/jobs",
            headers=headers,
            json={"name": "Reminders", "schedule": "0 8 * * *", "handler": "reminder_scheduler"},
            timeout=10,
        )
        assert registered.status_code in (200, 201), registered.text
        assert httpx.get(info["metrics_url"], timeout=5).status_code == 200

        kubeconfig = Path(info["kubeconfig"])
        run_kubectl(
            cluster.kubectl, kubeconfig, "-n", "dev", "apply", "-f", str(ROOT / "crds/examples/every.yaml")
        )
        run_kubectl(
            cluster.kubectl,
            kubeconfig,
            "-n",
            "dev",
            "annotate",
            "cjs",
            "health-probe",
            "cronwright.io/trigger=now",
        )
        if echo_expected:
            wait_for(
                lambda: ("GET", "/healthz") in _echo_requests(state / "receiver.log"),
                60,
                "the example's run at the echo receiver",
            )
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output
    banner = _banner(output)
    assert banner["API key"] == info["api_key"]
    assert banner["settings"] == str(state.resolve() / "config.yaml")
    assert not (state / "dev.json").exists()
    assert not (state / "cluster").exists()
