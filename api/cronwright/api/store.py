"""CronJobSpecs for the facade: reads from a watch-backed cache, writes to the API server.

Every dialect reads through here, so a GET never costs an API round trip. Each write's
answer goes into the cache at once (newest resourceVersion wins, deletions leave a
tombstone), so a client always reads its own writes even before the watch catches up.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from cronwright.core import models
from cronwright.core.kube import Kube, ListWatch, NotFound, Retry, refs, resource_version, update

CONFLICT_RETRIES = 5
#: An API server still warming up (429, 5xx, refused connections) is waited for at start.
STARTUP = Retry(attempts=30, cap=5.0)


def uid_of(obj: dict[str, Any]) -> str:
    return obj["metadata"]["uid"]


def _order_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    """Where an object stands in its namespace's listing (oldest first; lists read it
    backwards). Creation time and name never change, so an object never moves."""
    meta = obj["metadata"]
    return meta.get("creationTimestamp", ""), meta["name"], meta["uid"]


class Store:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._by_uid: dict[str, dict[str, Any]] = {}
        self._names: dict[tuple[str, str], str] = {}
        #: Per namespace, the order lists are given in, kept as objects come and go: a list
        #: request then costs its own namespace's filter, not a sort of every tenant's jobs.
        self._ordered: dict[str, list[tuple[str, str, str]]] = {}
        self._tombstones: set[str] = set()
        self._watch = ListWatch(kube, refs.cronjobspec(), self._relisted, self.apply)
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        #: When the API server last told the cache anything (a list, or a watch event of any
        #: type, bookmarks included; time.monotonic()): how stale the cache may be (/metrics).
        self.last_heard: float | None = None
        #: Watch events applied, by type (ADDED, MODIFIED, DELETED, BOOKMARK).
        self.events: Counter[str] = Counter()

    def size(self) -> int:
        """CronJobSpecs in the cache, every namespace."""
        return len(self._by_uid)

    # -- cache ----------------------------------------------------------------------

    def _put(self, obj: dict[str, Any]) -> None:
        uid = uid_of(obj)
        if uid in self._tombstones:
            return
        current = self._by_uid.get(uid)
        if current is not None and resource_version(current) > resource_version(obj):
            return
        self._by_uid[uid] = obj
        meta = obj["metadata"]
        self._names[(meta["namespace"], meta["name"])] = uid
        if current is None:
            bisect.insort(self._ordered.setdefault(meta["namespace"], []), _order_key(obj))

    def _drop(self, obj: dict[str, Any]) -> None:
        uid = uid_of(obj)
        self._tombstones.add(uid)
        current = self._by_uid.pop(uid, None)
        meta = obj["metadata"]
        if current is not None:
            ordered = self._ordered.get(meta["namespace"], [])
            key = _order_key(current)
            at = bisect.bisect_left(ordered, key)
            if at < len(ordered) and ordered[at] == key:
                del ordered[at]
        if self._names.get((meta["namespace"], meta["name"])) == uid:
            del self._names[(meta["namespace"], meta["name"])]

    def list(
        self, namespace: str, keep: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> list[dict[str, Any]]:
        """Newest first, as the documented APIs list."""
        by_uid = self._by_uid
        return [obj for _, _, uid in reversed(self._ordered.get(namespace, ())) if keep(obj := by_uid[uid])]

    def get_by_uid(self, namespace: str, uid: str) -> dict[str, Any] | None:
        obj = self._by_uid.get(uid)
        if obj is None or obj["metadata"]["namespace"] != namespace:
            return None  # another tenant's job does not exist for this caller
        return obj

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        uid = self._names.get((namespace, name))
        return self._by_uid.get(uid) if uid else None

    # -- writes ---------------------------------------------------------------------

    async def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        created = await self.kube.create(refs.cronjobspec(namespace), body)
        self._put(created)
        return created

    async def update(
        self, namespace: str, uid: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Merge-patch computed from the current object, conditional on its resourceVersion;
        recomputed from a fresh read on conflict. None when the object is gone."""
        cached = self.get_by_uid(namespace, uid)
        if cached is None:
            return None
        ref = refs.cronjobspec(namespace, cached["metadata"]["name"])

        async def read() -> dict[str, Any] | None:
            obj = await self.kube.get(ref)
            if uid_of(obj) != uid:
                return None  # deleted, and its name taken by another object since
            self._put(obj)
            return obj

        async def write(patch: dict[str, Any]) -> dict[str, Any]:
            written: dict[str, Any] = await self.kube.merge_patch(ref, patch)
            self._put(written)
            return written

        done = await update(
            change,
            write,
            read,
            cached=lambda: self.get_by_uid(namespace, uid),
            attempts=CONFLICT_RETRIES,
            what="the job",
        )
        if done is None:
            self._drop(cached)
            return None
        return done.obj

    async def delete(self, namespace: str, uid: str) -> bool:
        obj = self.get_by_uid(namespace, uid)
        if obj is None:
            return False
        name = obj["metadata"]["name"]
        with contextlib.suppress(NotFound):
            await self.kube.delete(refs.cronjobspec(namespace, name), preconditions={"uid": uid})
        self._drop(obj)
        return True

    # -- watch ----------------------------------------------------------------------

    async def start(self) -> None:
        """List once before serving, then follow the watch in the background."""
        await STARTUP.call(self._watch.list, "listing CronJobSpecs")
        self.ready.set()
        self._task = asyncio.create_task(self._watch.watch())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _relisted(self, items: list[dict[str, Any]]) -> None:
        self._tombstones.clear()  # a fresh list is the whole truth
        seen = set()
        for item in items:
            item.setdefault("apiVersion", models.API_VERSION)
            item.setdefault("kind", models.KIND)
            self._put(item)
            seen.add(uid_of(item))
        for uid in set(self._by_uid) - seen:
            self._drop(self._by_uid[uid])
        self.last_heard = time.monotonic()

    def apply(self, event: dict[str, Any]) -> None:
        """One watch event (ADDED, MODIFIED, DELETED or BOOKMARK) into the cache: the only way
        objects from the API server enter it, so tests feed it the same way."""
        kind, obj = str(event.get("type")), event.get("object") or {}
        self.last_heard = time.monotonic()
        self.events[kind] += 1
        if kind == "BOOKMARK":
            return
        if kind == "DELETED":
            self._drop(obj)
        else:
            self._put(obj)
