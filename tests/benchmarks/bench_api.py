"""Facade latency: GET one job and list 100 jobs with N jobs stored, over real HTTP.

Run by hand (not collected by pytest):

    .venv/bin/python -m tests.benchmarks.bench_api --count 1000 --write-doc

It starts its own control plane and `cronwright api`, stores N a1base jobs in one tenant
(through the API server directly, so creation time is not what is measured), then for
each endpoint measures latency one request at a time (p50/p99 of --requests calls) and
throughput with --concurrency clients for --seconds. The key used has a rate limit far
above what is measured, so 429s cannot flatter the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from cronwright.core.controlplane.cluster import ControlPlane
from cronwright.core.kube import Kube, load_credentials, refs
from tests.benchmarks.bench_operator import Report, load_average, percentile, say, write_doc
from tests.support.api_process import ApiProcess

NAMESPACE = "bench-api"
TARGETS = {"get": 10.0, "list": 30.0}


def job(i: int) -> dict:
    return {
        "apiVersion": "cronwright.io/v1alpha1",
        "kind": "CronJobSpec",
        "metadata": {"name": f"job-{i:05d}", "labels": {"cronwright.io/dialect": "a1base"}},
        "spec": {
            "schedule": {
                "frequency": "daily",
                "time": f"{i % 24:02d}:{i % 60:02d}",
                "timeZone": "Europe/Paris",
            },
            "http": {"url": f"http://127.0.0.1:9/hook/{i}", "method": "POST", "body": {"n": i}},
        },
    }


async def store_jobs(kubeconfig: Path, count: int, namespace: str = NAMESPACE) -> None:
    kube = Kube(load_credentials(str(kubeconfig)))
    try:
        await kube.create(
            "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        gate = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with gate:
                await kube.create(refs.cronjobspec(namespace), job(i))

        await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        await kube.close()


async def latency(client: httpx.AsyncClient, path: str, requests: int) -> list[float]:
    for _ in range(50):  # warm up connections and caches
        (await client.get(path)).raise_for_status()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return sorted(samples)


async def throughput(client: httpx.AsyncClient, path: str, concurrency: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            (await client.get(path)).raise_for_status()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def measure(api: ApiProcess, key: str, args: argparse.Namespace, report: Report) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as client:
        listed = (await client.get("/v1/cron-jobs", params={"limit": 1})).json()
        if listed["meta"]["total"] != args.count:
            raise RuntimeError(f"the facade lists {listed['meta']['total']} jobs, expected {args.count}")
        one = listed["data"][0]["id"]
        for name, path in (("get", f"/v1/cron-jobs/{one}"), ("list", "/v1/cron-jobs?limit=100&offset=0")):
            label = "GET one job" if name == "get" else "list 100 jobs"
            samples = await latency(client, path, args.requests)
            p50, p99 = percentile(samples, 0.50), percentile(samples, 0.99)
            report.add(
                f"{label}: p50 / p99 / max (sequential, n={len(samples)})",
                f"{p50:.1f} / {p99:.1f} / {samples[-1]:.1f} ms",
                f"p99 ≤ {TARGETS[name]:.0f} ms",
                p99 <= TARGETS[name],
            )
            rate = await throughput(client, path, args.concurrency, args.seconds)
            report.add(f"{label}: requests/s ({args.concurrency} concurrent clients)", f"{rate:,.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_api", description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="jobs stored")
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--write-doc", action="store_true", help="record the figures in docs/benchmarks.md")
    args = parser.parse_args(argv)
    command = ".venv/bin/python -m tests.benchmarks.bench_api " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    report = Report("facade", args.count, command.strip(), datetime.now(UTC))
    with tempfile.TemporaryDirectory() as tmp, ControlPlane() as plane:
        say(f"storing {args.count} jobs ...")
        asyncio.run(store_jobs(plane.kubeconfig, args.count))
        api = ApiProcess(plane.kubeconfig, "bench-keys", Path(tmp) / "api.log").start()
        try:
            key = api.new_key(NAMESPACE, rate_per_second=1_000_000, rate_burst=1_000_000)
            report.load.append(f"at start: {load_average()}")
            asyncio.run(measure(api, key, args, report))
            report.load.append(f"at end: {load_average()}")
        finally:
            api.stop()
    print(report.text())
    if args.write_doc:
        write_doc(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
