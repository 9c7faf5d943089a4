"""Steady load with several operator replicas, and with disruptions: rolling restart, kill -9,
an API server outage.

Run by hand, never by pytest::

    .venv/bin/python -m tests.benchmarks.bench_resilience steady --count 1000 --replicas 2
    .venv/bin/python -m tests.benchmarks.bench_resilience steady --count 1000 --replicas 2 --disrupt rolling
    .venv/bin/python -m tests.benchmarks.bench_resilience steady --count 1000 --replicas 2 --disrupt kill9
    .venv/bin/python -m tests.benchmarks.bench_resilience steady --count 1000 --disrupt apiserver:10
    .venv/bin/python -m tests.benchmarks.bench_resilience steady --count 1000 --disrupt apiserver:60

The load and its measurement are bench_operator's steady shape (its Harness, Bench and
Report): N resources with cron ``"<i % 60> * * * * *"``, every run's arrival at the
receiver compared with the exact expected set of the window. On top of it:

- ``--replicas N`` starts N operator processes (instances A, B, …) on the same resources;
  the split of the runs between them is each one's ``cronwright_runs_total`` delta.
- ``--disrupt rolling``: ``--disrupt-at`` seconds into the window, SIGTERM replica A, start
  A' (a new instance id), wait until it is ready and holds its fair share of the shards,
  then the same for B. The guarantee: nothing doubled, nothing missing.
- ``--disrupt kill9``: SIGKILL the last replica; no restart. Every scheduled time must be
  delivered or recorded ``Unknown`` (or Missed) in status — none silently absent; the
  takeover time is from the kill to the first run delivered for a resource of a shard the
  killed replica held.
- ``--disrupt apiserver:S``: stop kube-apiserver (terminated, not paused), leave it down S
  seconds, start it again with the same flags and ports; then how long until every
  resource's status caught up (lastScheduleTime = its latest scheduled time ≤ now - 2 s).

At the end the statuses of all resources are read: ``counters.unknown`` and
``counters.missed`` summed, and each expected time not delivered is looked up in
``status.history``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from cronwright.core.controlplane.cluster import free_port
from cronwright.core.kube import refs
from cronwright.operator.shard_leases import shard_lease_name
from cronwright.operator.sharding import fair_shares, shard_of
from tests.benchmarks.bench_operator import (
    CLOCK_TICKS,
    DOC,
    REPO,
    STEADY_GRACE,
    Bench,
    Harness,
    Report,
    Samples,
    Usage,
    cpu_ticks,
    histogram_buckets,
    load_average,
    log_findings,
    metric_delta,
    metric_sum,
    parse_epoch,
    quantile_text,
    rfc3339,
    rss_mib,
    say,
    write_doc,
)

T = TypeVar("T")
SHARDS = 32
"""The operator's default --shards, which the harness does not change."""
SHARE_TIMEOUT = 90.0
"""How long a replica may take to hold its fair share of the shards."""
CONVERGE_TIMEOUT = 300.0
"""How long after an API server outage the statuses may take to catch up."""
CONVERGE_SLACK = 2.0
"""A status has caught up when its lastScheduleTime is the latest time due this long ago."""
LATE = 1.0
"""A run that arrives more than this after its time counts as late (taken over, held back)."""


@dataclass
class Replica:
    """One operator process: label (A, B, A' …), instance id, metrics port."""

    label: str
    instance: str
    port: int
    process: subprocess.Popen[bytes]
    log: str
    before: Samples = field(default_factory=dict)
    last: Samples = field(default_factory=dict)
    ended: str = ""
    """How it left during the window: "SIGTERM" or "SIGKILL"; empty while it runs."""

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class ReplicaHarness(Harness):
    """bench_operator's Harness with N operator processes, each with its own --instance."""

    def __init__(self, replicas: int) -> None:
        super().__init__(profile=None)
        self.wanted = replicas
        self.replicas: list[Replica] = []

    def start(self) -> None:
        super().start()
        assert self.operator is not None
        self.replicas.append(Replica("A", self.instance, self.operator_port, self.operator, "operator"))
        for i in range(1, self.wanted):
            self.add(chr(ord("A") + i))

    def add(self, label: str) -> Replica:
        """Start one more replica and wait until its /readyz answers (blocking)."""
        tag = label.lower().replace("'", "2")
        instance, port, log = f"{self.instance}-{tag}", free_port(), f"operator-{tag}"
        replica = Replica(label, instance, port, self.spawn_operator(instance, port, log), log)
        self.replicas.append(replica)
        say(f"operator {label} ({instance}) pid {replica.process.pid} ready")
        return replica

    def live(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]

    def pids(self) -> dict[str, int]:
        named = {name: pid for name, pid in super().pids().items() if name != "operator"}
        return named | {f"operator {r.label}": r.process.pid for r in self.live()}

    def stop(self) -> None:
        for replica in self.live():
            if replica.process is self.operator:
                continue  # Harness.stop stops it
            replica.process.send_signal(signal.SIGTERM)
            try:
                replica.process.wait(30)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait()
        super().stop()


class LiveSampler:
    """CPU (% of one core) and RSS of each operator replica while it lives, every second,
    plus the control plane's CPU; follows replicas that come and go."""

    def __init__(self, harness: ReplicaHarness, interval: float = 1.0) -> None:
        self.h = harness
        self.interval = interval
        self.usage: dict[str, Usage] = {}
        self.others = {n: p for n, p in harness.pids().items() if not n.startswith("operator")}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> LiveSampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        last: dict[int, tuple[int | None, float]] = {}
        while True:
            pids = {f"operator {r.label}": r.process.pid for r in self.h.live()} | self.others
            for name, pid in pids.items():
                ticks, now = cpu_ticks(pid), time.monotonic()
                usage = self.usage.setdefault(name, Usage())
                previous, stamp = last.get(pid, (None, now))
                if ticks is not None and previous is not None and now > stamp:
                    usage.cpu.append((ticks - previous) / CLOCK_TICKS / (now - stamp) * 100)
                if (rss := rss_mib(pid)) is not None and name.startswith("operator"):
                    usage.rss.append(rss)
                last[pid] = (ticks, now)
            await asyncio.sleep(self.interval)


async def timed(work: Awaitable[T], since: float) -> tuple[T, float]:
    """The result of ``work`` and the seconds from ``since`` until it was there."""
    result = await work
    return result, time.time() - since


def describe(args: argparse.Namespace) -> tuple[str, str]:
    """(words for the heading, slug for the docs section) of this run."""
    words, slug = ["steady"], ["steady"]
    if args.replicas > 1:
        words.append(f"{args.replicas} replicas")
        slug.append(f"{args.replicas}-replicas")
    if args.disrupt == "rolling":
        words.append("rolling restart")
        slug.append("rolling")
    elif args.disrupt == "kill9":
        words.append("kill -9 of one replica")
        slug.append("kill9")
    elif args.disrupt:
        words.append(f"API server stopped {args.outage:.0f} s")
        slug.append(f"apiserver-{args.outage:.0f}")
    return ", ".join(words), "-".join(slug)


class ResilienceBench(Bench):
    """bench_operator's steady measurement with replicas and a disruption in the window."""

    h: ReplicaHarness

    def __init__(self, harness: ReplicaHarness, args: argparse.Namespace, command: str) -> None:
        super().__init__(harness, args, command)
        words, slug = describe(args)
        self.report = Report(words, args.count, command, self.report.started, slug=slug)
        self.seconds_of = {self.name(i): i % 60 for i in range(self.count)}
        self.disruption: list[tuple[str, str]] = []
        self.killed_at: float | None = None
        self.killed_shards: set[int] = set()
        self.back_at: float | None = None
        self.w0 = 0.0
        self.uids: dict[str, str] = {}

    async def run(self) -> None:
        n, minutes = self.count, self.args.minutes
        say(f"creating {n:,} resources")
        ok, ready = await self.create_and_activate(
            (self.body(i, {"cron": f"{i % 60} * * * * *"}) for i in range(n)),
            time.time() + 120 + n / 10,
            max(2.0, n / 2000),
        )
        if not ok:
            self.report.findings.append(f"only {ready:,} of {n:,} resources became Active in time")
        await self.wait_shares()

        w0 = math.ceil(time.time()) + 2
        w1 = w0 + minutes * 60
        self.w0 = w0
        in_window = lambda scheduled: w0 <= scheduled < w1  # noqa: E731
        expected = {(nm, t) for nm, s in self.seconds_of.items() for t in range(w0, w1) if t % 60 == s}
        await self.sleep_until(w0)
        self.report.load.append(f"at start of window: {load_average()}")
        say(f"measuring {minutes} min: {rfc3339(w0)} .. {rfc3339(w1)}")
        for replica in self.h.live():
            replica.before = await self.metrics(replica.port)
        sampler = LiveSampler(self.h).start()
        disruption = (
            asyncio.create_task(self.disrupt(w0 + self.args.disrupt_at)) if self.args.disrupt else None
        )
        await self.sleep_until(w1)
        if disruption is not None:
            if not disruption.done():
                self.report.findings.append("the disruption lasted beyond the window; waited for it")
            await disruption
        for replica in self.h.live():
            replica.last = await self.metrics(replica.port)
        await sampler.stop()
        self.report.load.append(f"at end of window: {load_average()}")
        say(f"window over; {STEADY_GRACE:.0f} s grace for late arrivals")
        await asyncio.sleep(STEADY_GRACE)

        records = await self.records()
        skews = self.correctness(expected, records, in_window)
        if not self.lossless:
            # Not delivered is allowed here when status records it Unknown or Missed.
            row = next(r for r in self.report.rows if r.figure == "missing runs")
            row.figure, row.target, row.met = "not delivered", "", None
        self.skew_figures(skews, None)
        late = sorted(s for s in skews if s > LATE * 1000)
        self.report.add(
            f"runs delivered later than {LATE:.0f} s",
            f"{len(late):,}" + (f", latest {late[-1] / 1000:.1f} s" if late else ""),
        )
        for figure, value in self.disruption:
            self.report.add(figure, value)
        items = await self.items()
        self.uids = {item["metadata"]["name"]: item["metadata"]["uid"] for item in items}
        if self.killed_at is not None:
            self.takeover_figure(records)
        self.accounting(expected, items, in_window)
        self.replica_figures(sampler, w1 - w0)
        await self.explain_missing(in_window)

    # -- disruptions ----------------------------------------------------------------------

    async def disrupt(self, at: float) -> None:
        await self.sleep_until(at)
        say(f"disruption: {self.args.disrupt}")
        if self.args.disrupt == "rolling":
            await self.rolling()
        elif self.args.disrupt == "kill9":
            await self.kill9()
        else:
            await self.outage(self.args.outage)

    async def rolling(self) -> None:
        """SIGTERM each original replica in turn and start its successor at once (a new
        instance id); go on once the old one exited and the new one holds its share."""
        for old in list(self.h.live()):
            with contextlib.suppress(httpx.HTTPError):
                old.last = await self.metrics(old.port)
            started = time.time()
            old.process.send_signal(signal.SIGTERM)
            old.ended = "SIGTERM"
            (code, exited), (new, ready) = await asyncio.gather(
                timed(self.exit_code(old), started),
                timed(asyncio.to_thread(self.h.add, f"{old.label}'"), started),
            )
            share, held = await self.wait_share(new, since=started)
            self.disruption.append(
                (
                    f"rolling: {old.label} → {new.label}",
                    f"after SIGTERM to {old.label}: {old.label} exited ({code}) {exited:.1f} s, "
                    f"{new.label} /readyz {ready:.1f} s, "
                    + (
                        f"holds its {share} shards {held:.1f} s"
                        if held is not None
                        else f"NOT {share} shards"
                    ),
                )
            )
            say(f"rolled {old.label} → {new.label}")

    async def exit_code(self, replica: Replica, grace: float = 60.0) -> int:
        try:
            return await asyncio.to_thread(replica.process.wait, grace)
        except subprocess.TimeoutExpired:
            replica.process.kill()
            self.report.findings.append(
                f"{replica.label} did not exit within {grace:.0f} s of SIGTERM: killed"
            )
            return await asyncio.to_thread(replica.process.wait)

    async def kill9(self) -> None:
        victim = self.h.live()[-1]
        self.killed_shards = await self.held_shards(victim.instance)
        with contextlib.suppress(httpx.HTTPError):
            victim.last = await self.metrics(victim.port)
        self.killed_at = time.time()
        victim.process.kill()
        victim.ended = "SIGKILL"
        await asyncio.to_thread(victim.process.wait)
        say(f"killed {victim.label} (held {len(self.killed_shards)} shards)")
        survivors = self.h.live()
        held = None
        if survivors:
            _, held = await self.wait_share(survivors[0], since=self.killed_at)
        self.disruption.append(
            (
                f"kill -9 of {victim.label}",
                f"{self.killed_at - self.window_start():.0f} s into the window, holding "
                f"{len(self.killed_shards)} shards; "
                + (
                    f"{survivors[0].label} holds all {SHARDS} after {held:.1f} s"
                    if held is not None and survivors
                    else "its shards were NOT all taken over"
                ),
            )
        )

    async def outage(self, down: float) -> None:
        """Terminate kube-apiserver, leave it down ``down`` s, start it again (same flags)."""
        assert self.h.plane is not None
        pid = self.h.pids()["kube-apiserver"]
        stopped = time.time()
        say(f"stopping kube-apiserver for {down:.0f} s")
        restart = asyncio.create_task(asyncio.to_thread(self.h.plane.restart_apiserver, 120.0, down))
        while Path(f"/proc/{pid}").exists() and not restart.done():
            await asyncio.sleep(0.05)
        exited = time.time()
        await restart
        self.back_at = time.time()
        say(f"kube-apiserver answers again after {self.back_at - stopped:.1f} s")
        self.disruption.append(
            (
                f"API server stopped for {down:.0f} s",
                f"SIGTERM {stopped - self.window_start():.0f} s into the window; exited "
                f"{exited - stopped:.1f} s later; down (exit → /readyz again) {self.back_at - exited:.1f} s, "
                f"started again after {down:.0f} s",
            )
        )
        converged = await self.converge()
        self.disruption.append(
            (
                "API server back → every status caught up "
                f"(lastScheduleTime = latest due ≤ now - {CONVERGE_SLACK:.0f} s)",
                f"{converged:.1f} s" if converged is not None else f"NOT within {CONVERGE_TIMEOUT:.0f} s",
            )
        )

    def window_start(self) -> float:
        return self.w0

    @property
    def lossless(self) -> bool:
        """Whether the guarantee is: every scheduled time delivered (none Unknown or Missed)."""
        return self.args.disrupt in (None, "rolling") or (
            self.args.disrupt == "apiserver" and self.args.outage <= 10
        )

    async def converge(self) -> float | None:
        """Seconds from the API server's return until every status shows its latest due time."""
        assert self.back_at is not None
        while time.time() - self.back_at < CONVERGE_TIMEOUT:
            polled = time.time()
            try:
                items = await self.items()
            except Exception as error:  # the client reconnecting after the restart
                say(f"  LIST failed ({type(error).__name__}); again")
                await asyncio.sleep(1)
                continue
            behind = sum(1 for item in items if not self.caught_up(item, polled - CONVERGE_SLACK))
            if not behind and len(items) >= self.count:
                return polled - self.back_at
            await asyncio.sleep(1)
        return None

    def caught_up(self, item: dict[str, Any], at: float) -> bool:
        second = self.seconds_of.get(item["metadata"]["name"])
        if second is None:
            return True
        latest = math.floor(at) - (math.floor(at) - second) % 60
        last = parse_epoch((item.get("status") or {}).get("lastScheduleTime"))
        return last is not None and last >= latest

    # -- shards ---------------------------------------------------------------------------

    async def held_shards(self, instance: str) -> set[int]:
        leases = (await self.kube.get(refs.lease(self.h.namespace)))["items"]
        names = {shard_lease_name(n): n for n in range(SHARDS)}
        return {
            names[lease["metadata"]["name"]]
            for lease in leases
            if lease["metadata"]["name"] in names
            and (lease.get("spec") or {}).get("holderIdentity") == instance
        }

    async def wait_share(self, replica: Replica, since: float | None = None) -> tuple[int, float | None]:
        """(its fair share, seconds from ``since`` (default now) until it holds it — None: never)."""
        since = since or time.time()
        share = fair_shares([r.instance for r in self.h.live()], SHARDS)[replica.instance]
        while time.time() - since < SHARE_TIMEOUT:
            with contextlib.suppress(httpx.HTTPError):
                if metric_sum(await self.metrics(replica.port), "cronwright_shards_held") == share:
                    return share, time.time() - since
            await asyncio.sleep(0.25)
        return share, None

    async def wait_shares(self) -> None:
        """Before the window: every replica holds its fair share (a window starting while
        the shards are still being divided measures the division, not the steady state)."""
        for replica in self.h.live():
            share, held = await self.wait_share(replica)
            if held is None:
                self.report.findings.append(
                    f"{replica.label} did not hold its {share} shards before the window"
                )

    # -- figures --------------------------------------------------------------------------

    def takeover_figure(self, records: list[list[Any]]) -> None:
        assert self.killed_at is not None
        uids = self.uids
        killed = {nm for nm, uid in uids.items() if shard_of(uid, SHARDS) in self.killed_shards}
        after = sorted(
            (r[0], r[1], parse_epoch(r[2])) for r in records if r[1] in killed and r[0] > self.killed_at
        )
        if not after:
            self.report.add(
                "takeover (kill → first run of a killed replica's shard delivered)", "none delivered"
            )
            return
        arrival, name, scheduled = after[0]
        late = [a - s for a, _, s in after if s is not None and a - s > LATE]
        self.report.add(
            "takeover (kill → first run of a killed replica's shard delivered)",
            f"{arrival - self.killed_at:.1f} s ({name} scheduled {rfc3339(scheduled or 0)}); "
            f"{len(late):,} of their runs late, latest {max(late, default=0):.1f} s",
        )

    def accounting(self, expected: set[tuple[str, int]], items: list[dict[str, Any]], window: Any) -> None:
        """Each expected time: delivered, or recorded Unknown / Missed in status, or none of these.

        A time with its own history record (Unknown, Missed) is matched by scheduled time.
        Missed times of a downtime are counted in ``counters.missed`` next to the one catch-up
        run, without a record each: per resource, times not delivered and without a record
        are covered up to its ``counters.missed`` beyond its Missed records.
        """
        unknown = missed = 0
        recorded: dict[tuple[str, int], str] = {}
        batch_missed: dict[str, int] = {}
        for item in items:
            name = item["metadata"]["name"]
            status = item.get("status") or {}
            counters = status.get("counters") or {}
            unknown += int(counters.get("unknown") or 0)
            missed += int(counters.get("missed") or 0)
            history = status.get("history") or []
            own = sum(1 for run in history if run.get("result") == "Missed")
            batch_missed[name] = max(0, int(counters.get("missed") or 0) - own)
            for run in history:
                scheduled = parse_epoch(run.get("scheduledTime"))
                if scheduled is not None and window(scheduled):
                    recorded[(name, round(scheduled))] = str(run.get("result"))
        delivered = expected - self.missing
        as_unknown = {k for k in expected if recorded.get(k) == "Unknown"}
        as_missed = {k for k in expected if recorded.get(k) == "Missed"}
        rest = Counter(name for name, _ in self.missing - as_unknown - as_missed)
        in_batch = sum(min(n, batch_missed.get(name, 0)) for name, n in rest.items())
        neither = sum(rest.values()) - in_batch
        self.report.add(
            "recorded Unknown (counters.unknown, all resources)",
            f"{unknown:,}; in the window's history {len(as_unknown):,} "
            f"({len(as_unknown & delivered):,} of them delivered too)",
        )
        self.report.add(
            "recorded Missed (counters.missed, all resources)",
            f"{missed:,}; in the window's history {len(as_missed):,}, "
            f"counted with a catch-up run {in_batch:,}",
        )
        self.report.add(
            "scheduled times delivered / Unknown / Missed / none of these",
            f"{len(delivered):,} / {len(as_unknown - delivered):,} / "
            f"{len(as_missed - delivered) + in_batch:,} / {neither:,} (of {len(expected):,})",
            "none of these: 0",
            not neither,
        )

    def replica_figures(self, sampler: LiveSampler, seconds: float) -> None:
        parts, total = [], 0.0
        for replica in self.h.replicas:
            runs = metric_sum(metric_delta(replica.before, replica.last), "cronwright_runs_total")
            total += runs
            shards = metric_sum(replica.last, "cronwright_shards_held")
            until = f" until {replica.ended}" if replica.ended else ""
            parts.append(f"{replica.label} {runs:,.0f}{until} ({shards:.0f} shards)")
        self.report.add(
            "runs per replica (cronwright_runs_total delta, shards held)",
            f"{', '.join(parts)}; sum {total:,.0f}",
        )
        for replica in self.h.replicas:
            usage = sampler.usage.get(f"operator {replica.label}", Usage())
            self.report.add(f"operator {replica.label} CPU / RSS", f"{usage.cpu_text()} / {usage.rss_text()}")
        others = ", ".join(
            f"{name} {sum(u.cpu) / len(u.cpu):.0f}%"
            for name, u in sampler.usage.items()
            if not name.startswith("operator") and u.cpu
        )
        self.report.add("other processes, mean CPU", others)
        lag: dict[float, float] = {}
        writes = 0.0
        for replica in self.h.replicas:
            delta = metric_delta(replica.before, replica.last)
            writes += metric_sum(delta, "cronwright_api_write_seconds_count")
            for le, count in histogram_buckets(delta, "cronwright_status_lag_seconds"):
                lag[le] = lag.get(le, 0.0) + count
        buckets = sorted(lag.items())
        self.report.add(
            "status writes (all replicas)", f"{writes:,.0f} in {seconds:.0f} s = {writes / seconds:.1f}/s"
        )
        self.report.add(
            "status lag (histogram, all replicas)",
            f"p50 {quantile_text(buckets, 0.5)}, p99 {quantile_text(buckets, 0.99)}",
        )


# -- entry point --------------------------------------------------------------------------------


def disruption(text: str) -> str:
    if text in ("rolling", "kill9") or (text.startswith("apiserver:") and text[10:].isdigit()):
        return text
    raise argparse.ArgumentTypeError("rolling, kill9 or apiserver:<seconds>")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench_resilience",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="shape", required=True)
    sub = commands.add_parser("steady", help="N resources spread over the minute, replicas, a disruption")
    sub.add_argument("--count", type=int, default=1000, help="resources to create")
    sub.add_argument(
        "--minutes", type=int, help="length of the measured window (default 2, 3 with --disrupt)"
    )
    sub.add_argument("--replicas", type=int, default=1, help="operator processes (default 1)")
    sub.add_argument("--disrupt", type=disruption, help="rolling | kill9 | apiserver:<seconds>")
    sub.add_argument("--disrupt-at", type=float, default=20.0, help="seconds into the window (default 20)")
    sub.add_argument(
        "--write-doc", action="store_true", help=f"write the result into {DOC.relative_to(REPO)}"
    )
    return root


def check(args: argparse.Namespace) -> str | None:
    if args.disrupt in ("rolling", "kill9") and args.replicas < 2:
        return f"--disrupt {args.disrupt} needs --replicas 2 or more"
    args.outage = float(args.disrupt[10:]) if args.disrupt and args.disrupt.startswith("apiserver:") else 0.0
    if args.outage:
        args.disrupt = "apiserver"
    if args.minutes is None:
        args.minutes = 3 if args.disrupt else 2
    # kube-apiserver takes up to 10 s to stop (then it is killed) and a few to start.
    if args.outage and args.disrupt_at + args.outage + 35 > args.minutes * 60:
        return "the outage does not fit the window: raise --minutes"
    return None


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    if problem := check(args):
        sys.stderr.write(f"bench_resilience: {problem}\n")
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    command = " ".join([".venv/bin/python -m tests.benchmarks.bench_resilience", *argv])
    harness = ReplicaHarness(args.replicas)
    try:
        harness.start()
        report = asyncio.run(_measure(harness, args, command))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        for replica in harness.replicas:
            if replica.process.poll() is not None and not replica.ended:
                code = replica.process.returncode
                say(f"operator {replica.label} exited early ({code}):\n{harness.tail(replica.log)}")
        harness.stop()
    print(report.text())
    if args.write_doc:
        write_doc(report)
    return 0


async def _measure(harness: ReplicaHarness, args: argparse.Namespace, command: str) -> Report:
    bench = ResilienceBench(harness, args, command)
    try:
        await bench.run()
    finally:
        await bench.close()
    for replica in harness.replicas:
        log_findings(bench.report, harness.tail(replica.log, 1_000_000), f"operator {replica.label}")
    return bench.report


if __name__ == "__main__":
    sys.exit(main())
