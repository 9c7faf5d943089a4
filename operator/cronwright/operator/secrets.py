"""Secret values for headersFrom and signing keys, read at run time with a short cache.

A few seconds of caching turns thousands of runs a minute into a handful of reads, and
a rotated Secret is still picked up almost at once. A missing Secret is not cached: the
user who reads "Secret not found" in the status, creates it and triggers a run must not
get the same failure from a cached miss (a resource whose Secret is missing costs one
read per run, and such resources are few). Values never reach a log line.
"""

from __future__ import annotations

import base64
import time

from cronwright.core.kube import Kube, NotFound, refs
from cronwright.core.models import SecretKeyRef
from cronwright.operator.planning import ContentProblem

TTL_SECONDS = 10.0


class SecretProblem(ContentProblem):
    """A referenced Secret or key is missing."""


class SecretCache:
    def __init__(self, kube: Kube, ttl: float = TTL_SECONDS) -> None:
        self._kube = kube
        self._ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}

    async def _data(self, namespace: str, name: str, fresh: bool) -> dict[str, str] | None:
        key = (namespace, name)
        cached = self._cache.get(key)
        if cached and not fresh and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        try:
            secret = await self._kube.get(refs.secret(namespace, name))
            data: dict[str, str] = secret.get("data") or {}
        except NotFound:
            self._cache.pop(key, None)
            return None
        self._cache[key] = (time.monotonic(), data)
        return data

    async def value(self, namespace: str, ref: SecretKeyRef, field: str, fresh: bool = False) -> bytes:
        """The value a reference names; `fresh` reads past the cache (and refills it)."""
        data = await self._data(namespace, ref.name, fresh)
        if data is not None and ref.key not in data and not fresh:
            data = await self._data(namespace, ref.name, True)  # the cached copy may predate the key
        if data is None:
            raise SecretProblem(field, f'Secret "{ref.name}" not found in namespace "{namespace}"')
        if ref.key not in data:
            raise SecretProblem(field, f'Secret "{ref.name}" has no key "{ref.key}"')
        return base64.b64decode(data[ref.key])
