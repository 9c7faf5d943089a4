"""A resource made Invalid by a missing Secret is valid again as soon as the Secret exists.

A run that finds a headersFrom or signing Secret (or key) missing fails and marks its
resource Invalid, naming the field. Without a second look the phase stayed Invalid until
the next run — a day later for a daily job — although the user had created the Secret a
minute after reading the condition. The operator may only `get` Secrets (it never lists
or watches them: see the chart's RBAC), so the few resources waiting for one are looked up
by name every few seconds: one GET per referenced Secret of a waiting resource, nothing
for all the others, and a write only when the verdict changes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from cronwright.core.kube import ApiError
from cronwright.core.models import Phase
from cronwright.operator import periodic, planning
from cronwright.operator.book import Entry
from cronwright.operator.events import EventRecorder
from cronwright.operator.planning import Problem
from cronwright.operator.scheduler import Scheduler
from cronwright.operator.secrets import SecretProblem
from cronwright.operator.status_writer import Gone

log = logging.getLogger(__name__)

#: How often waiting resources look their Secrets up again.
RECHECK_SECONDS = 5.0


def revalidate_patch(
    status: dict[str, Any], problem: Problem, phase: Phase, generation: int, now: datetime
) -> dict[str, Any] | None:
    """The status of a resource whose missing Secret appeared; None when the status no
    longer shows that problem (a newer run or spec change judged it already)."""
    valid = next((c for c in status.get("conditions") or [] if c.get("type") == "Valid"), {})
    if status.get("phase") != Phase.Invalid or valid.get("message") != str(problem):
        return None
    return {"phase": str(phase), "conditions": planning.conditions_for(status, generation, now, None, phase)}


class SecretRecheck:
    def __init__(
        self, scheduler: Scheduler, events: EventRecorder, interval: float = RECHECK_SECONDS
    ) -> None:
        self.scheduler = scheduler
        self.events = events
        self.interval = interval

    async def run(self) -> None:
        await periodic.every(self.interval, self.check_once, "Secret re-check")

    async def check_once(self) -> None:
        for entry in self.scheduler.owned():
            if entry.secret_problem is not None and entry.spec is not None and not entry.deleted:
                await self._check(entry, entry.secret_problem)

    async def _check(self, entry: Entry, problem: Problem) -> None:
        spec = entry.spec
        assert spec is not None
        if spec.http is None:
            entry.secret_problem = None
            return
        try:
            await self.scheduler.secret_values(entry.key[0], spec.http, fresh=True)
        except SecretProblem:
            return  # still missing (or another reference is): the condition already says so
        except ApiError as error:
            log.warning("Secrets of %s/%s not looked up: %s", *entry.key, error)
            return
        phase = planning.phase_of(spec, entry.next_due)
        now = datetime.now(UTC)

        def compute(obj: dict[str, Any]) -> dict[str, Any] | None:
            status = obj.get("status") or {}
            return revalidate_patch(status, problem, phase, int(obj["metadata"].get("generation", 1)), now)

        try:
            written = await self.scheduler.write_status(entry, compute, "recheck")
        except Gone:
            return
        except ApiError as error:
            log.warning("status of %s/%s not updated after its Secret appeared: %s", *entry.key, error)
            return
        if entry.secret_problem == problem:
            entry.secret_problem = None
        if written is not None:
            message = f"{problem.field}: the Secret is there now; the next run sends it"
            self.events.post(entry.meta, "Normal", "SecretFound", message)
            log.info("%s/%s valid again: %s", *entry.key, message)
