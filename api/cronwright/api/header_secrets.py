"""Request headers given through the REST facade: credentials go to a Secret, and who sees them.

A CronJobSpec is readable by anyone who may list them, and GitOps tools copy it around;
a bearer token must not sit there in clear. Headers whose name says they carry a
credential are stored in a Secret owned by the resource and referenced from
`spec.http.headersFrom`; the rest stay in `spec.http.headers`.

What a GET shows (docs/security.md, "Header values and API keys"):

- a value held in a Secret the facade did not write for this very job (a kubectl-made job's
  `headersFrom`) is never read, so no API key can learn it: it shows as `HIDDEN`;
- a credential the facade stored itself, or a credential-named header kept in clear in the
  spec, is shown only to a key that may write the job (the one that set it, as the
  documents echo headers back); a read-only key sees `HIDDEN`;
- every other header is shown as it is.

Sending `HIDDEN` back for a header in a write keeps that header as it was, so a client
that reads, edits one field and writes the headers back loses nothing.
"""

from __future__ import annotations

import base64
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cronwright.api.errors import ApiProblem
from cronwright.core.kube import Conflict, Kube, NotFound, refs

SENSITIVE = re.compile(r"auth|token|secret|key|cookie|password|credential|session|signature", re.IGNORECASE)
CACHE_SECONDS = 5.0
#: What a header value the caller may not see is shown as.
HIDDEN = "********"
OWNER_LABEL = "cronwright.io/headers-of"


def secret_name(job_name: str) -> str:
    return f"{job_name}-headers"


def is_credential(name: str) -> bool:
    return SENSITIVE.search(name) is not None


def split(headers: Mapping[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """(clear, sensitive) by header name."""
    clear, sensitive = {}, {}
    for name, value in (headers or {}).items():
        (sensitive if is_credential(name) else clear)[name] = value
    return clear, sensitive


@dataclass(frozen=True)
class Header:
    """One request header of a job, as far as the facade may know it.

    `value` is None for a header read from a Secret the facade did not write: `ref` is then
    its `headersFrom` entry, kept as it is when the header is kept. `guarded` headers (the
    facade's own Secret, or a credential name) are shown only to keys that may write.
    """

    name: str
    value: str | None
    guarded: bool
    ref: Mapping[str, Any] | None = None

    def shown(self, reveal: bool) -> str:
        if self.value is None or (self.guarded and not reveal):
            return HIDDEN
        return self.value


def shown(headers: Sequence[Header], reveal: bool) -> dict[str, str]:
    """The `headers` object of a view. `reveal`: the caller's key may write this job."""
    return {h.name: h.shown(reveal) for h in headers}


def given(headers: Mapping[str, str] | None) -> list[Header]:
    """Headers exactly as a client sent them (nothing kept from before)."""
    return [Header(name, value, is_credential(name)) for name, value in (headers or {}).items()]


def resolve(sent: Mapping[str, str] | None, current: Sequence[Header]) -> list[Header]:
    """The headers a write asks for: `HIDDEN` sent for a header the job has keeps that
    header as it is (its value, or its reference to a Secret the facade never reads)."""
    before = {h.name: h for h in current}
    return [
        before[name] if value == HIDDEN and name in before else Header(name, value, is_credential(name))
        for name, value in (sent or {}).items()
    ]


def known(headers: Sequence[Header]) -> dict[str, str]:
    """The values the facade has (to check and to store); kept references left out."""
    return {h.name: h.value for h in headers if h.value is not None}


def headers_from(job_name: str, sensitive: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "secretKeyRef": {"name": secret_name(job_name), "key": f"h{i}"}}
        for i, name in enumerate(sensitive)
    ]


def http_fields(job_name: str, headers: Sequence[Header]) -> dict[str, Any]:
    """`headers` and `headersFrom` of a job's spec.http: clear headers in place, sensitive ones
    referenced from the job's Secret, kept references as they were; neither key when there
    is nothing to put there."""
    clear, sensitive = split(known(headers))
    references = headers_from(job_name, sensitive) + [dict(h.ref) for h in headers if h.ref is not None]
    fields: dict[str, Any] = {}
    if clear:
        fields["headers"] = clear
    if references:
        fields["headersFrom"] = references
    return fields


def secret_body(
    job_name: str, sensitive: Mapping[str, str], owner: dict[str, Any] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": secret_name(job_name),
        "labels": {"app.kubernetes.io/part-of": "cronwright", OWNER_LABEL: job_name},
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


def written_here(secret: Mapping[str, Any], job_name: str, job_uid: str | None) -> bool:
    """Whether `secret` is the one the facade writes for this job: its name, its label and
    (once the job exists) an owner reference to the job's uid. A Secret of the user's that
    merely has the name is not, and is neither shown, overwritten nor deleted."""
    meta = secret.get("metadata") or {}
    if meta.get("name") != secret_name(job_name) or (meta.get("labels") or {}).get(OWNER_LABEL) != job_name:
        return False
    owners = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
    return job_uid in owners if job_uid is not None else not owners


@dataclass(frozen=True)
class _Cached:
    at: float
    secret: dict[str, Any] | None


class HeaderSecrets:
    """Writes and reads the facade's own header Secrets, with a short read cache for GETs."""

    def __init__(self, kube: Kube) -> None:
        self._kube = kube
        self._cache: dict[tuple[str, str], _Cached] = {}

    async def _get(self, namespace: str, name: str, fresh: bool = False) -> dict[str, Any] | None:
        cached = self._cache.get((namespace, name))
        if not fresh and cached and time.monotonic() - cached.at < CACHE_SECONDS:
            return cached.secret
        secret: dict[str, Any] | None = None
        with contextlib.suppress(NotFound):
            secret = await self._kube.get(refs.secret(namespace, name))
        self._cache[(namespace, name)] = _Cached(time.monotonic(), secret)
        return secret

    async def write(
        self, namespace: str, job_name: str, sensitive: Mapping[str, str], owner: dict[str, Any] | None = None
    ) -> None:
        body = secret_body(job_name, sensitive, owner)
        name = body["metadata"]["name"]
        self._cache.pop((namespace, name), None)
        with contextlib.suppress(Conflict):
            await self._kube.create(refs.secret(namespace), body)
            return
        existing = await self._get(namespace, name, fresh=True)
        if existing is None:  # deleted meanwhile: the create may go ahead now
            await self._kube.create(refs.secret(namespace), body)
            return
        if not self._replaceable(existing, job_name, owner):
            raise ApiProblem(
                409,
                "conflict",
                f"Secret {name} exists and was not written by cronwright for this job; "
                "rename it or remove the credential headers",
            )
        body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        self._cache.pop((namespace, name), None)
        await self._kube.replace(refs.secret(namespace, name), body)

    @staticmethod
    def _replaceable(existing: Mapping[str, Any], job_name: str, owner: dict[str, Any] | None) -> bool:
        """Ours for this job: owned by it, or not yet owned at all (written just before the
        job's create, or left by a create that failed half way)."""
        uid = owner["metadata"]["uid"] if owner is not None else None
        return written_here(existing, job_name, uid) or written_here(existing, job_name, None)

    async def delete(self, namespace: str, job: dict[str, Any]) -> None:
        """Delete the job's Secret if it is the facade's own (under a uid precondition)."""
        name = secret_name(job["metadata"]["name"])
        secret = await self._get(namespace, name, fresh=True)
        self._cache.pop((namespace, name), None)
        if secret is None or not self._replaceable(secret, job["metadata"]["name"], job):
            return
        with contextlib.suppress(NotFound, Conflict):
            await self._kube.delete(
                refs.secret(namespace, name), preconditions={"uid": secret["metadata"]["uid"]}
            )

    async def creating(
        self,
        namespace: str,
        job_name: str,
        headers: Sequence[Header],
        create: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """The job `create` makes, its Secret written first so that the operator never sees a
        job whose headers are missing, removed again when the create fails, and owned by the
        job once it exists (so deleting the job with kubectl takes the Secret along)."""
        _, sensitive = split(known(headers))
        if sensitive:
            await self.write(namespace, job_name, sensitive)
        try:
            obj = await create()
        except BaseException:
            if sensitive:
                stub = {"metadata": {"name": job_name, "uid": None}}
                await self.delete(namespace, stub)
            raise
        if sensitive:
            await self.write(namespace, job_name, sensitive, owner=obj)
        return obj

    async def replace(self, namespace: str, job: dict[str, Any], headers: Sequence[Header]) -> None:
        """After new headers: the job's Secret holds exactly the sensitive ones, and there is
        none of the facade's when nothing is sensitive."""
        _, sensitive = split(known(headers))
        if sensitive:
            await self.write(namespace, job["metadata"]["name"], sensitive, owner=job)
        else:
            await self.delete(namespace, job)

    async def forget(self, namespace: str, job: dict[str, Any]) -> None:
        """After the job's delete: its Secret, if it has one of the facade's, goes too."""
        if job["spec"]["http"].get("headersFrom"):
            await self.delete(namespace, job)

    async def read(self, namespace: str, job: dict[str, Any]) -> list[Header]:
        """All request headers of a job; values only from the spec and the facade's own Secret.
        A Secret of anybody else is never fetched, so its value cannot leak through here."""
        http = job["spec"]["http"]
        name, uid = job["metadata"]["name"], job["metadata"]["uid"]
        headers = {n: Header(n, v, is_credential(n)) for n, v in (http.get("headers") or {}).items()}
        references = http.get("headersFrom") or []
        own: dict[str, str] | None = None
        if any((r.get("secretKeyRef") or {}).get("name") == secret_name(name) for r in references):
            secret = await self._get(namespace, secret_name(name))
            if secret is not None and written_here(secret, name, uid):
                own = {
                    k: base64.b64decode(v).decode(errors="replace")
                    for k, v in (secret.get("data") or {}).items()
                }
        for ref in references:
            key_ref = ref.get("secretKeyRef") or {}
            if own is not None and key_ref.get("name") == secret_name(name):
                if key_ref.get("key") in own:
                    headers[ref["name"]] = Header(ref["name"], own[key_ref["key"]], True)
            else:
                headers[ref["name"]] = Header(ref["name"], None, True, ref)
        return list(headers.values())
