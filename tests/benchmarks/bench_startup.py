"""Operator memory and start-up time by number of resources.

Run by hand, never by pytest::

    .venv/bin/python -m tests.benchmarks.bench_startup --count 10000
    .venv/bin/python -m tests.benchmarks.bench_startup --count 30000

bench_operator's Harness starts the control plane, the receiver and an operator on the
empty namespace: its RSS there is the baseline. That operator is stopped (SIGTERM, so its
shards are free at once), the N resources are created with no operator running, and a
new operator process (a new instance id) is started. From its start, the figures are the
times until its /readyz answers (every resource listed), until
``cronwright_schedule_book_size`` = N, until it holds all 32 shards, and until every
resource's status has a ``nextRunTime`` (planned, one status write each); then its RSS
over ``--settle`` seconds. Per resource: (settled RSS - baseline) / N, and start-up to
all planned / N; both extrapolated linearly to 100,000.

The resources fire once an hour by default (``"<i % 60> <i / 60 % 60> * * * *"``: N/3600
runs a second), so the figures are of holding and planning N resources rather than of
firing them; ``--fires minute`` uses bench_operator's steady schedule instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import Any

import httpx

from cronwright.core.controlplane.cluster import LOOPBACK, free_port
from tests.benchmarks.bench_operator import (
    CREATE_CONCURRENCY,
    DOC,
    REPO,
    Bench,
    Harness,
    Report,
    Sampler,
    load_average,
    log_findings,
    metric_sum,
    say,
    write_doc,
)

SHARDS = 32
EXTRAPOLATE_TO = 100_000


class StartupBench(Bench):
    def __init__(self, harness: Harness, args: argparse.Namespace, command: str) -> None:
        super().__init__(harness, args, command)
        self.report = Report("start-up", args.count, command, self.report.started, slug="startup")
        self.milestones: dict[str, float] = {}

    def schedule(self, i: int) -> dict[str, Any]:
        if self.args.fires == "minute":
            return {"cron": f"{i % 60} * * * * *"}
        return {"cron": f"{i % 60} {i // 60 % 60} * * * *"}

    async def run(self) -> None:
        n = self.count
        assert self.h.operator is not None and self.h.plane is not None
        empty = Sampler({"operator": self.h.operator.pid}).start()
        await asyncio.sleep(5)
        await empty.stop()
        baseline = sum(empty.usage["operator"].rss) / max(1, len(empty.usage["operator"].rss))
        self.report.add("operator RSS, no resources (after /readyz)", f"{baseline:.0f} MiB")
        self.h.operator.send_signal(signal.SIGTERM)
        await asyncio.to_thread(self.h.operator.wait, 60)

        say(f"creating {n:,} resources (no operator running)")
        took = await self.create_all(self.body(i, self.schedule(i)) for i in range(n))
        self.report.add(
            f"create (POST, {CREATE_CONCURRENCY} in flight, no operator)", f"{took:.1f} s = {n / took:.0f}/s"
        )
        self.report.load.append(f"before the start: {load_average()}")

        instance, port = f"{self.h.instance}-2", free_port()
        started = time.time()
        process = self.h.spawn_operator(instance, port, log="operator-2", wait=False)
        self.h.operator, self.h.operator_port, self.h.instance = process, port, instance
        say(f"operator {instance} pid {process.pid} started")
        sampler = Sampler(self.h.pids()).start()
        deadline = started + 300 + n / 20
        probe = asyncio.create_task(self.probe(started, deadline))
        ok, planned = await self.wait_all(
            lambda item: bool((item.get("status") or {}).get("nextRunTime")),
            "planned (nextRunTime)",
            deadline,
            max(2.0, n / 2000),
        )
        planned_at = time.time() - started
        self.milestones.setdefault("planned", planned_at)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(probe, max(1.0, deadline - time.time()))
        await sampler.stop()
        at_planned = await self.metrics()
        self.report.load.append(f"all planned: {load_average()}")

        interval = f"LIST every {max(2.0, n / 2000):.0f} s"
        for key, figure in (
            ("ready", "start → /readyz (every resource listed)"),
            ("book", f"start → cronwright_schedule_book_size = {n:,}"),
            ("shards", f"start → holds all {SHARDS} shards"),
        ):
            value = self.milestones.get(key)
            self.report.add(figure, f"{value:.1f} s" if value is not None else "not reached")
        self.report.add(
            f"start → every status has nextRunTime ({interval})",
            f"{planned_at:.1f} s" if ok else f"{planned:,} of {n:,} after {planned_at:.0f} s",
        )
        op = sampler.usage["operator"]
        self.report.add("operator CPU / RSS during start-up", f"{op.cpu_text()} / {op.rss_text()}")
        others = ", ".join(
            f"{name} {sum(u.cpu) / len(u.cpu):.0f}%"
            for name, u in sampler.usage.items()
            if name != "operator" and u.cpu
        )
        self.report.add("other processes during start-up, mean CPU", others)
        writes = metric_sum(at_planned, "cronwright_api_write_seconds_count")
        self.report.add("status writes until all planned", f"{writes:,.0f}")

        say(f"all planned after {planned_at:.1f} s; RSS over {self.args.settle} s")
        settle = Sampler({"operator": process.pid}).start()
        await asyncio.sleep(self.args.settle)
        await settle.stop()
        rss = settle.usage["operator"]
        self.report.add(
            f"operator CPU / RSS over the next {self.args.settle} s", f"{rss.cpu_text()} / {rss.rss_text()}"
        )
        if rss.rss:
            mean = sum(rss.rss) / len(rss.rss)
            per = (mean - baseline) / n * 1024
            self.report.add("RSS per resource ((settled mean - no resources) / N)", f"{per:.1f} KiB")
            per_start = planned_at / n * 1000
            self.report.add("start-up per resource (all planned / N)", f"{per_start:.2f} ms")
            self.report.add(
                f"linear extrapolation to {EXTRAPOLATE_TO:,}",
                f"RSS ≈ {baseline + per * EXTRAPOLATE_TO / 1024:.0f} MiB, "
                f"all planned after ≈ {per_start * EXTRAPOLATE_TO / 1000:.0f} s",
            )
        book = metric_sum(await self.metrics(), "cronwright_schedule_book_size")
        self.report.add("book size at end", f"{book:,.0f}")

    async def probe(self, started: float, deadline: float) -> None:
        """Times of /readyz, full book and all shards held, polled every 0.25 s."""
        url = f"http://{LOOPBACK}:{self.h.operator_port}"
        while time.time() < deadline and len(self.milestones.keys() & {"ready", "book", "shards"}) < 3:
            with contextlib.suppress(httpx.HTTPError):
                if (
                    "ready" not in self.milestones
                    and (await self.local.get(f"{url}/readyz")).status_code == 200
                ):
                    self.milestones["ready"] = time.time() - started
                metrics = await self.metrics()
                if (
                    "book" not in self.milestones
                    and metric_sum(metrics, "cronwright_schedule_book_size") >= self.count
                ):
                    self.milestones["book"] = time.time() - started
                if (
                    "shards" not in self.milestones
                    and metric_sum(metrics, "cronwright_shards_held") >= SHARDS
                ):
                    self.milestones["shards"] = time.time() - started
            await asyncio.sleep(0.25)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench_startup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--count", type=int, default=10000, help="resources to create")
    root.add_argument(
        "--fires", choices=["hour", "minute"], default="hour", help="each resource fires once per"
    )
    root.add_argument("--settle", type=int, default=60, help="seconds of RSS sampling after all are planned")
    root.add_argument(
        "--write-doc", action="store_true", help=f"write the result into {DOC.relative_to(REPO)}"
    )
    return root


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    args.shape = "start-up"
    signal.signal(signal.SIGTERM, _interrupt)
    command = " ".join([".venv/bin/python -m tests.benchmarks.bench_startup", *argv])
    harness = Harness(None)
    try:
        harness.start()
        report = asyncio.run(_measure(harness, args, command))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if harness.operator is not None and harness.operator.poll() is not None:
            say(f"the operator exited early ({harness.operator.returncode}):\n{harness.tail('operator-2')}")
        harness.stop()
    print(report.text())
    if args.write_doc:
        write_doc(report)
    return 0


async def _measure(harness: Harness, args: argparse.Namespace, command: str) -> Report:
    bench = StartupBench(harness, args, command)
    try:
        await bench.run()
    finally:
        await bench.close()
    for log in ("operator", "operator-2"):
        log_findings(bench.report, harness.tail(log, 1_000_000), log)
    return bench.report


if __name__ == "__main__":
    sys.exit(main())
