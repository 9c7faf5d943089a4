"""CronProjects for the facade: read and written straight through the API server.

Projects are few per tenant and read far less often than jobs, so there is no cache: every
call is one request, and a project made with kubectl is seen at once. A project's name is
its id in the cronpulse API, so it is checked here before it reaches a URL path.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from cronwright.core.kube import Conflict, Kube, NotFound, refs, update

CONFLICT_RETRIES = 5
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def valid_name(name: str) -> bool:
    return len(name) <= 253 and _NAME.fullmatch(name) is not None


class Projects:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    async def list(self, namespace: str) -> list[dict[str, Any]]:
        """Newest first, like the job lists."""
        items = (await self.kube.get(refs.cronproject(namespace))).get("items", [])
        items.sort(
            key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]), reverse=True
        )
        return items

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        if not valid_name(name):
            return None
        with contextlib.suppress(NotFound):
            return await self.kube.get(refs.cronproject(namespace, name))
        return None

    async def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.kube.create(refs.cronproject(namespace), body)

    async def update(
        self, namespace: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Merge-patch computed from the current object, conditional on its resourceVersion;
        recomputed from a fresh read on conflict. None when the project is gone."""
        ref = refs.cronproject(namespace, name)
        done = await update(
            change,
            lambda patch: self.kube.merge_patch(ref, patch),
            lambda: self.get(namespace, name),
            attempts=CONFLICT_RETRIES,
            what="the project",
        )
        return done.obj if done else None

    async def delete(self, namespace: str, obj: dict[str, Any]) -> bool:
        """Delete this very object (uid precondition): a project re-created under the same
        name meanwhile is left alone."""
        meta = obj["metadata"]
        try:
            await self.kube.delete(
                refs.cronproject(namespace, meta["name"]), preconditions={"uid": meta["uid"]}
            )
        except (NotFound, Conflict):
            return False
        return True
