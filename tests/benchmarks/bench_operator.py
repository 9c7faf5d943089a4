"""Load benchmark of the operator: fire skew under steady load, drain time of a burst.

Run by hand, never by pytest (the file name does not match ``test_*.py``)::

    .venv/bin/python -m tests.benchmarks.bench_operator steady --count 1000 --minutes 2
    .venv/bin/python -m tests.benchmarks.bench_operator burst --count 1000
    make bench   # steady 1000, burst 1000, steady 10000, each with --write-doc

Everything is real and on 127.0.0.1: a throwaway etcd + kube-apiserver (``ControlPlane``),
the operator as its own process (``cronwright operator``), and a receiver that the
CronJobSpecs call. Skew is measured where a user would see it — arrival at the receiver
minus the run's ``X-Cronwright-Scheduled-Time`` — so it includes the operator's loop, the
shard fencing, the HTTP client and loopback, not just the operator's own
idea of when it started a run (that one, ``cronwright_fire_skew_seconds``, is printed
next to it as a cross-check).

The receiver runs in a separate process (``receiver`` sub-command) rather than in this
process's event loop or a thread: the harness parses LIST answers of up to 10,000 objects,
which holds the GIL for a noticeable fraction of a second, and any such pause would be
charged to the operator as skew.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cronwright.core import models
from cronwright.core.controlplane.cluster import LOOPBACK, ControlPlane, die_with_parent, free_port
from cronwright.core.kube import Conflict, Kube, Retry, load_credentials, refs

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
SCHEDULED_HEADER = "X-Cronwright-Scheduled-Time"
RUN_ID_HEADER = "X-Cronwright-Run-Id"
CREATE_CONCURRENCY = 48
#: Creates wait out an API server busy with thousands of them (429, 5xx, refused connections).
CREATE_RETRY = Retry(attempts=5, first=0.5, cap=2.0)
"""Creates in flight: enough to keep the API server busy, below its default in-flight limit."""
STEADY_GRACE = 15.0
"""Seconds after the window during which late arrivals of in-window runs still count."""
STATUS_POLL = 0.5
"""LIST interval while waiting for a burst's results to reach status (the resolution of that figure)."""
READY_AHEAD = 5.0
"""A burst's resources should all be planned (Active) this long before T0."""

# Targets the figures are compared with, by (shape, count).
SKEW_P99_TARGET_MS = {1000: 25.0, 10000: 50.0}
BURST_DRAIN_TARGET_S = {1000: 1.0}
RSS_TARGET_MIB = {10000: 200.0}


def say(message: str) -> None:
    """Progress on stderr, so stdout carries only the result table."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_epoch(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (no interpolation: a real sample)."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# -- receiver (its own process) -------------------------------------------------------------


async def serve_receiver(port: int) -> None:
    """The loopback target of every CronJobSpec: record, answer 200, nothing else.

    One record per request: [arrival (time.time()), resource name (from the path),
    scheduled-time header, run id, idempotency key]. ``/_count`` and ``/_records`` let the
    harness read them over loopback once the measurement is over.
    """
    from aiohttp import web

    records: list[list[Any]] = []
    reply = b'{"ok":true}'

    async def hook(request: web.Request) -> web.Response:
        arrival = time.time()
        headers = request.headers
        records.append(
            [
                arrival,
                request.match_info["name"],
                headers.get(SCHEDULED_HEADER, ""),
                headers.get(RUN_ID_HEADER, ""),
                headers.get("Idempotency-Key", ""),
            ]
        )
        if request.can_read_body:
            await request.read()
        return web.Response(body=reply, content_type="application/json")

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"count": len(records)})

    async def dump(_: web.Request) -> web.Response:
        return web.Response(body=json.dumps(records).encode(), content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/hook/{name}", hook)
    app.router.add_get("/_count", count)
    app.router.add_get("/_records", dump)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, port, backlog=4096).start()
    await asyncio.Event().wait()


# -- process sampling -----------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs: how loaded the whole 2-core box was meanwhile."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass
class Usage:
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)

    def cpu_text(self) -> str:
        if not self.cpu:
            return "n/a"
        return f"mean {sum(self.cpu) / len(self.cpu):.0f}%, peak {max(self.cpu):.0f}%"

    def rss_text(self) -> str:
        if not self.rss:
            return "n/a"
        return f"mean {sum(self.rss) / len(self.rss):.0f} MiB, peak {max(self.rss):.0f} MiB"


class Sampler:
    """CPU (% of one core, from utime+stime deltas) and VmRSS of named processes, every second."""

    def __init__(self, pids: dict[str, int], interval: float = 1.0) -> None:
        self.pids = pids
        self.interval = interval
        self.usage = {name: Usage() for name in pids}
        self.machine: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        last = {name: cpu_ticks(pid) for name, pid in self.pids.items()}
        last_machine = machine_ticks()
        stamp = time.monotonic()
        while True:
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            elapsed = now - stamp
            for name, pid in self.pids.items():
                ticks = cpu_ticks(pid)
                previous = last[name]
                if ticks is not None and previous is not None:
                    self.usage[name].cpu.append((ticks - previous) / CLOCK_TICKS / elapsed * 100)
                rss = rss_mib(pid)
                if rss is not None:
                    self.usage[name].rss.append(rss)
                last[name] = ticks
            busy, total = machine_ticks()
            if total > last_machine[1]:
                self.machine.append((busy - last_machine[0]) / (total - last_machine[1]) * 100)
            last_machine, stamp = (busy, total), now


# -- operator metrics -----------------------------------------------------------------------

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def metric_delta(before: Samples, after: Samples) -> Samples:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def metric_sum(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and all(dict(sample_labels).get(k) == v for k, v in labels.items())
    )


def histogram_buckets(samples: Samples, name: str) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) of a histogram, summed over all its other labels."""
    buckets: dict[float, float] = {}
    for (sample, labels), value in samples.items():
        if sample == f"{name}_bucket":
            le = float(dict(labels)["le"])
            buckets[le] = buckets.get(le, 0.0) + value
    return sorted(buckets.items())


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> tuple[float, bool] | None:
    """Prometheus-style estimate: linear inside the bucket holding the rank.

    Returns (seconds, above) where ``above`` means the rank fell in the +Inf bucket and the
    value is only a lower bound.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(upper):
                return lower, True
            if cumulative == below:
                return upper, False
            return lower + (upper - lower) * (rank - below) / (cumulative - below), False
        lower, below = upper, cumulative
    return lower, True


def quantile_text(buckets: list[tuple[float, float]], q: float) -> str:
    estimate = histogram_quantile(buckets, q)
    if estimate is None:
        return "n/a"
    seconds, above = estimate
    return f"> {seconds * 1000:.0f} ms" if above else f"≈ {seconds * 1000:.1f} ms"


def share_within(buckets: list[tuple[float, float]], bound: float) -> str:
    total = buckets[-1][1] if buckets else 0
    within = next((c for le, c in buckets if math.isclose(le, bound)), None)
    if not total or within is None:
        return "n/a"
    return f"{within / total * 100:.1f}%"


# -- the harness ----------------------------------------------------------------------------


def code_revision() -> str:
    """The commit measured, and whether operator/ or core/ differ from it: the tree moves fast.

    Read-only git calls (``--no-optional-locks``: no index refresh, so no lock contention
    with anyone committing meanwhile).
    """
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--", "operator", "core"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"{head} + uncommitted changes in operator/ or core/" if dirty else head


@dataclass
class Row:
    figure: str
    value: str
    target: str = ""
    met: bool | None = None

    @property
    def target_text(self) -> str:
        if not self.target:
            return ""
        if self.met is None:
            return self.target
        return f"{self.target} ({'met' if self.met else 'NOT met'})"


@dataclass
class Report:
    shape: str
    count: int
    command: str
    started: datetime
    rows: list[Row] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    load: list[str] = field(default_factory=list)
    revision: str = field(default_factory=code_revision)
    slug: str = ""
    """The section's id in docs/benchmarks.md when the shape is words (default: the shape)."""

    @property
    def key(self) -> str:
        return f"{self.slug or self.shape}-{self.count}"

    def add(self, figure: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append(Row(figure, value, target, met))

    def text(self) -> str:
        width = max(len(r.figure) for r in self.rows)
        vwidth = max(len(r.value) for r in self.rows)
        lines = [
            f"== {self.shape}, {self.count:,} resources  ({self.started:%Y-%m-%d %H:%M} UTC)",
            f"   {self.command}",
            f"   code: {self.revision}",
            *(f"   load average: {entry}" for entry in self.load),
            "",
        ]
        for row in self.rows:
            target = f"   target {row.target_text}" if row.target else ""
            lines.append(f"  {row.figure:<{width}}  {row.value:<{vwidth}}{target}".rstrip())
        if self.findings:
            lines += ["", "Findings:", *(f"  - {f}" for f in self.findings)]
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [
            f"<!-- bench:{self.key} -->",
            f"## {self.shape.capitalize()}, {self.count:,} resources",
            "",
            f"Command: `{self.command}`  ",
            f"Recorded: {self.started:%Y-%m-%d %H:%M} UTC on {machine_summary()}, code at {self.revision}  ",
            *(f"Load average (1, 5, 15 min) {entry}  " for entry in self.load),
            "",
            "| Figure | Value | Target |",
            "|---|---|---|",
            *(f"| {r.figure} | {r.value} | {r.target_text} |" for r in self.rows),
        ]
        if self.findings:
            lines += ["", "Findings:", "", *(f"- {f}" for f in self.findings)]
        lines += [f"<!-- /bench:{self.key} -->", ""]
        return "\n".join(lines)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine_summary() -> str:
    """nproc, memory (free -g) and CPU model: what the figures were recorded on."""
    cpus = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    memory = "?"
    with contextlib.suppress(OSError, IndexError):
        free = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout
        memory = next(line.split()[1] for line in free.splitlines() if line.startswith("Mem:"))
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{cpus} CPUs ({model}), {memory} GiB RAM (free -g)"


class Harness:
    """Control plane + receiver + operator, started in that order and stopped in reverse."""

    def __init__(self, profile: Path | None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="cronwright-bench-"))
        self.namespace = f"bench-{uuid.uuid4().hex[:8]}"
        self.instance = f"bench-{uuid.uuid4().hex[:8]}"
        self.profile = profile
        self.plane: ControlPlane | None = None
        self.receiver: subprocess.Popen[bytes] | None = None
        self.operator: subprocess.Popen[bytes] | None = None
        self.receiver_port = free_port()
        self.operator_port = free_port()

    @property
    def operator_log(self) -> Path:
        return self.workdir / "operator.log"

    def start(self) -> None:
        say(f"work dir {self.workdir}; starting control plane")
        self.plane = ControlPlane().start()
        self.plane.run_kubectl("create", "namespace", self.namespace)
        self.receiver = self._spawn(
            "receiver",
            [
                sys.executable,
                "-m",
                "tests.benchmarks.bench_operator",
                "receiver",
                "--port",
                str(self.receiver_port),
            ],
        )
        self._wait_http(self.receiver, f"http://{LOOPBACK}:{self.receiver_port}/_count", "receiver")
        self.operator = self.spawn_operator(self.instance, self.operator_port)
        say(f"operator pid {self.operator.pid} ready; namespace {self.namespace}")

    def spawn_operator(
        self, instance: str, port: int, log: str = "operator", wait: bool = True
    ) -> subprocess.Popen[bytes]:
        """One `cronwright operator` process watching the namespace (log: ``<log>.log``);
        with ``wait``, returns once its /readyz answers 200."""
        assert self.plane is not None
        process = self._spawn(
            log,
            [
                sys.executable,
                "-m",
                "cronwright.cli",
                "operator",
                "--kubeconfig",
                str(self.plane.kubeconfig),
                "--host",
                LOOPBACK,
                "--port",
                str(port),
                "--instance",
                instance,
                "--lease-namespace",
                self.namespace,
                "--namespace",
                self.namespace,
                "--log-format",
                "text",
            ],
        )
        if wait:
            self._wait_http(process, f"http://{LOOPBACK}:{port}/readyz", log)
        return process

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{name}.log", "wb") as out:
            return subprocess.Popen(
                command,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def _wait_http(self, process: subprocess.Popen[bytes], url: str, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2, trust_env=False) as client:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        return
                time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout:.0f} s:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            text = (self.workdir / f"{name}.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def pids(self) -> dict[str, int]:
        """The processes worth watching on a 2-core box: everything this benchmark runs."""
        assert self.plane is not None and self.operator is not None and self.receiver is not None
        named = {"operator": self.operator.pid, "receiver": self.receiver.pid, "harness": os.getpid()}
        for pid in self.plane.pids:
            with contextlib.suppress(OSError):
                named[Path(f"/proc/{pid}/comm").read_text().strip()] = pid
        return named

    def stop(self) -> None:
        """Operator first (clean SIGTERM, so it releases its Lease), then receiver, control plane."""
        for process in (self.operator, self.receiver):
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.plane is not None:
            self.plane.stop()
        say(f"stopped; logs kept in {self.workdir}")


class Bench:
    """One measurement (steady or burst) against a started Harness."""

    def __init__(self, harness: Harness, args: argparse.Namespace, command: str) -> None:
        self.h = harness
        self.args = args
        self.count: int = args.count
        self.report = Report(args.shape, args.count, command, datetime.now(UTC))
        assert harness.plane is not None
        self.kube = Kube(load_credentials(str(harness.plane.kubeconfig)), max_connections=64)
        self.local = httpx.AsyncClient(timeout=30, trust_env=False)
        self.path = refs.cronjobspec(harness.namespace)
        self.missing: set[tuple[str, int]] = set()
        self.first_skews: dict[tuple[str, int], float] = {}

    async def close(self) -> None:
        await self.kube.close()
        await self.local.aclose()

    # -- plumbing ---------------------------------------------------------------------

    def name(self, i: int) -> str:
        return f"bench-{i:05d}"

    def body(self, i: int, schedule: dict[str, Any]) -> dict[str, Any]:
        url = f"http://{LOOPBACK}:{self.h.receiver_port}/hook/{self.name(i)}"
        return {
            "apiVersion": models.API_VERSION,
            "kind": models.KIND,
            "metadata": {"name": self.name(i)},
            "spec": {"schedule": schedule, "http": {"url": url, "method": "POST", "timeoutSeconds": 10}},
        }

    async def create_all(self, bodies: Iterable[dict[str, Any]]) -> float:
        """POST every resource with CREATE_CONCURRENCY in flight; seconds it took."""
        gate = asyncio.Semaphore(CREATE_CONCURRENCY)

        async def one(body: dict[str, Any]) -> None:
            async with gate:
                with contextlib.suppress(Conflict):  # an earlier attempt did land
                    await CREATE_RETRY.call(lambda: self.kube.create(self.path, body), "creating a job")

        started = time.monotonic()
        await asyncio.gather(*(one(body) for body in bodies))
        return time.monotonic() - started

    async def items(self) -> list[dict[str, Any]]:
        return (await self.kube.get(self.path))["items"]

    async def wait_all(
        self, done: Callable[[dict[str, Any]], bool], what: str, deadline: float, interval: float = 2.0
    ) -> tuple[bool, int]:
        """Poll one LIST until every resource satisfies ``done`` or the deadline passes."""
        reported = 0.0
        ready = 0
        while True:
            ready = sum(1 for item in await self.items() if done(item))
            if ready >= self.count:
                return True, ready
            if time.time() >= deadline:
                return False, ready
            if time.monotonic() - reported > 10:
                say(f"  {ready:,}/{self.count:,} {what}")
                reported = time.monotonic()
            await asyncio.sleep(interval)

    async def metrics(self, port: int | None = None) -> Samples:
        """The operator's /metrics (another operator's with ``port``)."""
        response = await self.local.get(f"http://{LOOPBACK}:{port or self.h.operator_port}/metrics")
        response.raise_for_status()
        return parse_metrics(response.text)

    async def received(self) -> int:
        response = await self.local.get(f"http://{LOOPBACK}:{self.h.receiver_port}/_count")
        return int(response.json()["count"])

    async def records(self) -> list[list[Any]]:
        """Every request the receiver saw; also kept in the work dir for a post-mortem."""
        response = await self.local.get(f"http://{LOOPBACK}:{self.h.receiver_port}/_records", timeout=120)
        (self.h.workdir / "records.json").write_bytes(response.content)
        return response.json()

    async def sleep_until(self, epoch: float) -> None:
        await asyncio.sleep(max(0.0, epoch - time.time()))

    def start_profile(self, seconds: float) -> subprocess.Popen[bytes] | None:
        """py-spy on the operator, non-blocking (it does not pause the process per sample)."""
        if self.h.profile is None:
            return None
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            self.report.findings.append(
                "--profile asked for, but py-spy is missing (.venv/bin/pip install py-spy)"
            )
            return None
        assert self.h.operator is not None
        command = [spy, "record", "--nonblocking", "--format", "raw", "-o", str(self.h.profile)]
        command += ["--pid", str(self.h.operator.pid), "-d", str(max(1, int(seconds)))]
        say(f"profiling the operator for {seconds:.0f} s into {self.h.profile}")
        with open(self.h.workdir / "py-spy.log", "wb") as out:
            return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

    def finish_profile(self, spy: subprocess.Popen[bytes] | None) -> None:
        if spy is None:
            return
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.terminate()
            spy.wait()
        assert self.h.profile is not None
        if not self.h.profile.exists():
            self.report.findings.append(f"py-spy wrote no profile: {self.h.tail('py-spy', 5)}")
            return
        for line in summarize_profile(self.h.profile):
            self.report.findings.append(line)

    # -- figures shared by both shapes --------------------------------------------------

    def add_operator_figures(
        self, sampler: Sampler, before: Samples, after: Samples, seconds: float, rss_target: float | None
    ) -> None:
        op = sampler.usage["operator"]
        self.report.add("operator CPU (% of one core)", op.cpu_text())
        peak = max(op.rss) if op.rss else float("nan")
        self.report.add(
            "operator RSS",
            op.rss_text(),
            f"≤ {rss_target:.0f} MiB" if rss_target else "",
            (peak <= rss_target) if rss_target else None,
        )
        others = ", ".join(
            f"{name} {sum(u.cpu) / len(u.cpu):.0f}%"
            for name, u in sampler.usage.items()
            if name != "operator" and u.cpu
        )
        self.report.add("other processes, mean CPU", others)
        if sampler.machine:
            mean = sum(sampler.machine) / len(sampler.machine)
            ours = sum(sum(u.cpu) / len(u.cpu) for u in sampler.usage.values() if u.cpu)
            foreign = max(0.0, mean * (os.cpu_count() or 1) - ours)
            self.report.add(
                "CPU of other work on the machine (not this benchmark)", f"≈ {foreign:.0f}% of one core"
            )
            self.report.add(
                "machine CPU busy (all cores)", f"mean {mean:.0f}%, peak {max(sampler.machine):.0f}%"
            )

        delta = metric_delta(before, after)
        writes = metric_sum(delta, "cronwright_api_write_seconds_count")
        kinds = Counter[str]()
        for (sample, labels), value in delta.items():
            if sample == "cronwright_api_write_seconds_count" and value:
                kinds[dict(labels).get("kind", "?")] += int(value)
        detail = ", ".join(f"{kind} {n:,}" for kind, n in kinds.most_common())
        self.report.add(
            "status writes", f"{writes:,.0f} in {seconds:.0f} s = {writes / seconds:.1f}/s ({detail})"
        )
        conflicts = metric_sum(delta, "cronwright_api_write_conflicts_total")
        self.report.add("status write conflicts (409)", f"{conflicts:,.0f}")
        wb = histogram_buckets(delta, "cronwright_api_write_seconds")
        self.report.add(
            "status write latency (histogram)",
            f"p50 {quantile_text(wb, 0.5)}, p99 {quantile_text(wb, 0.99)}",
        )
        lb = histogram_buckets(delta, "cronwright_status_lag_seconds")
        backlog = metric_sum(after, "cronwright_status_backlog")
        self.report.add(
            "status lag, result queued → written (histogram)",
            f"p50 {quantile_text(lb, 0.5)}, p99 {quantile_text(lb, 0.99)}; {backlog:,.0f} queued at the end",
        )
        sb = histogram_buckets(delta, "cronwright_fire_skew_seconds")
        total = sb[-1][1] if sb else 0
        self.report.add(
            "fire skew, operator /metrics",
            f"{total:,.0f} runs: p50 {quantile_text(sb, 0.5)}, p99 {quantile_text(sb, 0.99)}, "
            f"≤ 10 ms {share_within(sb, 0.01)}, ≤ 25 ms {share_within(sb, 0.025)}, "
            f"≤ 50 ms {share_within(sb, 0.05)}",
        )
        results = Counter[str]()
        for (sample, labels), value in delta.items():
            if sample == "cronwright_runs_total" and value:
                label = dict(labels)
                results[f"{label.get('result')}/{label.get('trigger')}"] += int(value)
        self.report.add(
            "runs finished, operator /metrics", ", ".join(f"{k} {v:,}" for k, v in sorted(results.items()))
        )
        in_flight = metric_sum(after, "cronwright_runs_in_flight")
        book = metric_sum(after, "cronwright_schedule_book_size")
        self.report.add("book size / runs in flight at end", f"{book:,.0f} / {in_flight:,.0f}")

    def skew_figures(self, skews_ms: list[float], p99_target: float | None) -> None:
        if not skews_ms:
            self.report.add("skew (arrival - scheduled)", "no runs received")
            return
        ordered = sorted(skews_ms)
        p99 = percentile(ordered, 0.99)
        self.report.add(
            "skew p50 / p95 / p99 / max",
            f"{percentile(ordered, 0.5):.1f} / {percentile(ordered, 0.95):.1f} / {p99:.1f} / "
            f"{ordered[-1]:.1f} ms (n={len(ordered):,})",
            f"p99 ≤ {p99_target:.0f} ms" if p99_target else "",
            (p99 <= p99_target) if p99_target else None,
        )
        self.report.add("skew min", f"{ordered[0]:.1f} ms")

    def correctness(
        self, expected: set[tuple[str, int]], records: list[list[Any]], window: Callable[[float], bool]
    ) -> list[float]:
        """Compare received runs with expected ones; returns the skews (ms) of first arrivals.

        A run id seen twice is a duplicate delivery: a bug in the shard fencing, counted
        over every record, not only the window's.
        """
        by_run_id = Counter(r[3] for r in records)
        duplicates = {rid: n for rid, n in by_run_id.items() if n > 1}
        seen: dict[tuple[str, int], float] = {}
        unexpected = 0
        for arrival, name, scheduled_text, _rid, _key in records:
            scheduled = parse_epoch(scheduled_text)
            if scheduled is None or not window(scheduled):
                continue
            key = (name, round(scheduled))
            if key not in expected:
                unexpected += 1
                continue
            if key not in seen:
                seen[key] = (arrival - scheduled) * 1000
        missing = expected - seen.keys()
        self.report.add("runs expected / received", f"{len(expected):,} / {len(seen):,}")
        self.report.add("missing runs", f"{len(missing):,}", "0", not missing)
        self.report.add(
            "duplicate deliveries (same run id)",
            f"{sum(duplicates.values()) - len(duplicates):,}",
            "0",
            not duplicates,
        )
        if unexpected:
            self.report.add("unexpected runs (wrong scheduled time)", f"{unexpected:,}", "0", False)
            self.report.findings.append(
                f"{unexpected} in-window requests had a scheduled time no resource has"
            )
        if duplicates:
            sample = ", ".join(list(duplicates)[:5])
            self.report.findings.append(f"{len(duplicates)} run ids delivered more than once (e.g. {sample})")
        self.missing = missing
        self.first_skews = seen
        return list(seen.values())

    def rank_figure(self) -> None:
        """Skew by arrival order among runs due at the same instant.

        N/60 runs share each second of a steady minute; if the k-th of them is k times
        some milliseconds late, the operator spends that long on each run, one after the
        other, in its single event loop — the per-run cost, read off the receiver's clock.
        """
        groups: dict[int, list[float]] = {}
        for (_, scheduled), skew in self.first_skews.items():
            groups.setdefault(scheduled, []).append(skew)
        by_rank: dict[int, list[float]] = {}
        for skews in groups.values():
            for rank, skew in enumerate(sorted(skews)):
                by_rank.setdefault(rank, []).append(skew)
        # The last rank that at least half of the instants reach (N % 60 makes some longer).
        ranks = [rank for rank, skews in by_rank.items() if len(skews) * 2 >= len(groups)]
        if len(ranks) < 2:
            return
        last = max(ranks)
        first_p50 = percentile(sorted(by_rank[0]), 0.5)
        last_p50 = percentile(sorted(by_rank[last]), 0.5)
        # Over a second behind, the order reflects a backlog carried from earlier instants,
        # not a per-run cost: print the figures, not the slope.
        slope = f": ≈ {(last_p50 - first_p50) / last:.1f} ms more per run" if last_p50 < 1000 else ""
        self.report.add(
            "skew p50 of 1st / last run due at one instant",
            f"{first_p50:.1f} / {last_p50:.1f} ms ({last + 1} runs per instant{slope})",
        )

    async def explain_missing(self, window: Callable[[float], bool]) -> None:
        """What status says about runs that never arrived (Missed? Failed? nothing at all?)."""
        if not self.missing:
            return
        recorded: dict[tuple[str, int], str] = {}
        for item in await self.items():
            name = item["metadata"]["name"]
            for run in (item.get("status") or {}).get("history") or []:
                scheduled = parse_epoch(run.get("scheduledTime"))
                if scheduled is not None and window(scheduled):
                    recorded[(name, round(scheduled))] = (
                        f"{run.get('result')}: {run.get('error') or ''}".strip()
                    )
        reasons = Counter(recorded.get(key, "no record in status.history") for key in self.missing)
        names = Counter(name for name, _ in self.missing)
        self.report.findings.append(
            f"{len(self.missing):,} runs never reached the receiver, over {len(names):,} resources; "
            "status says: " + "; ".join(f"{n:,} x {reason[:160]}" for reason, n in reasons.most_common(5))
        )
        seconds = Counter(when % 60 for _, when in self.missing)
        self.report.findings.append(
            "missing runs by second of the minute (top 5): "
            + ", ".join(f":{s:02d} {n}" for s, n in seconds.most_common(5))
        )

    async def create_and_activate(
        self, bodies: Iterable[dict[str, Any]], deadline: float, interval: float
    ) -> tuple[bool, int]:
        """Create everything, then wait until all are Active; how long, and who was busy.

        The operator learns each new resource with one status write while the POSTs are
        still coming in, so this phase is the API server's and the operator's hardest.
        """
        sampler = Sampler(self.h.pids()).start()
        created_at = time.time()
        took = await self.create_all(bodies)
        self.report.add("create (POST, 48 in flight)", f"{took:.1f} s = {self.count / took:.0f}/s")
        say(f"created in {took:.1f} s; waiting until all are Active")
        ok, ready = await self.wait_all(
            lambda item: (item.get("status") or {}).get("phase") == "Active", "Active", deadline, interval
        )
        await sampler.stop()
        self.report.add(
            "all Active after (from first POST)",
            f"{time.time() - created_at:.1f} s" if ok else f"{ready:,} only",
        )
        usage = sampler.usage
        busy = f", machine busy {sum(sampler.machine) / len(sampler.machine):.0f}%" if sampler.machine else ""
        operators = sorted(name for name in usage if name.startswith("operator")) or ["operator"]
        parts = [
            f"{name} {usage.get(name, Usage()).cpu_text()}" for name in (*operators, "kube-apiserver", "etcd")
        ]
        self.report.add("create → all Active: CPU (% of one core)", "; ".join(parts) + busy)
        return ok, ready

    # -- steady ---------------------------------------------------------------------------

    async def steady(self) -> None:
        """N resources, second of the minute = i % 60 (so N/60 due per second); measure a window.

        Why cron with a leading seconds field and not ``every: 60s``: ``every`` is anchored
        on creationTimestamp, so its spread would copy the creation rate (10,000 resources
        created in a few seconds would fire in a few seconds of each minute). ``i % 60``
        spreads them evenly over the minute whatever the creation speed, and keeps the
        expected set of runs exact: each resource fires once per minute of the window.
        """
        n, minutes = self.count, self.args.minutes
        seconds_of = {self.name(i): i % 60 for i in range(n)}
        say(f"creating {n:,} resources")
        ok, ready = await self.create_and_activate(
            (self.body(i, {"cron": f"{i % 60} * * * * *"}) for i in range(n)),
            time.time() + 120 + n / 10,
            max(2.0, n / 2000),  # a LIST of 10,000 objects is itself load on the API server
        )
        if not ok:
            self.report.findings.append(f"only {ready:,} of {n:,} resources became Active in time")

        w0 = math.ceil(time.time()) + 2
        w1 = w0 + minutes * 60
        in_window = lambda scheduled: w0 <= scheduled < w1  # noqa: E731
        expected = {(name, t) for name, s in seconds_of.items() for t in range(w0, w1) if t % 60 == s}
        await self.sleep_until(w0)
        self.report.load.append(f"at start of window: {load_average()}")
        say(f"measuring {minutes} min: {rfc3339(w0)} .. {rfc3339(w1)}")
        before = await self.metrics()
        spy = self.start_profile(min(60.0, w1 - time.time()))
        sampler = Sampler(self.h.pids()).start()
        await self.sleep_until(w1)
        await sampler.stop()
        after = await self.metrics()
        self.report.load.append(f"at end of window: {load_average()}")
        say(f"window over; {STEADY_GRACE:.0f} s grace for late arrivals")
        await asyncio.sleep(STEADY_GRACE)
        self.finish_profile(spy)
        records = await self.records()
        skews = self.correctness(expected, records, in_window)
        self.skew_figures(skews, SKEW_P99_TARGET_MS.get(n))
        self.rank_figure()
        self.add_operator_figures(sampler, before, after, w1 - w0, RSS_TARGET_MIB.get(n))
        await self.explain_missing(in_window)

    # -- burst ----------------------------------------------------------------------------

    async def burst(self) -> None:
        """N one-shot resources all due at T0 (``at``); how fast does the operator drain them?

        T0 leaves time to create everything and for the operator to learn and plan it
        (nextRunTime = T0 in status). How many were planned 1 s before T0 is printed: a
        burst still being learned at T0 is a different (slower) story.
        """
        n = self.count
        lead = self.args.lead if self.args.lead is not None else 20 + n / 100
        t0 = math.ceil(time.time() + lead)
        at = rfc3339(t0)
        say(f"creating {n:,} resources, all due at {at} (in {t0 - time.time():.0f} s)")
        ok, ready = await self.create_and_activate((self.body(i, {"at": at}) for i in range(n)), t0 - 1, 1.0)
        active = time.time()
        if not ok or active > t0 - READY_AHEAD:
            self.report.findings.append(
                f"resources were not all Active {READY_AHEAD:.0f} s before T0 ({ready:,} Active, "
                f"{t0 - active:.1f} s before T0): raise --lead"
            )
        await self.sleep_until(t0 - READY_AHEAD - 1)
        self.report.load.append(f"before the burst: {load_average()}")
        before = await self.metrics()
        sampler = Sampler(self.h.pids()).start()
        spy = self.start_profile(45.0)
        await self.sleep_until(t0 - 1)
        planned = sum(
            1
            for item in await self.items()
            if parse_epoch((item.get("status") or {}).get("nextRunTime")) == t0
        )
        self.report.add("planned for T0 (nextRunTime) 1 s before T0", f"{planned:,} / {n:,}")
        say(f"{planned:,} planned at T0-1 s; waiting for the burst")

        # Until every run reached the receiver — or finished anyway (a run that failed
        # before sending never arrives): the operator's run counter says so.
        deadline, next_scrape = t0 + 120, 0.0
        while time.time() < deadline and await self.received() < n:
            if time.time() >= next_scrape:
                finished = metric_sum(metric_delta(before, await self.metrics()), "cronwright_runs_total")
                if finished >= n:
                    break
                next_scrape = time.time() + 0.5
            await asyncio.sleep(0.05)

        def completed(item: dict[str, Any]) -> bool:
            status = item.get("status") or {}
            last = status.get("lastRun") or {}
            return status.get("phase") == "Completed" and parse_epoch(last.get("scheduledTime")) == t0

        ok, done = await self.wait_all(completed, "Completed", deadline=t0 + 300, interval=STATUS_POLL)
        status_done = time.time()
        await sampler.stop()
        after = await self.metrics()
        self.report.load.append(f"after the burst: {load_average()}")
        self.finish_profile(spy)

        records = await self.records()
        in_burst = lambda scheduled: round(scheduled) == t0  # noqa: E731
        skews = self.correctness({(self.name(i), t0) for i in range(n)}, records, in_burst)
        arrivals = sorted(r[0] for r in records if parse_epoch(r[2]) == t0)
        if arrivals:
            drain = arrivals[-1] - t0
            target = BURST_DRAIN_TARGET_S.get(n)
            self.report.add(
                "T0 → last request arrived",
                f"{drain * 1000:.0f} ms (first after {(arrivals[0] - t0) * 1000:.0f} ms)",
                f"≤ {target * 1000:.0f} ms" if target else "",
                (drain <= target and len(arrivals) >= n) if target else None,
            )
            self.report.add("runs/s over the burst (received / (last - T0))", f"{len(arrivals) / drain:,.0f}")
        self.skew_figures(skews, None)
        self.report.add(
            f"T0 → every status shows the result (LIST every {STATUS_POLL} s)",
            f"{status_done - t0:.1f} s" if ok else f"{done:,} of {n:,} after {status_done - t0:.0f} s",
        )
        self.add_operator_figures(sampler, before, after, status_done - (t0 - READY_AHEAD - 1), None)
        await self.explain_missing(in_burst)


SCAFFOLDING = (
    "(<frozen runpy>)",
    "(asyncio/runners.py)",
    "(asyncio/base_events.py)",
    "(asyncio/events.py)",
    "(cli/main.py)",
    "(operator/main.py)",
)
"""Files whose frames are on (nearly) every stack of the operator (matched without line numbers)."""


def summarize_profile(path: Path, top: int = 12) -> list[str]:
    """Top functions of a py-spy raw (collapsed) profile: by own samples and by inclusive samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return ["py-spy profile is empty"]
    # The event loop's and the entry point's frames sit under everything: not hot spots.
    inclusive = Counter({frame: n for frame, n in inclusive.items() if not frame.endswith(SCAFFOLDING)})

    def fmt(counter: Counter[str]) -> str:
        return "; ".join(f"{frame} {n / total * 100:.0f}%" for frame, n in counter.most_common(top))

    return [
        f"py-spy ({total:,} samples, {path}) — top by own time: {fmt(own)}",
        f"py-spy — top by inclusive time: {fmt(inclusive)}",
    ]


# -- docs -------------------------------------------------------------------------------------

INTRO = """# Benchmarks

How fast `cronwright operator` fires runs, measured end to end on a real control plane
(etcd + kube-apiserver on 127.0.0.1, the operator as its own process, a loopback HTTP
receiver as every CronJobSpec's target). Skew is arrival at the receiver minus the run's
`X-Cronwright-Scheduled-Time`, so it includes the shard fencing, the
scheduler loop, the HTTP client and loopback.

- **steady**: N resources with 6-field cron `"<i % 60> * * * * *"` (N/60 due each second,
  evenly over the minute), measured for `--minutes` after all are Active. Missing and
  duplicate runs are counted against the exact expected set.
- **burst**: N one-shot resources (`at`) all due in the same second T0; time until the
  last request arrived, and until every resource's status shows the result.
- Both: operator CPU (utime+stime, % of one core) and RSS sampled every second, status
  writes from the operator's `/metrics`, its own fire-skew histogram as a cross-check.
- **steady with replicas and disruptions** (`bench_resilience.py`): the steady shape with
  `--replicas N` operator processes (the split of runs between them) and `--disrupt`
  `rolling` (SIGTERM each replica, start its successor), `kill9` (SIGKILL one replica;
  takeover time, times recorded `Unknown`) or `apiserver:S` (kube-apiserver terminated,
  down S s, started again; time until every status caught up). Every expected time is
  classed delivered, recorded Unknown, recorded Missed or none of these.
- **start-up** (`bench_startup.py`): N resources created with no operator running, then
  the time from an operator's start to /readyz, a full book, all shards held and every
  status planned (`nextRunTime`); its RSS without resources and after, per resource.

Targets: steady p99 ≤ 25 ms at 1,000 resources and ≤ 50 ms at 10,000; a burst of 1,000
drained within 1 s; operator RSS ≤ 200 MiB at 10,000.

Machine: {machine}. Everything (etcd, API server, operator, receiver, harness) shares
it, so the load average is recorded next to each set of figures. Every section is
written by `tests/benchmarks/bench_operator.py --write-doc` (`make bench` runs all three)
and names its exact command; a new run replaces the section of the same shape and count.

"""


def write_doc(report: Report, path: Path = DOC) -> None:
    """Replace this shape+count's section, or append it; create the page with an intro."""
    text = path.read_text() if path.exists() else INTRO.format(machine=machine_summary())
    section = report.markdown()
    pattern = re.compile(
        rf"<!-- bench:{re.escape(report.key)} -->.*?<!-- /bench:{re.escape(report.key)} -->\n?", re.DOTALL
    )
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    say(f"wrote section {report.key} to {path}")


# -- entry point --------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench_operator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="shape", required=True)
    for shape, text in (
        ("steady", "N resources spread evenly over the minute; skew over --minutes"),
        ("burst", "N one-shot resources due in the same second; drain time"),
    ):
        sub = commands.add_parser(shape, help=text)
        sub.add_argument("--count", type=int, default=1000, help="resources to create")
        sub.add_argument("--minutes", type=int, default=2, help="steady: length of the measured window")
        sub.add_argument(
            "--lead", type=float, help="burst: seconds from start to T0 (default 20 + count/100)"
        )
        sub.add_argument(
            "--write-doc", action="store_true", help=f"write the result into {DOC.relative_to(REPO)}"
        )
        sub.add_argument(
            "--profile", type=Path, help="record a py-spy profile (raw, collapsed) of the operator"
        )
    receiver = commands.add_parser(
        "receiver", help="internal: the loopback receiver the other commands start"
    )
    receiver.add_argument("--port", type=int, required=True)
    return root


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    if args.shape == "receiver":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness stops us with SIGTERM
        with contextlib.suppress(KeyboardInterrupt):
            signal.signal(signal.SIGTERM, _interrupt)
            asyncio.run(serve_receiver(args.port))
        return 0
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C does
    command = " ".join([".venv/bin/python -m tests.benchmarks.bench_operator", *argv])
    harness = Harness(args.profile.resolve() if args.profile else None)
    report: Report | None = None
    try:
        harness.start()
        report = asyncio.run(_measure(harness, args, command))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if harness.operator is not None and harness.operator.poll() is not None:
            say(f"the operator exited early ({harness.operator.returncode}):\n{harness.tail('operator')}")
        harness.stop()
    print(report.text())
    if args.write_doc:
        write_doc(report)
    return 0


async def _measure(harness: Harness, args: argparse.Namespace, command: str) -> Report:
    bench = Bench(harness, args, command)
    shape: Callable[[], Awaitable[None]] = bench.steady if args.shape == "steady" else bench.burst
    try:
        await shape()
    finally:
        await bench.close()
    log_findings(bench.report, harness.tail("operator", 1_000_000))
    return bench.report


def log_findings(report: Report, log: str, who: str = "operator") -> None:
    """Error lines of an operator's log as findings (those kopf retried counted apart)."""
    lines = log.splitlines()
    errors = [line for line in lines if "ERROR" in line or "Traceback" in line]
    retried = [line for line in errors if "will retry" in line]
    errors = [line for line in errors if "will retry" not in line]
    if errors:
        report.findings.append(f"{who} log has {len(errors)} error lines, first: {errors[0][:300]}")
    if retried:
        report.findings.append(
            f"{who} log has {len(retried)} API errors kopf retried, first: {retried[0][:200]}"
        )


if __name__ == "__main__":
    sys.exit(main())
