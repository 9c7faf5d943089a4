"""Run objects on the API server: create, follow to a result, delete, prune.

Following is a polling loop with backoff (1 s, growing to 10 s), not a watch. The
operator's API client has 16 pooled connections shared with every status write; a watch
per run object in flight would hold one each for hours, and a hundred long Jobs would
starve the writes. A GET every ten seconds per run object costs the API server little,
and a result is seen at most ten seconds late on runs that take minutes to hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cronwright.core.kube import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Forbidden,
    Invalid,
    Kube,
    NotFound,
    Ref,
    Retry,
)
from cronwright.core.models import ObjectRef, ResultRule
from cronwright.core.runs import parse_time
from cronwright.operator import workflow_objects
from cronwright.operator.planning import ContentProblem
from cronwright.operator.workflow_objects import Judgement, Verdict

log = logging.getLogger(__name__)

FIRST_POLL = 1.0
MAX_POLL = 10.0
#: Answers that say "this identity or this kind cannot be run", not "try again".
REFUSALS = (BadRequest, Forbidden, NotFound, Invalid)
#: Retrying a create is safe — the name is the run's — and worth it: a create that timed
#: out may have succeeded, and the retry's AlreadyExists then adopts that object instead
#: of leaving it unfollowed.
CREATE_RETRY = Retry(attempts=5, first=0.5, cap=4.0)


class Refused(ContentProblem):
    """The API server will not create this run object (forbidden, unknown kind, invalid)."""


@dataclass(frozen=True)
class Outcome:
    judgement: Judgement
    started: datetime | None


class RunObjects:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        #: (apiVersion, kind) -> plural resource name; only hits are kept, so a CRD
        #: installed after a refusal is found on the next run.
        self._plurals: dict[tuple[str, str], str] = {}

    async def collection(self, api_version: str, kind: str, namespace: str, field: str) -> Ref:
        """A kind's objects in a namespace, their plural found by API discovery."""
        plural = self._plurals.get((api_version, kind))
        if plural is None:
            try:
                resources = await self.kube.resources(api_version)
            except NotFound as error:
                raise Refused(field, f"the API server does not serve {api_version}") from error
            found = next(
                (r for r in resources if r.get("kind") == kind and "/" not in r.get("name", "")), None
            )
            if found is None:
                raise Refused(field, f"the API server serves no kind {kind} in {api_version}")
            if not found.get("namespaced"):
                raise Refused(
                    field, f"{kind} ({api_version}) is cluster-scoped; run objects must be namespaced"
                )
            plural = found["name"]
            self._plurals[(api_version, kind)] = plural
        return Ref(api_version, plural, namespace)

    async def create(self, body: dict[str, Any], field: str) -> dict[str, Any]:
        """Create the run object; AlreadyExists means this run already started (a retried
        create, or another operator): the existing object is adopted, never duplicated."""
        meta = body["metadata"]
        collection = await self.collection(body["apiVersion"], body["kind"], meta["namespace"], field)
        try:
            return await CREATE_RETRY.call(
                lambda: self.kube.create(collection, body), f"creating {body['kind']} {meta['name']}"
            )
        except AlreadyExists as error:
            existing = await self.kube.get(collection.named(meta["name"]))
            run = (existing["metadata"].get("labels") or {}).get(workflow_objects.RUN_ID_LABEL)
            if run != meta["labels"][workflow_objects.RUN_ID_LABEL]:
                raise Refused(field, f"{meta['name']} exists and belongs to another run") from error
            return existing
        except REFUSALS as error:
            if isinstance(error, NotFound):
                self._plurals.pop((body["apiVersion"], body["kind"]), None)
            raise Refused(field, error.message or str(error)) from error

    async def delete(self, namespace: str, ref: ObjectRef) -> None:
        """Delete a run object (Replace, deadline, pruning); already gone is fine."""
        collection = await self.collection(ref.api_version, ref.kind, namespace, "spec.workflow")
        with contextlib.suppress(ApiError):
            await self.kube.delete(collection.named(ref.name), propagation_policy="Background")

    async def follow(
        self, namespace: str, ref: ObjectRef, rule: ResultRule | None, deadline_seconds: int
    ) -> Outcome:
        """Poll the object until it has a result or its deadline (counted from the
        object's creation, so an operator restart does not extend it) has passed."""
        obj_ref = (await self.collection(ref.api_version, ref.kind, namespace, "spec.workflow")).named(
            ref.name
        )
        delay = FIRST_POLL
        started: datetime | None = None
        while True:
            try:
                obj = await self.kube.get(obj_ref)
            except NotFound:
                return Outcome(
                    Judgement(Verdict.failed, f"{ref.kind} {ref.name} was deleted before it finished"),
                    started,
                )
            except ApiError as error:
                log.warning("reading %s %s/%s failed: %s", ref.kind, namespace, ref.name, error)
                obj = None
            now = datetime.now(UTC)
            if obj is not None:
                started = parse_time(obj["metadata"].get("creationTimestamp")) or started or now
                judgement = workflow_objects.judge(obj, rule)
                if judgement.verdict is not Verdict.running:
                    return Outcome(judgement, started)
            deadline = (started or now) + timedelta(seconds=deadline_seconds)
            if now >= deadline:
                await self.delete(namespace, ref)
                return Outcome(
                    Judgement(
                        Verdict.failed,
                        f"timeout: {ref.kind} {ref.name} not finished after deadlineSeconds "
                        f"({deadline_seconds}s); deleted",
                    ),
                    started,
                )
            await asyncio.sleep(min(delay, max((deadline - now).total_seconds(), 0.05)))
            delay = min(delay * 1.5, MAX_POLL)

    async def prune(
        self,
        namespace: str,
        kind: tuple[str, str],
        label: str,
        owner_uid: str,
        keep: int,
        active: set[str],
    ) -> None:
        """Delete finished run objects beyond the history limit (oldest first)."""
        api_version, kind_name = kind
        try:
            collection = await self.collection(api_version, kind_name, namespace, "spec.workflow")
            listed = await self.kube.get(
                collection, params={"labelSelector": f"{workflow_objects.CRONJOBSPEC_LABEL}={label}"}
            )
            for name in workflow_objects.to_prune(listed.get("items") or [], owner_uid, keep, active):
                with contextlib.suppress(ApiError):
                    await self.kube.delete(collection.named(name), propagation_policy="Background")
        except (ApiError, Refused) as error:
            log.warning("pruning %s run objects in %s failed: %s", kind_name, namespace, error)
