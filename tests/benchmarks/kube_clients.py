"""One timed measurement of one Kubernetes client, in a process of its own.

The client under test is cronwright's own (``cronwright.core.kube.Kube``), lightkube or
kr8s, each doing the API work the operator and the facade do, the way that library is
meant to be used:

- **write**: the operator's status write, a JSON merge-patch of ``/status`` made
  conditional by ``metadata.resourceVersion`` in the body. cronwright: ``Kube.merge_patch`` on the
  status ref, as the operator's writer does;
  lightkube: ``AsyncClient.patch(Resource.Status, ..., patch_type=PatchType.MERGE)`` on a
  ``create_namespaced_resource`` class; kr8s: ``APIObject.patch(..., subresource="status")``
  (merge-patch is its default) on a ``new_class`` object built from the listed item, as the
  operator builds its entries from what it watched.
- **list + watch**: the facade's cache start: list every CronJobSpec of the cluster, then
  watch from the list's resourceVersion. cronwright lists unpaged (``api/store.py``);
  lightkube lists unpaged too (``chunk_size=None``); kr8s's ``get`` always pages by 100 and
  hides the list's resourceVersion, so its watch starts at the newest item's, which is
  the same point for this one resource type.

``bench_kube_clients`` runs this module once per (client, shape, repetition), so no client
inherits another's heap, connection pool or imports; this process prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any, Protocol

from cronwright.core import models
from cronwright.core.kube import Kube, load_credentials, refs
from cronwright.core.runs import rfc3339
from tests.benchmarks.bench_operator import percentile, rss_mib

WRITE_CONCURRENCY = 16
"""The operator's status writes in flight: Scheduler's max_concurrent_writes, equal to its
API client's pooled connections (operator/main.py: Kube(max_connections=16))."""
ALL_CRONJOBSPECS = refs.cronjobspec()

Item = dict[str, Any]


class Client(Protocol):
    async def listed(self, namespace: str) -> list[Any]:
        """The namespace's CronJobSpecs, each as this library hands them to a writer."""

    async def write(self, obj: Any, status: dict[str, Any]) -> None:
        """Conditional merge-patch of obj's status, at the resourceVersion obj was read at."""

    async def list_all(self) -> tuple[list[Any], str]:
        """Every CronJobSpec of the cluster, and the resourceVersion to watch from."""

    async def watch(self, since: str, modified: int) -> None:
        """Watch from `since` until `modified` MODIFIED events arrived."""

    async def close(self) -> None: ...


async def until_modified(events: AsyncGenerator[tuple[str, Any]], modified: int) -> None:
    """Consume a library's (type, object) watch stream until `modified` MODIFIED events, then close it."""
    try:
        async for kind, _ in events:
            if kind == "MODIFIED":
                modified -= 1
                if not modified:
                    return
    finally:
        await events.aclose()
    raise RuntimeError(f"the watch ended {modified} events short")


class Current:
    """cronwright.core.kube.Kube, as the operator writes and the facade lists and watches."""

    def __init__(self, kubeconfig: str) -> None:
        self.kube = Kube(load_credentials(kubeconfig), max_connections=WRITE_CONCURRENCY)

    async def listed(self, namespace: str) -> list[Item]:
        return (await self.kube.get(refs.cronjobspec(namespace)))["items"]

    async def write(self, obj: Item, status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        body: dict[str, Any] = {"status": status}
        if meta["resourceVersion"]:  # None: unconditional (`modify`)
            body["metadata"] = {"resourceVersion": meta["resourceVersion"]}
        await self.kube.merge_patch(refs.cronjobspec(meta["namespace"], meta["name"]).status, body)

    async def list_all(self) -> tuple[list[Item], str]:
        listed = await self.kube.get(ALL_CRONJOBSPECS)
        return listed["items"], listed["metadata"]["resourceVersion"]

    async def watch(self, since: str, modified: int) -> None:
        async for event in self.kube.watch(ALL_CRONJOBSPECS, since):
            if event["type"] == "MODIFIED":
                modified -= 1
                if not modified:
                    return
        raise RuntimeError(f"the watch ended {modified} events short")

    async def close(self) -> None:
        await self.kube.close()


class Lightkube:
    """lightkube.AsyncClient with a generic resource for the CRD."""

    def __init__(self, kubeconfig: str) -> None:
        from lightkube import AsyncClient, KubeConfig
        from lightkube.generic_resource import create_namespaced_resource

        self.client = AsyncClient(KubeConfig.from_file(kubeconfig), trust_env=False)
        self.resource = create_namespaced_resource(models.GROUP, models.VERSION, models.KIND, models.PLURAL)

    async def listed(self, namespace: str) -> list[Any]:
        return [obj async for obj in self.client.list(self.resource, namespace=namespace)]

    async def write(self, obj: Any, status: dict[str, Any]) -> None:
        from lightkube.types import PatchType

        meta = obj["metadata"]
        await self.client.patch(
            self.resource.Status,
            meta["name"],
            {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status},
            namespace=meta["namespace"],
            patch_type=PatchType.MERGE,
        )

    async def list_all(self) -> tuple[list[Any], str]:
        listing = self.client.list(self.resource, namespace="*")
        items = [obj async for obj in listing]
        return items, listing.resourceVersion

    async def watch(self, since: str, modified: int) -> None:
        await until_modified(
            self.client.watch(self.resource, namespace="*", resource_version=since), modified
        )

    async def close(self) -> None:
        await self.client.close()


class Kr8s:
    """kr8s's asyncio API with a new_class for the CRD."""

    def __init__(self, kubeconfig: str) -> None:
        from kr8s.asyncio.objects import new_class

        self.kubeconfig = kubeconfig
        self.resource = new_class(
            models.KIND, version=models.API_VERSION, namespaced=True, plural=models.PLURAL, asyncio=True
        )
        self.api: Any = None

    async def connect(self) -> Kr8s:
        import kr8s.asyncio

        self.api = await kr8s.asyncio.api(kubeconfig=self.kubeconfig)
        return self

    async def listed(self, namespace: str) -> list[Any]:
        return [obj async for obj in self.api.get(self.resource, namespace=namespace)]

    async def write(self, obj: Any, status: dict[str, Any]) -> None:
        await obj.patch(
            {"metadata": {"resourceVersion": obj.metadata.resourceVersion}, "status": status},
            subresource="status",
        )

    async def list_all(self) -> tuple[list[Any], str]:
        import kr8s

        items = [obj async for obj in self.api.get(self.resource, namespace=kr8s.ALL)]
        return items, str(max(int(obj.metadata.resourceVersion) for obj in items))

    async def watch(self, since: str, modified: int) -> None:
        import kr8s

        await until_modified(self.api.watch(self.resource, namespace=kr8s.ALL, since=since), modified)

    async def close(self) -> None:
        """kr8s has no public close (its Api objects are cached per event loop); the process ends."""


CLIENTS = ("current", "lightkube", "kr8s")


async def connect(name: str, kubeconfig: str) -> Client:
    if name == "current":
        return Current(kubeconfig)
    try:
        if name == "lightkube":
            return Lightkube(kubeconfig)
        return await Kr8s(kubeconfig).connect()
    except ImportError as error:
        raise SystemExit(f"{error}: install the benchmark's extra with pip install -e '.[bench]'") from None


def status() -> dict[str, Any]:
    """A small status write, new each time so every patch is a real write (the figures in
    docs/benchmarks.md were taken with the claim the operator wrote then, the same size)."""
    return {"nextRunTime": rfc3339(datetime.now(UTC)), "lastTrigger": uuid.uuid4().hex}


async def bounded(gate: asyncio.Semaphore, client: Client, obj: Any) -> None:
    async with gate:
        await client.write(obj, status())


async def burst(client: Client, args: argparse.Namespace) -> dict[str, float]:
    """Every resource's status written at once, WRITE_CONCURRENCY in flight."""
    objs = await client.listed(args.namespace)
    gate = asyncio.Semaphore(WRITE_CONCURRENCY)
    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(bounded(gate, client, obj) for obj in objs))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"wall_s": wall, "writes_per_s": len(objs) / wall, "cpu_s_per_1000": cpu / len(objs) * 1000}


async def steady(client: Client, args: argparse.Namespace) -> dict[str, float]:
    """One write per resource, started evenly over the window; latency includes queueing."""
    objs = await client.listed(args.namespace)
    gate = asyncio.Semaphore(WRITE_CONCURRENCY)
    samples: list[float] = []

    async def timed(obj: Any) -> None:
        started = time.perf_counter()
        await bounded(gate, client, obj)
        samples.append((time.perf_counter() - started) * 1000)

    interval = args.seconds / len(objs)
    tasks = []
    cpu, origin = time.process_time(), time.perf_counter()
    for i, obj in enumerate(objs):
        await asyncio.sleep(max(0.0, origin + i * interval - time.perf_counter()))
        tasks.append(asyncio.create_task(timed(obj)))
    await asyncio.gather(*tasks)
    cpu = time.process_time() - cpu
    samples.sort()
    return {
        "p50_ms": percentile(samples, 0.50),
        "p99_ms": percentile(samples, 0.99),
        "cpu_s_per_1000": cpu / len(objs) * 1000,
        "rate_per_s": len(objs) / (time.perf_counter() - origin),
    }


async def list_and_watch(client: Client, args: argparse.Namespace) -> dict[str, float]:
    """Time the list of everything, then the watch of `--modified` later changes.

    The changes are made between the two by cronwright's client (not timed, not counted
    in this client's CPU), so the watch replays them from the API server's watch cache as
    fast as this client can take them: events/s measures the client, not a writer's pace.
    """
    await client.listed(args.namespace)  # warm up: connections, imports, decoders
    rss_before = rss_mib(os.getpid()) or 0.0
    cpu, started = time.process_time(), time.perf_counter()
    items, since = await client.list_all()
    listed_s, list_cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_growth = (rss_mib(os.getpid()) or 0.0) - rss_before
    await modify(args.kubeconfig, args.namespace, args.modified)
    cpu, started = time.process_time(), time.perf_counter()
    await client.watch(since, args.modified)
    watched_s, watch_cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "objects": len(items),
        "list_s": listed_s,
        "list_cpu_s": list_cpu,
        "rss_growth_mib": rss_growth,
        "events_per_s": args.modified / watched_s,
        "watch_cpu_s_per_1000": watch_cpu / args.modified * 1000,
    }


async def modify(kubeconfig: str, namespace: str, count: int) -> None:
    """Unconditional status writes to `count` of the namespace's CronJobSpecs."""
    writer = Current(kubeconfig)
    try:
        objs = (await writer.listed(namespace))[:count]
        if len(objs) < count:
            raise RuntimeError(f"{namespace} has {len(objs)} CronJobSpecs, {count} needed")
        for obj in objs:
            obj["metadata"]["resourceVersion"] = None
        gate = asyncio.Semaphore(WRITE_CONCURRENCY)
        await asyncio.gather(*(bounded(gate, writer, obj) for obj in objs))
    finally:
        await writer.close()


SHAPES = {"burst": burst, "steady": steady, "watch": list_and_watch}


async def measure(args: argparse.Namespace) -> dict[str, float]:
    client = await connect(args.client, args.kubeconfig)
    try:
        return await SHAPES[args.shape](client, args)
    finally:
        await client.close()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m tests.benchmarks.kube_clients", description=__doc__)
    root.add_argument("client", choices=CLIENTS)
    root.add_argument("shape", choices=sorted(SHAPES))
    root.add_argument("--kubeconfig", required=True)
    root.add_argument("--namespace", required=True, help="the CronJobSpecs written")
    root.add_argument("--seconds", type=float, default=20.0, help="steady: the window the writes spread over")
    root.add_argument("--modified", type=int, default=1000, help="watch: the changes watched")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    print(json.dumps(asyncio.run(measure(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
