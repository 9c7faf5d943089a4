"""CronProjects for the facade: read and written straight through the API server.

Projects are few per tenant and read far less often than jobs, so there is no cache: every
call is one request, and a project made with kubectl is seen at once. A project's name is
its id in the cronpulse API, so it is checked here before it reaches a URL path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from cronwright.core import models
from cronwright.core.kube import CRD_PATH, ApiError, Kube

CONFLICT_RETRIES = 5
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def valid_name(name: str) -> bool:
    return len(name) <= 253 and _NAME.fullmatch(name) is not None


def project_path(namespace: str, name: str | None = None) -> str:
    path = f"{CRD_PATH}/namespaces/{namespace}/{models.PROJECT_PLURAL}"
    return f"{path}/{name}" if name else path


class Projects:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    async def list(self, namespace: str) -> list[dict[str, Any]]:
        """Newest first, like the job lists."""
        items = (await self.kube.get(project_path(namespace))).get("items", [])
        items.sort(
            key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]), reverse=True
        )
        return items

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        if not valid_name(name):
            return None
        try:
            return await self.kube.get(project_path(namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.kube.create(project_path(namespace), body)

    async def update(
        self, namespace: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Merge-patch computed from the current object, conditional on its resourceVersion;
        recomputed from a fresh read on conflict. None when the project is gone."""
        for _ in range(CONFLICT_RETRIES):
            obj = await self.get(namespace, name)
            if obj is None:
                return None
            patch = change(obj)
            patch["metadata"] = {
                **patch.get("metadata", {}),
                "resourceVersion": obj["metadata"]["resourceVersion"],
            }
            try:
                return await self.kube.merge_patch(project_path(namespace, name), patch)
            except ApiError as error:
                if error.status == 404:
                    return None
                if error.status != 409:
                    raise
        raise ApiError(409, {"message": "the project kept changing; try again"})

    async def delete(self, namespace: str, obj: dict[str, Any]) -> bool:
        """Delete this very object (uid precondition): a project re-created under the same
        name meanwhile is left alone."""
        meta = obj["metadata"]
        try:
            await self.kube.request(
                "DELETE",
                project_path(namespace, meta["name"]),
                body={"preconditions": {"uid": meta["uid"]}},
            )
        except ApiError as error:
            if error.status in (404, 409):
                return False
            raise
        return True
