"""A workflow run: create the run object (or pick up one listed in status.active), list it
in status.active, follow it to its result; delete replaced objects and prune old ones."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from cronwright.core import runs
from cronwright.core.kube import ApiError
from cronwright.core.models import CronJobSpecSpec, ObjectRef, RunRecord, RunResult
from cronwright.operator import planning, workflow_objects
from cronwright.operator.book import Entry
from cronwright.operator.events import EventRecorder
from cronwright.operator.metrics import Metrics
from cronwright.operator.runners import Run, content_problem, late, not_started, plain
from cronwright.operator.status_writer import Gone, Writer
from cronwright.operator.workflow_objects import RunIdentity, Verdict
from cronwright.operator.workflow_runs import Refused, RunObjects

log = logging.getLogger(__name__)


class WorkflowRunner:
    def __init__(self, objects: RunObjects, writer: Writer, events: EventRecorder, metrics: Metrics) -> None:
        self._objects = objects
        self._writer = writer
        self._events = events
        self._metrics = metrics

    async def run(self, run: Run) -> RunRecord | None:
        """The record carries the object, and writing it takes the object off
        status.active. None: no result can be known here (the object cannot be read)."""
        target = run.spec.workflow
        assert target is not None
        entry = run.entry
        namespace, name = entry.key
        ref = entry.objects.get(run.rid)
        if ref is None:
            missed = late(run, self._metrics)
            if missed is not None:
                return missed
            body = workflow_objects.build(
                target, RunIdentity(name, entry.uid, namespace, run.rid, runs.rfc3339(run.due))
            )
            try:
                created = await self._objects.create(body, workflow_objects.manifest_field(target))
            except Refused as refused:
                return content_problem(run, refused, "RunObjectRefused", self._events)
            except ApiError as error:
                return not_started(run, f"creating the run object failed: {error}")
            ref = workflow_objects.reference(created, run.rid, scheduled_time=run.due, trigger=run.trigger)
            entry.objects[run.rid] = ref
            await self._list_active(entry, run.rid, ref)
            self._events.post(
                entry.meta, "Normal", "RunObjectCreated", f"run {run.rid}: {ref.kind} {ref.name}"
            )
        try:
            outcome = await self._objects.follow(namespace, ref, target.result, target.deadline_seconds)
        except (Refused, ApiError) as error:
            # The kind became unreadable (CRD removed, rights withdrawn): the object stays
            # listed in status.active and the next operator start follows it again.
            log.error("run object %s of %s/%s cannot be followed: %s", ref.name, namespace, name, error)
            return None
        entry.objects.pop(run.rid, None)
        finish = datetime.now(UTC)
        begun = outcome.started or run.start
        return RunRecord(
            id=run.rid,
            scheduled_time=run.due,
            start_time=begun,
            finish_time=finish,
            duration_ms=max(int((finish - begun).total_seconds() * 1000), 0),
            result=RunResult.Succeeded
            if outcome.judgement.verdict is Verdict.succeeded
            else RunResult.Failed,
            trigger=run.trigger,
            error=outcome.judgement.message or None,
            object=plain(ref),
        )

    async def _list_active(self, entry: Entry, rid: str, ref: ObjectRef) -> None:
        """List the new run object in status.active (a conditional write like every other),
        so a restarted operator follows it and Forbid sees it."""
        raw = ref.model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            await self._writer.write(
                entry, lambda obj: planning.add_active(obj.get("status") or {}, raw), "active"
            )
            entry.listed.add(rid)
        except Gone:
            return
        except ApiError as error:
            log.warning("run object %s of %s/%s not listed in status.active: %s", ref.name, *entry.key, error)

    async def delete_replaced(self, entry: Entry, ref: ObjectRef) -> None:
        """Replace: the old run object goes before the new one is created."""
        try:
            await asyncio.shield(self._objects.delete(entry.key[0], ref))
        except (Refused, ApiError) as error:
            log.warning("replaced run object %s of %s/%s not deleted: %s", ref.name, *entry.key, error)

    async def prune(self, entry: Entry, spec: CronJobSpecSpec) -> None:
        """historyLimit applies to run objects too: the oldest finished ones are deleted."""
        current = entry.spec or spec
        target = current.workflow
        if target is None:
            return
        namespace, name = entry.key
        active = {a.get("name") for a in entry.status.get("active") or []}
        await self._objects.prune(
            namespace,
            workflow_objects.kind_of(target),
            workflow_objects.cronjobspec_label(name),
            entry.uid,
            current.history_limit,
            {n for n in active if n},
        )
