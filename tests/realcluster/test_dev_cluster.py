"""`cronwright dev-cluster` (`make dev-cluster`): the real node with the chart installed,
reached the way README says, and gone after Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cronwright.core.controlplane.cluster import die_with_parent
from tests.support.dev import echo_requests
from tests.support.kubectl import wait_for

pytestmark = pytest.mark.real_cluster


def test_dev_cluster_serves_the_chart_until_ctrl_c(tmp_path: Path) -> None:
    state = tmp_path / "state"
    log = (tmp_path / "dev-cluster.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cronwright.cli", "dev-cluster", f"--state-dir={state}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    try:
        wait_for(lambda: (state / "cluster.json").exists() or process.poll() is not None, 600, "cluster.json")
        assert process.poll() is None, (tmp_path / "dev-cluster.log").read_text()[-3000:]
        info = json.loads((state / "cluster.json").read_text())
        env_file = (state / "cluster-env").read_text()
        assert f"export KUBECONFIG={info['kubeconfig']}" in env_file.splitlines()

        # kubectl from this machine's shell, as README shows, after `. .cronwright/cluster-env`
        script = f". {state}/cluster-env && kubectl get deployments -n cronwright-system -o json"
        shown = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
        ready = {
            d["metadata"]["name"]: d["status"].get("readyReplicas") for d in json.loads(shown.stdout)["items"]
        }
        assert ready == {"cronwright-operator": 2, "cronwright-api": 2}

        answer = httpx.get(
            f"{info['api_url']}/v1/cron-jobs",
            headers={"Authorization": f"Bearer {info['api_key']}"},
            timeout=15,
        )
        assert answer.status_code == 200 and answer.json()["meta"]["total"] == 0

        manifest = {
            "apiVersion": "cronwright.io/v1alpha1",
            "kind": "CronJobSpec",
            "metadata": {"name": "echo"},
            "spec": {"schedule": {"every": "5s"}, "http": {"url": f"{info['echo_url']}/hello"}},
        }
        apply = f". {state}/cluster-env && kubectl apply -f -"
        subprocess.run(
            ["sh", "-c", apply], input=json.dumps(manifest), text=True, check=True, capture_output=True
        )
        calls = wait_for(lambda: echo_requests(state / "cluster-echo.log"), 90, "a run reaching the echo")
        assert calls[0][1] == "/hello"
    finally:
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        print(f"dev-cluster stopped in {time.monotonic() - started:.1f}s")
    assert process.returncode == 0
    assert not (state / "cluster.json").exists() and not (state / "cluster-env").exists()
