"""What every side says the same way about runs: the manual-trigger annotation, run ids,
idempotency keys and the time format in status.

The operator names runs with these; the facade and the kubectl plugin compute the same
names (a manual run's id is known before the run starts) and read the same times. They
live in core so that neither shell has to import the other.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

#: Setting this annotation to a new value asks the operator for one run now.
TRIGGER_ANNOTATION = "cronwright.io/trigger"


def rfc3339(moment: datetime) -> str:
    """UTC with a Z; milliseconds only when the instant has them (sub-second `every`)."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def run_id(uid: str, scheduled: datetime, trigger_value: str | None = None) -> str:
    """Stable: the same resource, scheduled time (and manual trigger value) always give
    the same id, so a retried write or a restarted operator names the run the same."""
    seed = f"{uid}|{rfc3339(scheduled)}|{trigger_value or ''}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def manual_run_id(uid: str, trigger_value: str) -> str:
    """A manual run is named by its trigger value alone, so whoever sets the trigger
    annotation (the facade's trigger endpoints) knows the run id before the run starts."""
    return hashlib.sha256(f"{uid}|manual|{trigger_value}".encode()).hexdigest()[:16]


def idempotency_key(uid: str, scheduled: datetime, trigger_value: str | None = None) -> str:
    """Same for every attempt of one run; receivers can deduplicate on it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cronwright:{uid}:{rfc3339(scheduled)}:{trigger_value or ''}"))
