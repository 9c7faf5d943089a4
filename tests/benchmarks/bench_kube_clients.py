"""cronwright's Kubernetes client against lightkube and kr8s, on the operator's and facade's work.

Issue 13: adopt a maintained client unless it costs more than 10% on these figures. Needs
the two libraries, which are not product dependencies::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python -m tests.benchmarks.bench_kube_clients --write-doc

It starts its own control plane, stores ``--count`` CronJobSpecs to write (one namespace)
and ``--objects`` in all (through the API server directly, not timed), then measures each
client in a fresh process (``tests/benchmarks/kube_clients.py`` says exactly which calls):

- **burst**: all ``--count`` conditional status merge-patches issued at once, 16 in flight
  (the operator's write concurrency and connection pool): wall time, writes/s, client CPU.
- **steady**: the same writes started evenly over ``--seconds`` (1,000 over 20 s = 50/s:
  1,000 resources firing once a minute make 16.7 runs/s, each run writes its status two or
  three times): per-write latency p50/p99, client CPU.
- **watch**: list all ``--objects`` (as the facade's cache starts), then watch from that
  resourceVersion until ``--modified`` changes arrived: list time and CPU, RSS growth of
  holding the list, events/s and CPU per 1,000 events.

Clients are interleaved (their order rotates each repetition) and every shape is repeated
``--repeat`` times, so machine load falls on all alike; figures are the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from cronwright.core.controlplane.cluster import ControlPlane
from tests.benchmarks.bench_api import store_jobs
from tests.benchmarks.bench_operator import REPO, Report, load_average, say, write_doc
from tests.benchmarks.kube_clients import CLIENTS, WRITE_CONCURRENCY

WRITES_NAMESPACE = "bench-clients-writes"
REST_NAMESPACE = "bench-clients-rest"
SHAPES = ("burst", "steady", "watch")
MAX_COST = 10.0
"""Percent a library may cost on any figure and still be adopted (issue 13)."""


@dataclass(frozen=True)
class Figure:
    shape: str
    key: str
    label: str
    unit: Callable[[float], str]
    higher_is_better: bool = False

    def cost(self, value: float, current: float) -> float:
        """How much worse than the current client, in percent (negative: better)."""
        if self.higher_is_better:
            return (current - value) / current * 100
        return (value - current) / current * 100


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def millis(value: float) -> str:
    return f"{value:.1f} ms"


def rate(value: float) -> str:
    return f"{value:,.0f}/s"


def mib(value: float) -> str:
    return f"{value:.1f} MiB"


FIGURES = (
    Figure("burst", "wall_s", "burst: wall time", seconds),
    Figure("burst", "writes_per_s", "burst: writes", rate, higher_is_better=True),
    Figure("burst", "cpu_s_per_1000", "burst: client CPU per 1,000 writes", seconds),
    Figure("steady", "p50_ms", "steady: write latency p50", millis),
    Figure("steady", "p99_ms", "steady: write latency p99", millis),
    Figure("steady", "cpu_s_per_1000", "steady: client CPU per 1,000 writes", seconds),
    Figure("watch", "list_s", "watch: list time", seconds),
    Figure("watch", "list_cpu_s", "watch: list client CPU", seconds),
    Figure("watch", "rss_growth_mib", "watch: RSS growth holding the list", mib),
    Figure("watch", "events_per_s", "watch: events", rate, higher_is_better=True),
    Figure("watch", "watch_cpu_s_per_1000", "watch: client CPU per 1,000 events", seconds),
)

Results = dict[str, dict[str, list[dict[str, float]]]]


def run_one(client: str, shape: str, kubeconfig: str, args: argparse.Namespace) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "tests.benchmarks.kube_clients",
        client,
        shape,
        f"--kubeconfig={kubeconfig}",
        f"--namespace={WRITES_NAMESPACE}",
        f"--seconds={args.seconds}",
        f"--modified={args.modified}",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{client} {shape} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def measure(kubeconfig: str, args: argparse.Namespace) -> Results:
    results: Results = defaultdict(lambda: defaultdict(list))
    for repetition in range(args.repeat):
        shift = repetition % len(CLIENTS)
        order = CLIENTS[shift:] + CLIENTS[:shift]
        for shape in SHAPES:
            for client in order:
                figures = run_one(client, shape, kubeconfig, args)
                say(f"{repetition + 1}/{args.repeat} {shape} {client}: {figures}")
                if shape == "watch" and figures["objects"] != args.objects:
                    raise RuntimeError(f"{client} listed {figures['objects']} objects, not {args.objects}")
                results[shape][client].append(figures)
    return results


def add_rows(report: Report, results: Results) -> None:
    for figure in FIGURES:
        medians = {
            client: statistics.median(run[figure.key] for run in results[figure.shape][client])
            for client in CLIENTS
        }
        for client in CLIENTS:
            runs = sorted(run[figure.key] for run in results[figure.shape][client])
            value = f"{figure.unit(medians[client])} ({figure.unit(runs[0])} to {figure.unit(runs[-1])})"
            if client == "current":
                report.add(f"{figure.label}, {client}", value)
                continue
            cost = figure.cost(medians[client], medians["current"])
            report.add(
                f"{figure.label}, {client}",
                f"{value}, {cost:+.1f}% cost",
                f"cost ≤ {MAX_COST:.0f}%",
                cost <= MAX_COST,
            )


def library_versions() -> str:
    found = []
    for name in ("httpx", "lightkube", "httpx2", "kr8s"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} missing")
    return ", ".join(found)


def findings(args: argparse.Namespace, steady_rates: list[float]) -> list[str]:
    return [
        f"Versions: {library_versions()}; cronwright's client is httpx with its own JSON handling.",
        f"Each figure: median of {args.repeat} runs (range in brackets), every run a fresh process per "
        "client; clients interleaved, their order rotated each repetition. Cost: how much worse than "
        "the current client (for rates, the shortfall).",
        f"Writes: {args.count:,} CronJobSpecs, conditional status merge-patches (metadata.resourceVersion "
        f"in the body), {WRITE_CONCURRENCY} in flight; steady at {args.count / args.seconds:.0f}/s "
        f"(achieved {min(steady_rates):.1f} to {max(steady_rates):.1f}/s), latency includes queueing.",
        f"Watch: {args.objects:,} CronJobSpecs listed cluster-wide (cronwright and lightkube unpaged, as "
        "the facade lists; kr8s's get always pages by 100), then a watch from the list's "
        f"resourceVersion receives {args.modified:,} status changes made meanwhile (replayed from the "
        "watch cache, so events/s is what the client can take). RSS growth: VmRSS after the list "
        "minus before, the list still held.",
    ]


def main(argv: list[str] | None = None) -> int:
    root = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench_kube_clients",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--count", type=int, default=1000, help="CronJobSpecs written (burst, steady)")
    root.add_argument("--objects", type=int, default=10000, help="CronJobSpecs listed and watched, in all")
    root.add_argument("--modified", type=int, default=1000, help="changes received by the watch")
    root.add_argument("--seconds", type=float, default=20.0, help="steady: window of the writes")
    root.add_argument("--repeat", type=int, default=3, help="runs of each shape per client")
    root.add_argument("--write-doc", action="store_true", help="record the figures in docs/benchmarks.md")
    argv = sys.argv[1:] if argv is None else argv
    args = root.parse_args(argv)
    if not args.modified <= args.count <= args.objects:
        root.error("need --modified ≤ --count ≤ --objects")
    command = " ".join([".venv/bin/python -m tests.benchmarks.bench_kube_clients", *argv])
    report = Report("kube-clients", args.count, command, datetime.now(UTC))
    with ControlPlane() as plane:
        started = time.perf_counter()
        asyncio.run(store_jobs(plane.kubeconfig, args.count, WRITES_NAMESPACE))
        asyncio.run(store_jobs(plane.kubeconfig, args.objects - args.count, REST_NAMESPACE))
        say(f"stored {args.objects} CronJobSpecs in {time.perf_counter() - started:.0f} s")
        report.load.append(f"at start: {load_average()}")
        results = measure(str(plane.kubeconfig), args)
        report.load.append(f"at end: {load_average()}")
    add_rows(report, results)
    steady_rates = [run["rate_per_s"] for runs in results["steady"].values() for run in runs]
    report.findings += findings(args, steady_rates)
    print(report.text())
    if args.write_doc:
        write_doc(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
