"""schemathesis against every asta operation of the facade's /openapi.json: no 5xx, every
response as declared (status code, content type, body schema).

The checks, example count and machinery are tests/support/schemathesis_runs.py's. asta
requests carry no URL: a job's target is a channel named in the settings file, and this
module's channels point at the discard port on loopback (no operator runs here).
Random data rarely holds a valid cron expression, a real zone and a configured channel at
once, so half of the generated bodies get those repaired; half of the `job_id`s are real.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api_process import ApiProcess, api_with_settings
from tests.support.schemathesis_runs import LOOPBACK, Dialect, bearer, dialect_tests, fuzzing_key, seed

BASE = "/api/cron"
CHANNELS = {"web": {"url": f"{LOOPBACK}web"}, "telegram": {"url": f"{LOOPBACK}telegram"}}
CRONS = ["0 9 * * 1-5", "*/15 * * * *", "30 14 * * *", "0 0 1 * *", "0 */2 * * *"]
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]


def repaired(body: dict[str, Any], cron: str, zone: str, channel: str) -> dict[str, Any]:
    return {**body, "cron_expr": cron, "tz": zone, "channel": channel}


facade = api_with_settings("facade", {"channels": CHANNELS})


@pytest.fixture
def dialect(facade: ApiProcess, namespace: str) -> Dialect:
    """Two real jobs in the test's namespace for half of the `job_id`s."""
    key = fuzzing_key(facade, namespace)
    bodies = [
        {"name": f"seed-{i}", "cron_expr": CRONS[i], "message": "m", "channel": c}
        for i, c in enumerate(CHANNELS)
    ]
    with facade.client(key) as client:
        jobs = seed(client, BASE, bodies, created=200)
    return Dialect(facade.url, bearer(key), repaired, (CRONS, ZONES, sorted(CHANNELS)), {"job_id": jobs})


test_fuzzed_requests, test_coverage_requests = dialect_tests(BASE)
