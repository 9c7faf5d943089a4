"""CPU per request of the run client alone: make_client's transport against the receiver.

Run by hand, never by pytest::

    .venv/bin/python -m tests.benchmarks.bench_http_client --requests 3000 --in-flight 128 --pools 1 32

Starts the loopback receiver of bench_operator in its own process, warms the client with
one request per worker, then has ``--in-flight`` workers send ``--requests`` POSTs through
``http_executor.execute`` and prints this process's CPU time per request, the wall time
and the latency p99/max, once per ``--pools`` value (the transport's number of httpcore
pools for the same 128 connections).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

import httpx

from cronwright.operator.http_executor import HttpRequestPlan, execute
from cronwright.operator.ssrf import GuardedBackend, GuardedTransport, Policy
from tests.benchmarks.bench_operator import LOOPBACK, free_port


def plan(port: int, i: int) -> HttpRequestPlan:
    return HttpRequestPlan(
        method="POST",
        url=f"http://{LOOPBACK}:{port}/hook/r{i}",
        headers={},
        body=None,
        timeout_seconds=10,
        expected_status_codes=None,
        idempotency_key=f"k{i}",
        signing_key=None,
        signing_header="X-Signature",
        retry_limit=0,
        backoff_seconds=1,
        max_backoff_seconds=1,
    )


async def measure(port: int, requests: int, in_flight: int, pools: int, connections: int) -> str:
    transport = GuardedTransport(GuardedBackend(Policy()), httpx.Limits(max_connections=connections), pools)
    async with httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False) as client:
        await asyncio.gather(*(execute(client, plan(port, i)) for i in range(in_flight)))
        pending = iter(range(requests))
        latencies: list[float] = []
        errors = 0

        async def worker() -> None:
            nonlocal errors
            for i in pending:
                start = time.perf_counter()
                outcome = await execute(client, plan(port, i))
                latencies.append(time.perf_counter() - start)
                errors += not outcome.succeeded

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    return (
        f"pools={pools:<3} {connections // pools} connections each: "
        f"CPU {1e6 * cpu / requests:.0f} µs/request, wall {wall:.2f} s, "
        f"latency p99 {p99 * 1000:.0f} ms max {latencies[-1] * 1000:.0f} ms, errors {errors}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=128)
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--pools", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args()
    port = free_port()
    command = [sys.executable, "-m", "tests.benchmarks.bench_operator", "receiver", "--port", str(port)]
    receiver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://{LOOPBACK}:{port}/_count", trust_env=False)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for pools in args.pools:
            print(
                asyncio.run(measure(port, args.requests, args.in_flight, pools, args.connections)), flush=True
            )
    finally:
        receiver.terminate()
        receiver.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
