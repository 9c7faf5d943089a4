"""CronJobSpecs for the facade: reads from a watch-backed cache, writes to the API server.

Every dialect reads through here, so a GET never costs an API round trip. Each write's
answer goes into the cache at once (newest resourceVersion wins, deletions leave a
tombstone), so a client always reads its own writes even before the watch catches up.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from cronwright.core import models
from cronwright.core.kube import CRD_PATH, ApiError, Kube, cronjobspec_path, resource_version, watch_events

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 5


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
        self._resource_version = ""
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
        created = await self.kube.create(cronjobspec_path(namespace), body)
        self._put(created)
        return created

    async def update(
        self, namespace: str, uid: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Merge-patch computed from the current object, conditional on its resourceVersion;
        recomputed from a fresh read on conflict. None when the object is gone."""
        obj = self.get_by_uid(namespace, uid)
        for _ in range(CONFLICT_RETRIES):
            if obj is None:
                return None
            patch = change(obj)
            if patch is None:
                return obj
            patch = {
                **patch,
                "metadata": {
                    **patch.get("metadata", {}),
                    "resourceVersion": obj["metadata"]["resourceVersion"],
                },
            }
            try:
                written = await self.kube.merge_patch(
                    cronjobspec_path(namespace, obj["metadata"]["name"]), patch
                )
            except ApiError as error:
                if error.status == 404:
                    self._drop(obj)
                    return None
                if error.status != 409:
                    raise
                obj = await self._read(namespace, obj["metadata"]["name"])
                continue
            self._put(written)
            return written
        raise ApiError(409, {"message": "the job kept changing; try again"})

    async def delete(self, namespace: str, uid: str) -> bool:
        obj = self.get_by_uid(namespace, uid)
        if obj is None:
            return False
        name = obj["metadata"]["name"]
        try:
            await self.kube.request(
                "DELETE", cronjobspec_path(namespace, name), body={"preconditions": {"uid": uid}}
            )
        except ApiError as error:
            if error.status != 404:
                raise
        self._drop(obj)
        return True

    async def _read(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj = await self.kube.get(cronjobspec_path(namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        self._put(obj)
        return obj

    # -- watch ----------------------------------------------------------------------

    async def start(self, attempts: int = 30) -> None:
        """List once before serving; an API server still warming up (429, 5xx, refused
        connections) is waited for, not fatal."""
        for attempt in range(1, attempts + 1):
            try:
                await self._relist()
                break
            except (ApiError, httpx.HTTPError) as error:
                if attempt == attempts or (
                    isinstance(error, ApiError) and error.status not in (429, 500, 503, 504)
                ):
                    raise
                log.warning("listing CronJobSpecs failed (%s); retrying", error)
                await asyncio.sleep(min(5.0, 0.2 * attempt))
        self.ready.set()
        self._task = asyncio.create_task(self._watch_forever())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _relist(self) -> None:
        listed = await self.kube.get(f"{CRD_PATH}/{models.PLURAL}")
        self._tombstones.clear()  # a fresh list is the whole truth
        seen = set()
        for item in listed.get("items", []):
            item.setdefault("apiVersion", models.API_VERSION)
            item.setdefault("kind", models.KIND)
            self._put(item)
            seen.add(uid_of(item))
        for uid in set(self._by_uid) - seen:
            self._drop(self._by_uid[uid])
        self._resource_version = listed["metadata"]["resourceVersion"]
        self.last_heard = time.monotonic()

    async def _watch_forever(self) -> None:
        expired = False
        while True:
            try:
                if expired:  # a failed list is retried like a failed watch, never ends the task
                    await self._relist()
                    expired = False
                await self._watch_once()
            except asyncio.CancelledError:
                raise
            except _Expired:
                expired = True
            except (httpx.HTTPError, ApiError, ValueError) as error:
                log.warning("watch of CronJobSpecs interrupted: %s; resuming", error)
                await asyncio.sleep(1)

    async def _watch_once(self) -> None:
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": self._resource_version,
            "timeoutSeconds": "300",
        }
        timeout = httpx.Timeout(30.0, read=330.0)
        async with self.kube.http.stream(
            "GET", f"{CRD_PATH}/{models.PLURAL}", params=params, timeout=timeout
        ) as response:
            if response.status_code == 410:
                raise _Expired
            if response.status_code >= 400:
                raise ApiError(response.status_code, (await response.aread()).decode(errors="replace"))
            async for event in watch_events(response):
                self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        """One watch event (ADDED, MODIFIED, DELETED, BOOKMARK or ERROR) into the cache: the
        only way objects from the API server enter it, so tests feed it the same way."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired
            raise ApiError(obj.get("code", 500), obj)
        self._resource_version = obj.get("metadata", {}).get("resourceVersion", self._resource_version)
        self.last_heard = time.monotonic()
        self.events[str(kind)] += 1
        if kind == "BOOKMARK":
            return
        if kind == "DELETED":
            self._drop(obj)
        else:
            self._put(obj)


class _Expired(Exception):
    """The watch's resourceVersion is too old: list again."""
