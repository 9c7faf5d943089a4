"""Request headers given through the REST facade: credentials go to a Secret.

A CronJobSpec is readable by anyone who may list them, and GitOps tools copy it around;
a bearer token must not sit there in clear. Headers whose name says they carry a
credential are stored in a Secret owned by the resource and referenced from
`spec.http.headersFrom`; the rest stay in `spec.http.headers`. The owner of the job gets
them all back on GET, as the documented APIs show.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cronwright.core.kube import ApiError, Kube

SENSITIVE = re.compile(r"auth|token|secret|key|cookie|password|credential|session|signature", re.IGNORECASE)
CACHE_SECONDS = 5.0


def secret_name(job_name: str) -> str:
    return f"{job_name}-headers"


def split(headers: dict[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """(clear, sensitive) by header name."""
    clear, sensitive = {}, {}
    for name, value in (headers or {}).items():
        (sensitive if SENSITIVE.search(name) else clear)[name] = value
    return clear, sensitive


def headers_from(job_name: str, sensitive: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "secretKeyRef": {"name": secret_name(job_name), "key": f"h{i}"}}
        for i, name in enumerate(sensitive)
    ]


def http_fields(job_name: str, headers: dict[str, str] | None) -> dict[str, Any]:
    """`headers` and `headersFrom` of a job's spec.http: clear headers in place, sensitive ones
    referenced from the job's Secret; neither key when there is nothing to put there."""
    clear, sensitive = split(headers)
    fields: dict[str, Any] = {}
    if clear:
        fields["headers"] = clear
    if sensitive:
        fields["headersFrom"] = headers_from(job_name, sensitive)
    return fields


def secret_body(
    job_name: str, sensitive: dict[str, str], owner: dict[str, Any] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": secret_name(job_name),
        "labels": {"app.kubernetes.io/part-of": "cronwright", "cronwright.io/headers-of": job_name},
    }
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "blockOwnerDeletion": False,
            }
        ]
    data = {f"h{i}": base64.b64encode(v.encode()).decode() for i, v in enumerate(sensitive.values())}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": data}


class HeaderSecrets:
    """Writes and reads those Secrets, with a short read cache for GETs."""

    def __init__(self, kube: Kube) -> None:
        self._kube = kube
        self._cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}

    def _path(self, namespace: str, name: str | None = None) -> str:
        base = f"/api/v1/namespaces/{namespace}/secrets"
        return f"{base}/{name}" if name else base

    async def write(
        self, namespace: str, job_name: str, sensitive: dict[str, str], owner: dict[str, Any] | None = None
    ) -> None:
        body = secret_body(job_name, sensitive, owner)
        self._cache.pop((namespace, body["metadata"]["name"]), None)
        try:
            await self._kube.create(self._path(namespace), body)
        except ApiError as error:
            if error.status != 409:
                raise
            await self._kube.request("PUT", self._path(namespace, body["metadata"]["name"]), body=body)

    async def delete(self, namespace: str, job_name: str) -> None:
        self._cache.pop((namespace, secret_name(job_name)), None)
        try:
            await self._kube.delete(self._path(namespace, secret_name(job_name)))
        except ApiError as error:
            if error.status != 404:
                raise

    async def creating(
        self,
        namespace: str,
        job_name: str,
        sensitive: dict[str, str],
        create: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """The job `create` makes, its Secret written first so that the operator never sees a
        job whose headers are missing, removed again when the create fails, and owned by the
        job once it exists (so deleting the job with kubectl takes the Secret along)."""
        if sensitive:
            await self.write(namespace, job_name, sensitive)
        try:
            obj = await create()
        except BaseException:
            if sensitive:
                await self.delete(namespace, job_name)
            raise
        if sensitive:
            await self.write(namespace, job_name, sensitive, owner=obj)
        return obj

    async def replace(self, namespace: str, job: dict[str, Any], sensitive: dict[str, str]) -> None:
        """After new headers: the job's Secret holds exactly `sensitive`, and there is none
        when nothing is sensitive."""
        if sensitive:
            await self.write(namespace, job["metadata"]["name"], sensitive, owner=job)
        else:
            await self.delete(namespace, job["metadata"]["name"])

    async def forget(self, namespace: str, job: dict[str, Any]) -> None:
        """After the job's delete: its Secret, if it has one, goes too."""
        if job["spec"]["http"].get("headersFrom"):
            await self.delete(namespace, job["metadata"]["name"])

    async def _data(self, namespace: str, name: str) -> dict[str, str]:
        cached = self._cache.get((namespace, name))
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            secret = await self._kube.get(self._path(namespace, name))
            data = {
                k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()
            }
        except ApiError as error:
            if error.status != 404:
                raise
            data = {}
        self._cache[(namespace, name)] = (time.monotonic(), data)
        return data

    async def headers(self, namespace: str, http: dict[str, Any]) -> dict[str, str]:
        """All request headers of a job: clear ones and those read from Secrets."""
        result = dict(http.get("headers") or {})
        for ref in http.get("headersFrom") or []:
            key_ref = ref.get("secretKeyRef") or {}
            data = await self._data(namespace, key_ref.get("name", ""))
            if key_ref.get("key") in data:
                result[ref["name"]] = data[key_ref["key"]]
        return result
