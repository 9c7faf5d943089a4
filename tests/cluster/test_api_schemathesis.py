"""schemathesis against the a1base operations (tests/support/schemathesis_runs.py): no 5xx,
and every response as declared.

Every a1base operation is called by a key bound to the test's namespace. Two real jobs are
made first; half of the `cron_job_id`s are replaced by theirs, so reads and writes also hit
existing jobs. Every `endpoint_url` is moved to the discard port on loopback (and no operator
runs here anyway).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api_process import ApiProcess
from tests.support.schemathesis_runs import LOOPBACK, Dialect, bearer, dialect_tests, fuzzing_key, seed

BASE = "/v1/cron-jobs"
SCHEDULES = [
    {"frequency": "daily", "time": "09:00"},
    {"frequency": "weekly", "time": "23:59", "day_of_week": 0},
    {"frequency": "monthly", "time": "00:00", "day_of_month": 31},
    {"frequency": "custom", "custom_schedule": "*/5 * * * *"},
    {"frequency": "custom", "custom_schedule": "0 9 * * 1-5", "time": "09:00"},
]
SCHEDULE_FIELDS = ("frequency", "time", "day_of_week", "day_of_month", "custom_schedule")
ZONES = ["UTC", "Asia/Kolkata", "America/New_York", "Pacific/Chatham"]


def repaired(body: dict[str, Any], schedule: dict[str, Any], zone: str) -> dict[str, Any]:
    """`body` with a consistent schedule, a real zone and acceptable header names.

    Random data almost never satisfies the rules between fields (daily needs a time, weekly a
    day...), so without this nearly every create would be a 400 and nothing would be stored.
    """
    kept = {k: v for k, v in body.items() if k not in SCHEDULE_FIELDS}
    headers = kept.get("headers")
    if isinstance(headers, dict):
        kept["headers"] = {
            k: v
            for k, v in headers.items()
            if k and not any(c in k for c in " \t\r\n:") and isinstance(v, str) and not {"\r", "\n"} & set(v)
        }
    return {**kept, **schedule, "timezone": zone}


@pytest.fixture
def key(api: ApiProcess, namespace: str) -> str:
    return fuzzing_key(api, namespace)


@pytest.fixture
def jobs(api: ApiProcess, key: str) -> list[str]:
    """Ids of two real jobs in the test's namespace."""
    kinds = [
        {"frequency": "daily", "headers": {"Authorization": "Bearer x"}},
        {"frequency": "weekly", "day_of_week": 1},
    ]
    bodies = [
        {"endpoint_url": f"{LOOPBACK}seed-{i}", "time": "09:00", "method": "POST", **kind}
        for i, kind in enumerate(kinds)
    ]
    with api.client(key) as client:
        return seed(client, BASE, bodies)


@pytest.fixture
def dialect(api: ApiProcess, key: str, jobs: list[str]) -> Dialect:
    return Dialect(
        api.url,
        bearer(key),
        repaired,
        (SCHEDULES, ZONES),
        {"cron_job_id": jobs},
        url_field=lambda body: "endpoint_url",
    )


test_fuzzed_requests, test_coverage_requests = dialect_tests(BASE)


def test_openapi_declares_the_dialect_errors_and_no_422(api: ApiProcess) -> None:
    spec = httpx.get(f"{api.url}/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, f"{method} {path}"
            if not path.startswith(BASE):
                continue  # each dialect's own file checks its envelope
            assert responses["400"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorEnvelope"
            }, f"{method} {path}"
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_findings_stay_fixed(api: ApiProcess, key: str) -> None:
    """What schemathesis found, pinned: an empty `timezone` was a 500 (the schedule model
    refused it after the facade's own checks had let it through)."""
    job = {"endpoint_url": f"{LOOPBACK}x", "frequency": "daily", "time": "00:00", "method": "POST"}
    with api.client(key) as client:
        created = client.post(BASE, json={**job, "timezone": ""})
        assert created.status_code == 400 and "timezone" in created.json()["error"]["details"], created.text
        job_id = client.post(BASE, json=job).json()["id"]
        patched = client.patch(f"{BASE}/{job_id}", json={"timezone": ""})
        assert patched.status_code == 400 and "timezone" in patched.json()["error"]["details"], patched.text
