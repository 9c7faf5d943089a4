"""The book: what the operator knows of each watched CronJobSpec, one `Entry` per resource.

Watch events keep it current (`Entry.observe` keeps the newest copy); every decision and
write starts from it. It holds no scheduling logic: the scheduler, the heartbeat checker
and the Secret re-check read and update entries, the due queue orders their times.
"""

from __future__ import annotations

import asyncio
import collections
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronwright.core import models, runs
from cronwright.core.kube import resource_version
from cronwright.core.models import CronJobSpecSpec, ObjectRef
from cronwright.operator.planning import ContentProblem, Problem


def _compact_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata the operator uses; managedFields, labels and other annotations would
    only cost memory (several KiB per resource, 10,000 resources)."""
    kept = {k: meta[k] for k in _META_KEYS if k in meta}
    annotations = meta.get("annotations") or {}
    if any(k in annotations for k in _ANNOTATIONS):
        kept["annotations"] = {k: annotations[k] for k in _ANNOTATIONS if k in annotations}
    return kept


_META_KEYS = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp")
_ANNOTATIONS = (runs.TRIGGER_ANNOTATION, models.PING_ANNOTATION)


@dataclass
class Entry:
    """What the operator knows of one CronJobSpec.

    The status — mostly run history — is kept as compact JSON text and parsed only when a
    decision or a write needs it: as Python dicts it is the largest part of the book.
    """

    meta: dict[str, Any]
    spec_raw: dict[str, Any]
    status_raw: str = "{}"
    last_trigger: str | None = None
    spec: CronJobSpecSpec | None = None
    problem: Problem | None = None
    next_due: datetime | None = None
    token: int = 0
    running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    replaced: set[str] = field(default_factory=set)
    trigger_seen: str | None = None
    #: Bad content found while running (a missing Secret); recorded with the run's result.
    run_problem: ContentProblem | None = None
    #: The missing Secret the newest result made the resource Invalid for: looked up again
    #: every few seconds (secret_recheck.py), so the resource is valid as soon as it exists.
    secret_problem: Problem | None = None
    #: The shard the resource falls in (sharding.shard_of of its uid): never changes.
    shard: int = 0
    #: The latest scheduled time this process fired (Unknown records start after it).
    last_fired: datetime | None = None
    #: Scheduled times after a takeover's watermark, fired late in order (scheduler._plan).
    backlog: collections.deque[datetime] = field(default_factory=collections.deque)
    #: Catch-up runs waiting in the due queue: (missed count, missed from) by time.
    catch_up: dict[datetime, tuple[int, datetime | None]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deleted: bool = False
    #: Run objects of workflow runs in flight here, by run id.
    objects: dict[str, ObjectRef] = field(default_factory=dict)
    #: Run ids whose object is listed in status.active (by this operator or a former one):
    #: their result is written only while it is still listed, so exactly once.
    listed: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, obj: dict[str, Any]) -> Entry:
        entry = cls(meta={}, spec_raw={})
        entry.observe(obj)
        return entry

    @property
    def key(self) -> tuple[str, str]:
        return self.meta["namespace"], self.meta["name"]

    @property
    def uid(self) -> str:
        return self.meta["uid"]

    @property
    def generation(self) -> int:
        return int(self.meta.get("generation", 1))

    @property
    def status(self) -> dict[str, Any]:
        return json.loads(self.status_raw)

    @property
    def obj(self) -> dict[str, Any]:
        """The object as last seen, rebuilt for a decision or a write."""
        return {"metadata": self.meta, "spec": self.spec_raw, "status": self.status}

    @property
    def created(self) -> datetime:
        created = runs.parse_time(self.meta.get("creationTimestamp"))
        return created or datetime.now(UTC)

    def observe(self, obj: dict[str, Any]) -> None:
        """Keep the newest copy: a watch event may arrive after our own newer write."""
        if resource_version(obj) < resource_version({"metadata": self.meta}):
            return
        status = obj.get("status") or {}
        self.meta = _compact_meta(obj["metadata"])
        self.spec_raw = obj.get("spec") or {}
        self.status_raw = json.dumps(status, separators=(",", ":"))
        self.last_trigger = status.get("lastTrigger")
