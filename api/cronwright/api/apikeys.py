"""API keys of the REST facade, kept as Secrets so the cluster stays the only database.

A key is ``cwk_<key_id>_<secret>``. The key id names its Secret, so checking a key is one
GET by name rather than a scan; the secret part never leaves the client after creation:
only the SHA-256 of the whole key is stored. Keys are 256-bit random values, so a plain
fast hash is enough — slow password hashes (bcrypt, scrypt) exist to stretch guessable
human passwords and would only make every request slower here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from cronwright.core.kube import Conflict, Forbidden, Kube, NotFound, refs

KEY_PREFIX = "cwk_"
SECRET_PREFIX = "cronwright-apikey-"
KEY_LABEL = "cronwright.io/api-key"
PART_OF_LABEL = "app.kubernetes.io/part-of"
DEFAULT_KEYS_NAMESPACE = "cronwright-system"

_KEY = re.compile(r"cwk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
_KEY_ID = re.compile(r"[0-9a-f]{12}")
N = TypeVar("N", int, float)


@dataclass(frozen=True)
class ApiKey:
    """An authenticated caller: which tenant namespace it may touch, and how."""

    key_id: str
    namespace: str
    scopes: frozenset[str]
    rate_per_second: float | None
    rate_burst: int | None

    def allows(self, scope: str) -> bool:
        """Scopes are independent ("write" does not imply "read"), so a write-only key for a
        CI pipeline cannot read other jobs' targets; only "*" grants everything."""
        return scope in self.scopes or "*" in self.scopes


@dataclass(frozen=True)
class KeyInfo:
    """What an administrator may see of a stored key: everything but its hash."""

    key: ApiKey
    created_at: str
    description: str | None


def new_key() -> tuple[str, str]:
    key_id = secrets.token_hex(6)
    return f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}", key_id


def parse_key(plaintext: str) -> str | None:
    """Reject malformed keys before they cost an API call or a cache entry."""
    match = _KEY.fullmatch(plaintext)
    return match.group(1) if match else None


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def secret_name(key_id: str) -> str:
    """The only way a key id reaches a URL path, so it is checked here."""
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"not a key id: {key_id!r}")
    return f"{SECRET_PREFIX}{key_id}"


def key_secret(
    key_id: str,
    plaintext: str,
    tenant_namespace: str,
    scopes: Iterable[str],
    *,
    keys_namespace: str,
    rate_per_second: float | None = None,
    rate_burst: int | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    if parse_key(plaintext) != key_id:
        raise ValueError("the key does not belong to this key id")
    if not tenant_namespace:
        raise ValueError("a key must be bound to a namespace")
    scope_list = sorted(set(scopes))
    if not scope_list or any(not s or "," in s or s != s.strip() for s in scope_list):
        raise ValueError(f"scopes must be non-empty strings without commas or spaces: {scope_list}")
    if rate_per_second is not None and not (math.isfinite(rate_per_second) and rate_per_second > 0):
        raise ValueError("rate_per_second must be a positive number")
    if rate_burst is not None and rate_burst < 1:
        raise ValueError("rate_burst must be at least 1")
    data = {
        "sha256": hash_key(plaintext),
        "namespace": tenant_namespace,
        "scopes": ",".join(scope_list),
        "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if rate_per_second is not None:
        data["rateLimitPerSecond"] = repr(float(rate_per_second))
    if rate_burst is not None:
        data["rateLimitBurst"] = str(rate_burst)
    if description:
        data["description"] = description
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(key_id),
            "namespace": keys_namespace,
            "labels": {KEY_LABEL: "true", PART_OF_LABEL: "cronwright"},
        },
        "type": "Opaque",
        "stringData": data,
    }


async def _ensure_namespace(kube: Kube, name: str) -> None:
    """Create a namespace only when missing, so a user allowed just inside the keys
    namespace can create keys without cluster-wide rights on namespaces."""
    with contextlib.suppress(NotFound):
        await kube.get(refs.namespace(name))
        return
    with contextlib.suppress(Conflict):
        await kube.create(
            refs.namespace(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )


class NamespaceMissing(ValueError):
    """A key was asked for a tenant namespace that does not exist (and not to create it)."""

    def __init__(self, namespace: str) -> None:
        super().__init__(
            f"namespace {namespace!r} does not exist: create it first (kubectl create namespace "
            f"{namespace}) or pass --create-namespace; a key for it would be refused on every write"
        )
        self.namespace = namespace


async def check_tenant_namespace(kube: Kube, name: str, create: bool = False) -> str:
    """Whether the namespace a key is for is there: "exists", "created" (when missing and
    `create`), or "unknown" when the caller may not read namespaces (a user allowed only in
    the keys namespace); raises NamespaceMissing when it is missing and not to be created."""
    try:
        await kube.get(refs.namespace(name))
        return "exists"
    except Forbidden:
        return "unknown"
    except NotFound:
        pass
    if not create:
        raise NamespaceMissing(name)
    await _ensure_namespace(kube, name)
    return "created"


async def create_key(
    kube: Kube,
    tenant_namespace: str,
    scopes: Iterable[str],
    *,
    keys_namespace: str = DEFAULT_KEYS_NAMESPACE,
    create_namespace: bool = False,
    **kw: Any,
) -> str:
    """Returns the plaintext, which exists nowhere else afterwards: show it once. Refuses
    (NamespaceMissing) a tenant namespace that does not exist, unless `create_namespace`."""
    plaintext, key_id = new_key()
    manifest = key_secret(key_id, plaintext, tenant_namespace, scopes, keys_namespace=keys_namespace, **kw)
    await check_tenant_namespace(kube, tenant_namespace, create=create_namespace)
    await _ensure_namespace(kube, keys_namespace)
    await kube.create(refs.secret(keys_namespace), manifest)
    return plaintext


async def list_keys(kube: Kube, keys_namespace: str = DEFAULT_KEYS_NAMESPACE) -> list[KeyInfo]:
    listing = await kube.get(refs.secret(keys_namespace), params={"labelSelector": f"{KEY_LABEL}=true"})
    keys = []
    for secret in listing.get("items", []):
        name: str = secret["metadata"]["name"]
        fields = _fields(secret) if name.startswith(SECRET_PREFIX) else None
        key = _api_key(name.removeprefix(SECRET_PREFIX), fields) if fields else None
        if fields and key:
            keys.append(KeyInfo(key, fields.get("createdAt", ""), fields.get("description")))
    return sorted(keys, key=lambda info: (info.created_at, info.key.key_id))


async def revoke_key(kube: Kube, key_id: str, keys_namespace: str = DEFAULT_KEYS_NAMESPACE) -> bool:
    """False when there was no such key. Running facades notice within their cache TTL."""
    try:
        await kube.delete(refs.secret(keys_namespace, secret_name(key_id)))
    except NotFound:
        return False
    return True


def _fields(secret: dict[str, Any]) -> dict[str, str] | None:
    """The Secret's data as text, or None when it is not (or no longer) a well-formed key:
    anybody with Secret write access could put odd things there."""
    if secret.get("metadata", {}).get("labels", {}).get(KEY_LABEL) != "true":
        return None
    try:
        return {k: base64.b64decode(v, validate=True).decode() for k, v in (secret.get("data") or {}).items()}
    except (binascii.Error, UnicodeDecodeError):
        return None


def _positive(text: str | None, kind: Callable[[str], N]) -> N | None:
    """A per-key rate override; unreadable ones fall back to the facade's defaults."""
    try:
        value = kind(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


def _api_key(key_id: str, fields: dict[str, str]) -> ApiKey | None:
    if not fields.get("namespace") or not fields.get("sha256"):
        return None
    return ApiKey(
        key_id=key_id,
        namespace=fields["namespace"],
        scopes=frozenset(s for s in fields.get("scopes", "").split(",") if s),
        rate_per_second=_positive(fields.get("rateLimitPerSecond"), float),
        rate_burst=_positive(fields.get("rateLimitBurst"), int),
    )


@dataclass(frozen=True)
class _Entry:
    expires: float
    sha256: str | None
    key: ApiKey | None


class KeyStore:
    """Checks keys against their Secrets with a short cache of answers, good and bad.

    Caching misses too means repeating a wrong or revoked key costs no API call; caching
    hits only for ``ttl`` bounds how long a deleted Secret keeps working. Concurrent
    checks of one uncached key id share a single GET. Errors other than 404 (API server
    down, no RBAC) propagate uncached: the caller should answer 503, not 401.
    """

    def __init__(
        self,
        kube: Kube,
        keys_namespace: str,
        ttl: float = 5.0,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.keys_namespace = keys_namespace
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        # Insertion order is expiry order (one ttl for all), so the oldest entry is first.
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[_Entry]] = {}

    def size(self) -> int:
        """Key lookups remembered (hits and misses, expired ones until evicted)."""
        return len(self._cache)

    async def authenticate(self, plaintext: str | None) -> ApiKey | None:
        if not plaintext or (key_id := parse_key(plaintext)) is None:
            return None
        entry = await self._entry(key_id)
        if entry.sha256 is None or not hmac.compare_digest(entry.sha256, hash_key(plaintext)):
            return None
        return entry.key

    async def _entry(self, key_id: str) -> _Entry:
        entry = self._cache.get(key_id)
        if entry and entry.expires > self.clock():
            return entry
        lookup = self._inflight.get(key_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._fetch(key_id))
            self._inflight[key_id] = lookup
            lookup.add_done_callback(lambda _: self._inflight.pop(key_id, None))
        # A cancelled request must not cancel the lookup other requests are waiting for.
        return await asyncio.shield(lookup)

    async def _fetch(self, key_id: str) -> _Entry:
        try:
            secret = await self.kube.get(refs.secret(self.keys_namespace, secret_name(key_id)))
        except NotFound:
            secret = {}
        fields = _fields(secret)
        key = _api_key(key_id, fields) if fields else None
        entry = _Entry(self.clock() + self.ttl, fields["sha256"] if fields and key else None, key)
        self._remember(key_id, entry)
        return entry

    def _remember(self, key_id: str, entry: _Entry) -> None:
        self._cache.pop(key_id, None)
        self._cache[key_id] = entry
        now = self.clock()
        while self._cache:
            oldest_id, oldest = next(iter(self._cache.items()))
            if oldest.expires > now and len(self._cache) <= self.max_entries:
                break
            del self._cache[oldest_id]
