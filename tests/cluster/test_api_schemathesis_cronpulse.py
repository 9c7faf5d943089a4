"""schemathesis against the cronpulse operations of /openapi.json: no 5xx, every response as
declared.

The machinery is tests/support/schemathesis_runs.py's (checks, example count, loopback); what
differs is the dialect: the key goes in `X-API-Key`, every generated `url` (a job's target or a
project's home page) is moved to the discard port on loopback, and half of the path ids and
`projectId`s are replaced by real ones (two projects, two jobs made first) so that reads and
writes also hit existing objects. No operator runs here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.api_process import ApiProcess
from tests.support.schemathesis_runs import LOOPBACK, Dialect, dialect_tests, fuzzing_key, seed

PREFIXES = ("/api/v1/projects", "/api/v1/jobs")
SCHEDULES = ["*/5 * * * *", "0 9 * * 1-5", "@daily", "*/10 * * * * *"]


def repaired(body: dict[str, Any], schedule: str, project_id: str) -> dict[str, Any]:
    """`body` with a valid schedule, a real project and acceptable header names: random data
    almost never has them, so without this nearly every create would be a 400."""
    fixed = {**body, "schedule": schedule, "projectId": project_id}
    headers = fixed.get("headers")
    if isinstance(headers, dict):
        fixed["headers"] = {
            k: v
            for k, v in headers.items()
            if k.isascii() and k.replace("-", "").isalnum() and isinstance(v, str) and v.isprintable()
        }
    return fixed


@pytest.fixture
def key(api: ApiProcess, namespace: str) -> str:
    return fuzzing_key(api, namespace, ("*",))


@pytest.fixture
def seeded(api: ApiProcess, key: str) -> dict[str, list[str]]:
    """Ids of two real projects and two real jobs in the test's namespace."""
    with api.client(key, header="x-api-key") as client:
        project_ids = seed(client, "/api/v1/projects", [{"name": f"P{i}"} for i in range(2)])
        jobs = [
            {
                "name": f"J{i}",
                "projectId": project_ids[i],
                "url": f"{LOOPBACK}seed-{i}",
                "method": "POST",
                "schedule": "0 9 * * *",
                **extra,
            }
            for i, extra in enumerate([{"headers": {"Authorization": "Bearer x"}}, {"heartbeat": True}])
        ]
        return {"project_id": project_ids, "job_id": seed(client, "/api/v1/jobs", jobs)}


@pytest.fixture
def dialect(api: ApiProcess, key: str, seeded: dict[str, list[str]]) -> Dialect:
    repair_from = (SCHEDULES, seeded["project_id"])
    return Dialect(api.url, {"X-API-Key": key}, repaired, repair_from, seeded, url_field=lambda body: "url")


test_fuzzed_requests, test_coverage_requests = dialect_tests(*PREFIXES)


def test_findings_stay_fixed(api: ApiProcess, key: str, seeded: dict[str, list[str]]) -> None:
    """Inputs that reach past the field types into the schedule math and the API server."""
    job = {"name": "x", "projectId": seeded["project_id"][0], "url": f"{LOOPBACK}x", "method": "GET"}
    with api.client(key, header="x-api-key") as client:
        for schedule in ("", " ", "* * * * * * * *", "@every 5m", "0 0 30 2 *"):
            response = client.post("/api/v1/jobs", json={**job, "schedule": schedule})
            assert response.status_code == 400 and "schedule" in response.json()["error"], response.text
        for project_id in ("../x", "A", "x" * 300, "%2F"):
            response = client.get(f"/api/v1/projects/{quote(project_id, safe='')}")
            assert response.status_code == 404, (project_id, response.text)
        assert httpx.get(f"{api.url}/api/v1/jobs", headers={"X-API-Key": key}).status_code == 200
