"""asta's numeric ids and unique names, decided by the API server rather than by a cache.

Several facade replicas may create jobs for one tenant at the same moment, so neither "the
next id" nor "is this name free" can be answered from a replica's own memory. One ConfigMap
per tenant namespace (`cronwright-asta-registry`) holds the id counter and a reservation per
job name; every change to it is a write conditional on its resourceVersion, so of two
concurrent writers exactly one wins and the other decides again from the fresh object.

A reservation that outlives its job (the job was deleted with kubectl, or a facade died
between reserving and creating) is reclaimed: once it is older than `GRACE_SECONDS`, a
name whose holder no longer exists, or no longer carries that name, is free again. The
grace period covers the short window in which another replica has reserved a name and is
still creating its job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cronwright.api.errors import missing_namespace
from cronwright.core.kube import Conflict, Kube, NotFound, refs

log = logging.getLogger(__name__)

REGISTRY_NAME = "cronwright-asta-registry"
GRACE_SECONDS = 30.0
#: Concurrent creates queue on one object; each round lets one writer through.
WRITE_ATTEMPTS = 200
#: Someone wrote the registry in between, or deleted it: read again and redo. A NotFound
#: naming the namespace is no race (`_raise_unless_lost_race`).
LOST_RACE = (NotFound, Conflict)


class NameTaken(Exception):
    """The name is held by another job (or is being created by another request)."""

    def __init__(self, name: str, holder: int) -> None:
        super().__init__(name)
        self.name = name
        self.holder = holder


class RegistryBusy(Exception):
    """Too many concurrent writers for the attempts allowed; the client should retry."""


@dataclass(frozen=True)
class Reservation:
    job_id: int
    at: float


@dataclass(frozen=True)
class Registry:
    next_id: int = 1
    names: dict[str, Reservation] = field(default_factory=dict)
    resource_version: str | None = None


# -- pure decisions ----------------------------------------------------------------------


def decode(configmap: dict[str, Any] | None) -> Registry:
    if configmap is None:
        return Registry()
    data = configmap.get("data") or {}
    try:
        raw = json.loads(data.get("names") or "{}")
        names = {name: Reservation(int(v[0]), float(v[1])) for name, v in raw.items()}
        next_id = max(1, int(data.get("next-id") or 1))
    except (ValueError, TypeError, IndexError, KeyError):
        # A hand-edited registry that cannot be read is rebuilt: the jobs remain the truth.
        log.warning("unreadable %s; starting it afresh", REGISTRY_NAME)
        names, next_id = {}, 1
    return Registry(next_id, names, configmap["metadata"].get("resourceVersion"))


def encode(registry: Registry) -> dict[str, str]:
    names = {name: [r.job_id, round(r.at, 3)] for name, r in sorted(registry.names.items())}
    return {"next-id": str(registry.next_id), "names": json.dumps(names, separators=(",", ":"))}


def holder_to_check(registry: Registry, name: str, ours: set[int]) -> Reservation | None:
    """The reservation that stands between `name` and the caller, if any.

    None: the name is free or already the caller's. A reservation younger than the grace
    period is returned too: its job may still be on its way to the API server.
    """
    held = registry.names.get(name)
    if held is None or held.job_id in ours:
        return None
    return held


def is_stale(held: Reservation, holder_alive: bool, now: float) -> bool:
    return not holder_alive and now - held.at >= GRACE_SECONDS


def with_reservation(registry: Registry, name: str, job_id: int | None, floor: int, now: float) -> Registry:
    """`registry` with `name` reserved for `job_id`, or for a newly allocated id when None.

    `floor` is one above the highest id already in use as far as the caller knows, so a
    registry that was lost or reset never hands out an id of a job that still exists.
    """
    next_id = max(registry.next_id, floor)
    if job_id is None:
        job_id, next_id = next_id, next_id + 1
    names = {**registry.names, name: Reservation(job_id, now)}
    return replace(registry, next_id=max(next_id, job_id + 1), names=names)


def without_reservation(registry: Registry, name: str, job_id: int) -> Registry | None:
    """`registry` with `name` released, or None when it is not held by `job_id` (nothing to do)."""
    held = registry.names.get(name)
    if held is None or held.job_id != job_id:
        return None
    return replace(registry, names={n: r for n, r in registry.names.items() if n != name})


# -- the ConfigMap (thin I/O) ------------------------------------------------------------


class Registries:
    """Reads and conditionally writes the registry of each tenant namespace."""

    def __init__(self, kube: Kube) -> None:
        self._kube = kube

    async def _read(self, namespace: str) -> Registry:
        try:
            return decode(await self._kube.get(refs.configmap(namespace, REGISTRY_NAME)))
        except NotFound:
            return Registry()

    async def _write(self, namespace: str, registry: Registry) -> None:
        """Create-if-absent or replace-if-unchanged; a Conflict means someone else won."""
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": REGISTRY_NAME,
                "labels": {"app.kubernetes.io/part-of": "cronwright", "cronwright.io/dialect": "asta"},
            },
            "data": encode(registry),
        }
        if registry.resource_version is None:
            await self._kube.create(refs.configmap(namespace), body)
        else:
            body["metadata"]["resourceVersion"] = registry.resource_version
            await self._kube.replace(refs.configmap(namespace, REGISTRY_NAME), body)

    async def reserve(
        self,
        namespace: str,
        name: str,
        holder_alive: Callable[[int, str], Awaitable[bool]],
        *,
        job_id: int | None = None,
        ours: set[int] | frozenset[int] = frozenset(),
        floor: int = 1,
    ) -> int:
        """Reserve `name` for `job_id` (a new id when None) and return the id.

        `ours` are ids whose reservations the caller may take over (its own earlier ones).
        Raises NameTaken when another live job, or a create in flight, holds the name.
        """
        mine = {*ours, *(() if job_id is None else (job_id,))}
        for attempt in range(WRITE_ATTEMPTS):
            registry = await self._read(namespace)
            now = time.time()
            held = holder_to_check(registry, name, mine)
            if held is not None and not is_stale(held, await holder_alive(held.job_id, name), now):
                raise NameTaken(name, held.job_id)
            updated = with_reservation(registry, name, job_id, floor, now)
            try:
                await self._write(namespace, updated)
            except LOST_RACE as error:
                _raise_unless_lost_race(error)
                await _pause(attempt)
                continue
            return updated.names[name].job_id
        raise RegistryBusy

    async def release(self, namespace: str, name: str, job_id: int) -> None:
        """Free `name` if `job_id` still holds it. Best effort: a reservation left behind
        is reclaimed later (see the module docstring), so a failure here is only logged."""
        try:
            for attempt in range(WRITE_ATTEMPTS):
                updated = without_reservation(await self._read(namespace), name, job_id)
                if updated is None:
                    return
                try:
                    await self._write(namespace, updated)
                    return
                except LOST_RACE as error:
                    _raise_unless_lost_race(error)
                    await _pause(attempt)
        except Exception as error:  # best effort, see the docstring
            log.warning("could not release an asta name in %s: %s", namespace, error)


def _raise_unless_lost_race(error: NotFound | Conflict) -> None:
    """Re-raise a 404 saying the tenant namespace itself does not exist (a key bound to a
    namespace nobody created, or one deleted since): no retry brings it back, and the
    facade's error handler answers it with a 403 naming the namespace."""
    if missing_namespace(error) is not None:
        raise error


async def _pause(attempt: int) -> None:
    """Jittered and growing, so writers that lost a round do not collide again in lockstep."""
    await asyncio.sleep(random.uniform(0, min(0.25, 0.005 * 2 ** min(attempt, 6))))
