"""`cronwright dev` (what `make dev` runs): everything comes up, the printed key works in
the REST facade, an example manifest runs against the echo receiver, the admission webhook
refuses a bad schedule, a second shell gets its commands from `.cronwright/env`, Ctrl-C
stops it all in seconds, and a restart takes up the same cluster, key and ports.

`cluster` is only borrowed for its kubectl binary; dev starts a control plane of its own."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cronwright.core.controlplane.binaries import ensure_binaries, ensure_helm
from cronwright.core.controlplane.cluster import run_kubectl
from tests.support.cluster import Cluster
from tests.support.dev import DevProcess, echo_requests
from tests.support.kubectl import wait_for

ROOT = Path(__file__).resolve().parents[2]
#: What the issue asked of Ctrl-C ("a few seconds"); it took 16-22 s before.
CTRL_C_SECONDS = 5.0


@pytest.fixture(scope="module")
def dev(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    state = tmp_path_factory.mktemp("dev") / "state"
    process = DevProcess(state=state, cwd=ROOT, args=("--namespace=dev",)).start()
    yield process
    process.stop()


def _kubectl(cluster: Cluster, info: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_kubectl(cluster.kubectl, Path(info["kubeconfig"]), *args, check=False)


def test_the_printed_key_works_and_an_example_runs(cluster: Cluster, dev: DevProcess) -> None:
    info = dev.info
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

    applied = _kubectl(cluster, info, "apply", "-f", str(ROOT / "crds/examples/every.yaml"))
    assert applied.returncode == 0, applied.stderr
    # The kubeconfig's context is the dev namespace, as the README's kubectl lines assume.
    assert "health-probe" in _kubectl(cluster, info, "-n", "dev", "get", "cjs", "-o", "name").stdout
    _kubectl(cluster, info, "annotate", "cjs", "health-probe", "cronwright.io/trigger=now")
    if info["receiver"] is not None:  # None: 8089 was taken (another dev, or a receiver of yours)
        assert info["receiver"] == "http://127.0.0.1:8089"
        wait_for(
            lambda: ("GET", "/healthz") in echo_requests(dev.state / "receiver.log"),
            60,
            "the example's run at the echo receiver",
        )


def test_kubectl_apply_of_a_bad_schedule_is_refused_naming_every_field(
    cluster: Cluster, dev: DevProcess
) -> None:
    manifest = {
        "apiVersion": "cronwright.io/v1alpha1",
        "kind": "CronJobSpec",
        "metadata": {"name": "mars"},
        "spec": {
            "schedule": {"cron": "61 * * * *", "timeZone": "Mars/Olympus"},
            "http": {"url": "http://127.0.0.1:8089/mars"},
        },
    }
    done = run_kubectl(
        cluster.kubectl,
        Path(dev.info["kubeconfig"]),
        "apply",
        "-f",
        "-",
        input=json.dumps(manifest),
        check=False,
    )
    assert done.returncode == 1
    assert 'admission webhook "validate.cronwright.io" denied the request' in done.stderr
    assert "spec.schedule.timeZone: unknown IANA time zone 'Mars/Olympus'" in done.stderr
    assert "spec.schedule.cron: '61 * * * *': minute value '61' is not in 0-59" in done.stderr
    assert _kubectl(cluster, dev.info, "get", "cjs", "mars").returncode != 0


def test_the_env_file_gives_a_second_shell_the_commands_and_variables(dev: DevProcess) -> None:
    env_file = dev.state / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # it holds the API key
    shown = subprocess.run(
        [
            "sh",
            "-c",
            '. "$1" && for c in kubectl helm cronwright; do command -v $c; done'
            ' && printf "%s\\n" "$KUBECONFIG" "$CRONWRIGHT_URL" "$API_KEY"',
            "sh",
            str(env_file),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    assert shown == [
        str(ensure_binaries().kubectl),
        str(ensure_helm()),
        str(Path(sys.executable).parent / "cronwright"),
        dev.info["kubeconfig"],
        dev.info["api_url"],
        dev.info["api_key"],
    ]


def test_a_second_dev_on_the_same_state_is_refused(dev: DevProcess) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "cronwright.cli", "dev", f"--state-dir={dev.state}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert f"another `cronwright dev` is running with state directory {dev.state}" in second.stderr


@pytest.mark.timeout(600)  # starting cronwright dev takes 10-30 s on a busy 2-core machine
def test_ctrl_c_stops_everything_in_seconds_and_a_restart_keeps_cluster_key_and_ports(
    cluster: Cluster, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = DevProcess(state=state, cwd=ROOT).start()
    try:
        key, info = first.info["api_key"], first.info
        applied = _kubectl(cluster, info, "apply", "-f", str(ROOT / "crds/examples/cron.yaml"))
        assert applied.returncode == 0, applied.stderr
        headers = {"Authorization": f"Bearer {key}"}
        created = httpx.post(
            f"{info['api_url']}/api/v1/cron/jobs",
            headers=headers,
            json={"name": "Kept", "schedule": "0 8 * * *", "handler": "cleanup"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        job = created.json()["job_id"]
        ports = json.loads((state / "ports.json").read_text())
        page = httpx.get(f"{info['api_url']}/ui", timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"], page.text
    finally:
        seconds = first.ctrl_c()
    print(f"Ctrl-C of cronwright dev: every process gone after {seconds:.2f} s")
    assert seconds < CTRL_C_SECONDS, f"Ctrl-C took {seconds:.2f} s"
    assert first.process is not None and first.process.returncode == 0, first.output
    assert f"dashboard:  {info['api_url']}/ui " in first.output, "the banner says where the dashboard is"
    assert not (state / "dev.json").exists()

    second = DevProcess(state=state, cwd=ROOT).start()
    try:
        # Same key, kubeconfig, API server, facade and metrics ports. (Whether 8089 was free
        # for the echo receiver depends on other processes of this machine.)
        assert {**second.info, "receiver": None} == {**info, "receiver": None}
        assert json.loads((state / "ports.json").read_text()) == ports
        kept = httpx.get(f"{info['api_url']}/api/v1/cron/jobs/{job}", headers=headers, timeout=10)
        assert kept.status_code == 200 and kept.json()["name"] == "Kept", kept.text
        assert _kubectl(cluster, info, "get", "cjs", "weekday-report").returncode == 0
    finally:
        seconds = second.ctrl_c()
    print(f"Ctrl-C of the restarted cronwright dev: every process gone after {seconds:.2f} s")
    assert seconds < CTRL_C_SECONDS, f"Ctrl-C took {seconds:.2f} s"
    assert "kept from the last run" in second.output

    third = DevProcess(state=state, cwd=ROOT, args=("--reset",)).start()
    try:
        fresh = third.info
        assert fresh["api_key"] != key
        gone = httpx.get(f"{fresh['api_url']}/api/v1/cron/jobs", headers=headers, timeout=10)
        assert gone.status_code == 401, gone.text
        assert _kubectl(cluster, fresh, "get", "cjs", "weekday-report").returncode != 0
    finally:
        third.ctrl_c()
