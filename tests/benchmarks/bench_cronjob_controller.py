"""cronwright's operator side by side with Kubernetes' own CronJob controller, on a real node.

Run by hand, never by pytest::

    .venv/bin/python -m tests.benchmarks.bench_cronjob_controller --count 500 [--write-doc]

N schedules are all due at the same minute T and each creates a batch Job. Once with N
`batch/v1` CronJobs (kube-controller-manager's CronJob controller, its default flags:
`--concurrent-cronjob-syncs=5`, client QPS 20 / burst 30), once with N CronJobSpecs whose
target is the same Job (`cronwright operator` as its own process inside the node's
network namespace, default flags, admin kubeconfig). The Jobs are created suspended, so
no pod runs and what is measured is the scheduler alone. The two phases run one after the
other on the same node (tests/support/real_cluster.py's `Node`), the first one's objects
deleted before the second starts.

Figures per phase:
- Job creation delay: when a watch (`kubectl get jobs --watch-only`, inside the namespace)
  first saw each Job, minus T; p50, p99 and the last one.
- API requests per run: the API server's `apiserver_request_total` over the phase (from T
  to the last Job + 5 s), minus the idle rate measured for 20 s before T, divided by N.
- CPU: the scheduler process's utime+stime over the same window (kube-controller-manager
  runs every other controller too; its idle rate is subtracted the same way).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from cronwright.core.controlplane import images
from cronwright.core.controlplane.binaries import REPO_ROOT
from cronwright.core.controlplane.cluster import free_port
from cronwright.core.controlplane.images import BUSYBOX_REF
from cronwright.core.controlplane.node import Node
from tests.benchmarks.bench_operator import Report, load_average, say, write_doc

IDLE_SECONDS = 20.0
SETTLE_SECONDS = 5.0


@dataclass
class Phase:
    name: str
    delays: list[float]
    requests_per_run: float
    cpu_seconds: float
    window: float


def job_template() -> dict[str, Any]:
    container = {"name": "main", "image": BUSYBOX_REF, "imagePullPolicy": "Never", "command": ["true"]}
    return {"suspend": True, "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}


def cronjobs(count: int, minute: int, hour: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": f"k-{i:05d}"},
            "spec": {
                "schedule": f"{minute} {hour} * * *",
                "timeZone": "Etc/UTC",
                "startingDeadlineSeconds": 3600,
                "jobTemplate": {"spec": job_template()},
            },
        }
        for i in range(count)
    ]


def cronjobspecs(count: int, minute: int, hour: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "cronwright.io/v1alpha1",
            "kind": "CronJobSpec",
            "metadata": {"name": f"c-{i:05d}"},
            "spec": {
                "schedule": {"cron": f"{minute} {hour} * * *", "timeZone": "UTC"},
                "startingDeadlineSeconds": 3600,
                "workflow": {"manifest": {"apiVersion": "batch/v1", "kind": "Job", "spec": job_template()}},
            },
        }
        for i in range(count)
    ]


def apply_all(node: Node, namespace: str, objects: list[dict[str, Any]]) -> None:
    for start in range(0, len(objects), 250):
        document = {"apiVersion": "v1", "kind": "List", "items": objects[start : start + 250]}
        node.kubectl(
            "apply", "--server-side", "-n", namespace, "-f", "-", input=json.dumps(document), timeout=600
        )


def requests_total(node: Node) -> float:
    text = node.api("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "apiserver_request"
        for sample in family.samples
        if sample.name == "apiserver_request_total"
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pid_of(executable: Path) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "exe")) == executable.resolve():
                    return int(entry.name)
            except OSError:
                continue
    raise RuntimeError(f"no process runs {executable}")


class JobWatch:
    """`kubectl get jobs --watch-only -o name` inside the namespace: first sight of each Job."""

    def __init__(self, node: Node, namespace: str) -> None:
        assert node.netns is not None
        argv = [str(node.binaries.kubectl), "get", "jobs", "-n", namespace, "--watch-only", "-o", "name"]
        self.seen: dict[str, float] = {}
        self.process = node.netns.popen(
            argv, env=node.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.seen.setdefault(line.decode().strip(), time.time())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def next_due_minute(margin: float) -> datetime:
    """The first whole minute at least `margin` seconds away."""
    due = math.ceil((time.time() + margin) / 60) * 60
    return datetime.fromtimestamp(due, UTC)


def measure(node: Node, name: str, pid: int, namespace: str, count: int, due: datetime) -> Phase:
    watch = JobWatch(node, namespace)
    idle_start = due.timestamp() - IDLE_SECONDS - SETTLE_SECONDS
    time.sleep(max(0.0, idle_start - time.time()))
    requests_idle, cpu_idle, started = requests_total(node), cpu_seconds(pid), time.time()
    time.sleep(max(0.0, due.timestamp() - time.time()))
    idle = time.time() - started
    request_rate = (requests_total(node) - requests_idle) / idle
    cpu_rate = (cpu_seconds(pid) - cpu_idle) / idle
    requests_at_due, cpu_at_due, at_due = requests_total(node), cpu_seconds(pid), time.time()
    deadline = due.timestamp() + 600
    while len(watch.seen) < count and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(SETTLE_SECONDS)
    window = time.time() - at_due
    requests = requests_total(node) - requests_at_due - request_rate * window
    cpu = cpu_seconds(pid) - cpu_at_due - cpu_rate * window
    watch.stop()
    delays = sorted(seen - due.timestamp() for seen in watch.seen.values())
    say(f"{name}: {len(delays)}/{count} Jobs, last after {delays[-1] if delays else float('nan'):.1f}s")
    return Phase(name, delays, requests / count, cpu, window)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)] if values else float("nan")


def run_kubernetes(node: Node, count: int) -> Phase:
    namespace = "bench-cronjob"
    node.kubectl("create", "namespace", namespace)
    due = next_due_minute(margin=60 + IDLE_SECONDS + count * 0.1)
    apply_all(node, namespace, cronjobs(count, due.minute, due.hour))
    kcm = pid_of(node.node_binaries.kube_controller_manager)
    phase = measure(node, "kube-controller-manager CronJob controller", kcm, namespace, count, due)
    node.kubectl("delete", "cronjobs,jobs", "--all", "-n", namespace, "--wait=false", timeout=600)
    return phase


def install_crds(node: Node) -> None:
    node.kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds"))
    node.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    while node.kubectl("get", "cronjobspecs", "-A", check=False).returncode != 0:
        time.sleep(0.5)  # Established comes a moment before the storage serves lists


def run_cronwright(node: Node, count: int, log: Path) -> Phase:
    namespace = "bench-cronwright"
    install_crds(node)
    node.kubectl("create", "namespace", namespace)
    assert node.netns is not None
    argv = [sys.executable, "-m", "cronwright.cli", "operator", f"--kubeconfig={node.kubeconfig}"]
    argv += [f"--namespace={namespace}", f"--lease-namespace={namespace}", f"--port={free_port()}"]
    with open(log, "ab") as out:
        operator = node.netns.popen(argv, env=node.env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        due = next_due_minute(margin=90 + IDLE_SECONDS + count * 0.1)
        apply_all(node, namespace, cronjobspecs(count, due.minute, due.hour))
        # nsenter execs its command in place (no --fork for a network namespace): same pid
        return measure(node, "cronwright operator", operator.pid, namespace, count, due)
    finally:
        operator.terminate()
        operator.wait(30)


def report(phases: list[Phase], count: int, command: str) -> Report:
    result = Report("cronjob-controller", count, command, datetime.now(UTC))
    result.load.append(load_average())
    result.findings += [
        "Both on one real node (tests/support/real_cluster.py's Node), one after the other; N schedules"
        " due at the same minute, each creating a suspended batch Job (no pod runs).",
        "kube-controller-manager with its defaults (--concurrent-cronjob-syncs=5, client QPS 20 /"
        " burst 30); cronwright operator with its defaults, as a process inside the node's network"
        " namespace (admin kubeconfig).",
        "Delay: first sight of each Job by a watch, minus the scheduled minute. Requests per run:"
        " apiserver_request_total over the window minus the idle rate before it, over N. CPU: the"
        " scheduler process's utime+stime over the window, idle rate subtracted.",
    ]
    for phase in phases:
        result.add(f"{phase.name}: Jobs created", f"{len(phase.delays)}/{count}")
        result.add(
            f"{phase.name}: creation delay p50 / p99 / last",
            " / ".join(f"{percentile(phase.delays, q):.1f} s" for q in (0.5, 0.99))
            + f" / {phase.delays[-1]:.1f} s"
            if phase.delays
            else "none",
        )
        result.add(f"{phase.name}: API requests per run", f"{phase.requests_per_run:.1f}")
        result.add(f"{phase.name}: CPU over the window", f"{phase.cpu_seconds:.1f} s in {phase.window:.0f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench_cronjob_controller", description=__doc__
    )
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--write-doc", action="store_true", help="record the figures in docs/benchmarks.md")
    args = parser.parse_args(argv)
    command = f".venv/bin/python -m tests.benchmarks.bench_cronjob_controller --count {args.count}"
    with Node(images=[images.ensure_pause(), images.ensure_busybox()]) as node:
        say(f"node up in {node.timings['up']:.1f}s")
        phases = [run_kubernetes(node, args.count)]
        phases.append(run_cronwright(node, args.count, node.layout.root / "bench-operator.log"))
    result = report(phases, args.count, command)
    print(result.text())
    if args.write_doc:
        write_doc(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
