"""schemathesis against the cron-registry operations: no 5xx, every response as declared.

The facade runs with handlers that point at the discard port on loopback (no operator runs
here, and a trigger only sets an annotation). Generated bodies are sometimes given a known
handler and a valid schedule so registrations and updates also succeed; half the `job_id`s
are replaced by real ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api_process import ApiProcess, api_with_settings
from tests.support.schemathesis_runs import LOOPBACK, Dialect, bearer, dialect_tests, fuzzing_key, seed

BASE = "/api/v1/cron/jobs"
HANDLERS = {
    "reminder_scheduler": {"http": {"url": f"{LOOPBACK}remind"}},
    "nightly_report": {"workflow": {"templateRef": {"name": "nightly-report"}}},
}
SCHEDULES = ["0 8 * * *", "*/15 * * * *", "@hourly", "0 9 * * 1-5"]


def repaired(body: dict[str, Any], handler: str, schedule: str) -> dict[str, Any]:
    return {**body, "handler": handler, "schedule": schedule}


registry_api = api_with_settings("registry_api", {"handlers": HANDLERS})


@pytest.fixture
def dialect(registry_api: ApiProcess, namespace: str) -> Dialect:
    """One real job per handler in the test's namespace for half of the `job_id`s."""
    key = fuzzing_key(registry_api, namespace)
    bodies = [{"name": f"seed {i}", "schedule": "0 8 * * *", "handler": h} for i, h in enumerate(HANDLERS)]
    with registry_api.client(key) as client:
        jobs = seed(client, BASE, bodies, id_field="job_id")
    return Dialect(registry_api.url, bearer(key), repaired, (list(HANDLERS), SCHEDULES), {"job_id": jobs})


test_fuzzed_requests, test_coverage_requests = dialect_tests(BASE)
