"""A small asyncio client for the Kubernetes API, on one pooled httpx connection pool.

The official `kubernetes` package is synchronous (a thread per call); the operator makes
hundreds of status writes a second from one event loop, so it talks REST directly. The
official package is still used for what it does well: reading kubeconfig files and
in-cluster service-account credentials (credentials.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from cronwright.core.kube.credentials import BearerAuth, Credentials, load_credentials
from cronwright.core.kube.errors import error_for, unreachable_on_transport_errors
from cronwright.core.kube.refs import Ref, api_base
from cronwright.core.kube.watch import watch_events
from cronwright.core.version import VERSION

T = TypeVar("T")
#: An object or collection: a Ref, or a REST path for what no Ref names (tests, discovery).
Target = Ref | str


def _path(target: Target) -> str:
    return target.path if isinstance(target, Ref) else target


def _payload(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content.decode(errors="replace")


class Kube:
    """The REST calls cronwright needs; every failure is an ApiError (errors.py)."""

    def __init__(
        self, credentials: Credentials, max_connections: int = 32, component: str = "cronwright"
    ) -> None:
        """`component` names the writer: the API server derives the field manager of every
        write from the User-Agent, so managedFields show `cronwright-operator` or
        `cronwright-api` instead of `python-httpx` (what GitOps tools and users see)."""
        self.credentials = credentials
        self._http = httpx.AsyncClient(
            base_url=credentials.host,
            verify=credentials.tls(),
            auth=BearerAuth(credentials),
            headers={
                "Accept": "application/json",
                "User-Agent": f"{component}/{VERSION}",
            },
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            trust_env=False,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        target: Target,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {"Content-Type": content_type} if content is not None else None
        with unreachable_on_transport_errors():
            response = await self._http.request(
                method, _path(target), content=content, params=params, headers=headers
            )
        payload = _payload(response.content)
        if response.status_code >= 400:
            raise error_for(response.status_code, payload)
        return payload

    async def get(self, target: Target, params: dict[str, Any] | None = None) -> Any:
        return await self.request("GET", target, params=params)

    async def create(self, target: Target, body: dict[str, Any]) -> Any:
        return await self.request("POST", target, body=body)

    async def replace(self, target: Target, body: dict[str, Any]) -> Any:
        """PUT: the whole object; with metadata.resourceVersion, only if nobody wrote since."""
        return await self.request("PUT", target, body=body)

    async def delete(
        self,
        target: Target,
        propagation_policy: str | None = None,
        preconditions: dict[str, str] | None = None,
    ) -> Any:
        """propagationPolicy Background: the object goes at once, what it owns (a Job's
        Pods) is collected after it — a delete never waits on a garbage collector.
        `preconditions` ({"uid": ...}) delete only that very object (else Conflict)."""
        body: dict[str, Any] = {}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if preconditions:
            body["preconditions"] = preconditions
        return await self.request("DELETE", target, body=body or None)

    async def resources(self, api_version: str) -> list[dict[str, Any]]:
        """API discovery: the resources one group/version serves (NotFound if none)."""
        return (await self.get(api_base(api_version))).get("resources") or []

    async def merge_patch(self, target: Target, body: dict[str, Any]) -> Any:
        return await self.request("PATCH", target, body=body, content_type="application/merge-patch+json")

    async def watch(
        self, target: Target, resource_version: str, timeout_seconds: int = 300
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request from `resource_version`, bookmarks included;
        an ERROR event is raised as its ApiError (Expired: list again)."""
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
        # The server ends the request after timeoutSeconds; reading waits a little longer.
        timeout = httpx.Timeout(30.0, read=timeout_seconds + 30.0)
        with unreachable_on_transport_errors():
            async with self._http.stream("GET", _path(target), params=params, timeout=timeout) as response:
                if response.status_code >= 400:
                    raise error_for(response.status_code, _payload(await response.aread()))
                async for event in watch_events(response):
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise error_for(status.get("code", 500), status)
                    yield event


def run_with_kube(kubeconfig: str | None, call: Callable[[Kube], Awaitable[T]]) -> T:
    """Run one async call with a client from synchronous code (CLI, dev, tests), closing it after."""

    async def run() -> T:
        kube = Kube(load_credentials(kubeconfig))
        try:
            return await call(kube)
        finally:
            await kube.close()

    return asyncio.run(run())
