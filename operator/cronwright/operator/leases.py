"""Which operator instances are alive: one coordination.k8s.io Lease per instance.

The live instances divide the shards among themselves (shard_leases.py): each reads the
others' instance Leases to compute its fair share. Holding its own Lease also keeps two
processes started with the same instance id from both believing a shard Lease naming that
id is theirs: the second refuses to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cronwright.core.kube import ApiError, Conflict, Kube, refs
from cronwright.core.runs import parse_time

log = logging.getLogger(__name__)

LEASE_SECONDS = 15
RENEW_EVERY = 5.0
INSTANCE_LABELS = {"app.kubernetes.io/name": "cronwright", "app.kubernetes.io/component": "operator-instance"}
#: The instance id, as shard Leases name their holder (the Lease name is lower-cased).
INSTANCE_ANNOTATION = "cronwright.io/instance"


def lease_name(instance: str) -> str:
    return f"cronwright-op-{instance}".lower()[:253]


def micro(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_alive(lease: dict[str, Any], now: datetime) -> bool:
    spec = lease.get("spec") or {}
    renewed = parse_time(spec.get("renewTime"))
    if renewed is None:
        return False
    return renewed + timedelta(seconds=spec.get("leaseDurationSeconds") or LEASE_SECONDS) > now


class InstanceLease:
    """This process's Lease, renewed in the background; released on clean shutdown."""

    def __init__(self, kube: Kube, namespace: str, instance: str) -> None:
        self._kube = kube
        self._leases = refs.lease(namespace)
        self._instance = instance
        self._name = lease_name(instance)
        self._ref = self._leases.named(self._name)
        self._nonce = uuid.uuid4().hex  # tells this process from another with the same instance id
        self._task: asyncio.Task[None] | None = None

    def _body(self, resource_version: str | None = None) -> dict[str, Any]:
        now = datetime.now(UTC)
        meta: dict[str, Any] = {
            "name": self._name,
            "labels": INSTANCE_LABELS,
            "annotations": {INSTANCE_ANNOTATION: self._instance},
        }
        if resource_version:
            meta["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": self._nonce,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": micro(now),
                "acquireTime": micro(now),
            },
        }

    async def acquire(self, wait: float = LEASE_SECONDS + 5) -> None:
        """Take this instance's Lease, waiting out a stale holder; refuse a live one."""
        deadline = time.monotonic() + wait
        while True:
            try:
                await self._kube.create(self._leases, self._body())
                break
            except Conflict:
                pass
            current = await self._kube.get(self._ref)
            if current["spec"].get("holderIdentity") == self._nonce or not lease_alive(
                current, datetime.now(UTC)
            ):
                await self._kube.replace(self._ref, self._body(current["metadata"]["resourceVersion"]))
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"another live operator process holds lease {self._name}: "
                    "give each process its own --instance"
                )
            await asyncio.sleep(1)
        self._task = asyncio.create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                current = await self._kube.get(self._ref)
                await self._kube.replace(self._ref, self._body(current["metadata"]["resourceVersion"]))
            except Exception as error:
                log.warning("lease renewal failed", extra={"error": str(error)})

    async def release(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(ApiError, OSError):
            await self._kube.delete(self._ref)
