"""schemathesis against the cronpulse operations of /openapi.json: no 5xx, every response as
declared.

The machinery is test_api_schemathesis.py's (checks, example count, the loopback target); what
differs is the dialect: the key goes in `X-API-Key`, every generated `url` (a job's target or a
project's home page) is moved to the discard port on loopback, and half of the path ids and
`projectId`s are replaced by real ones (two projects, two jobs made first) so that reads and
writes also hit existing objects. No operator runs here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronwright.api.app import ApiSettings, create_app
from tests.cluster.test_api_schemathesis import CHECKS, EXAMPLES, LOOPBACK
from tests.support.api_process import ApiProcess

PREFIXES = ("/api/v1/projects", "/api/v1/jobs")
SCHEDULES = ["*/5 * * * *", "0 9 * * 1-5", "@daily", "*/10 * * * * *"]


def on_loopback(body: Any) -> Any:
    """The generated body with any `url` moved to the discard port on loopback."""
    if isinstance(body, dict) and isinstance(body.get("url"), str):
        body = {**body, "url": LOOPBACK + quote(body["url"][:64], safe="")}
    return body


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
    return api.new_key(namespace, ("*",), rate_per_second=1000.0, rate_burst=1000)


@pytest.fixture
def seeded(api: ApiProcess, key: str) -> dict[str, list[str]]:
    """Ids of two real projects and two real jobs in the test's namespace."""
    with api.client(key, header="x-api-key") as client:
        projects = [client.post("/api/v1/projects", json={"name": f"P{i}"}) for i in range(2)]
        assert all(r.status_code == 201 for r in projects), [r.text for r in projects]
        project_ids = [r.json()["id"] for r in projects]
        jobs = [
            client.post(
                "/api/v1/jobs",
                json={
                    "name": f"J{i}",
                    "projectId": project_ids[i],
                    "url": f"{LOOPBACK}seed-{i}",
                    "method": "POST",
                    "schedule": "0 9 * * *",
                    **extra,
                },
            )
            for i, extra in enumerate([{"headers": {"Authorization": "Bearer x"}}, {"heartbeat": True}])
        ]
    assert all(r.status_code == 201 for r in jobs), [r.text for r in jobs]
    return {"project_id": project_ids, "job_id": [r.json()["id"] for r in jobs]}


@pytest.fixture
def api_schema(api: ApiProcess, seeded: dict[str, list[str]]) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json", config=schemathesis.Config())

    @schema.hook
    def map_body(context: schemathesis.HookContext, body: Any) -> Any:
        return on_loopback(body)

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        if not isinstance(body, dict):
            return st.just(body)
        fixed = st.builds(
            repaired, st.just(body), st.sampled_from(SCHEDULES), st.sampled_from(seeded["project_id"])
        )
        return st.one_of(st.just(body), fixed)

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if not isinstance(path_parameters, dict):
            return st.just(path_parameters)
        for name, ids in seeded.items():
            if name in path_parameters:
                real = st.sampled_from(ids).map(lambda i, n=name: {**path_parameters, n: i})
                return st.one_of(st.just(path_parameters), real)
        return st.just(path_parameters)

    return schema


def _operations() -> list[tuple[str, str]]:
    spec = create_app(ApiSettings()).openapi()
    return [(m.upper(), p) for p, ops in spec["paths"].items() if p.startswith(PREFIXES) for m in ops]


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: v)
def test_fuzzed_requests(
    api: ApiProcess, api_schema: schemathesis.BaseSchema, key: str, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    )
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases)
    def check(case: schemathesis.Case) -> None:
        url = case.body.get("url") if isinstance(case.body, dict) else None
        assert not isinstance(url, str) or url.startswith(LOOPBACK), url
        response = case.call_and_validate(
            base_url=api.url, headers={"X-API-Key": key}, checks=CHECKS, timeout=10
        )
        statuses[response.status_code] += 1

    check()
    # Not vacuous: every operation also succeeded at least once (a stored object, a real id).
    assert any(200 <= status < 300 for status in statuses), dict(statuses)


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: v)
def test_coverage_requests(
    api: ApiProcess,
    api_schema: schemathesis.BaseSchema,
    key: str,
    seeded: dict[str, list[str]],
    method: str,
    path: str,
) -> None:
    """schemathesis's deterministic coverage cases; every other one on a real object."""
    operation = api_schema[path][method]
    generation = api_schema.config.generation_for(operation=operation, phase="coverage")
    cases = api_schema.iter_coverage_cases(
        operation, generation_modes=list(schemathesis.GenerationMode), generation_config=generation
    )
    count = 0
    for i, case in enumerate(cases):
        case.body = on_loopback(case.body)
        if i % 2 and isinstance(case.path_parameters, dict):
            for name, ids in seeded.items():
                if name in case.path_parameters:
                    case.path_parameters = {**case.path_parameters, name: ids[i // 2 % len(ids)]}
        case.call_and_validate(base_url=api.url, headers={"X-API-Key": key}, checks=CHECKS, timeout=10)
        count += 1
    assert count > 0


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
