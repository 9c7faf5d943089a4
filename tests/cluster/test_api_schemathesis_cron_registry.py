"""schemathesis against the cron-registry operations: no 5xx, every response as declared.

The facade runs with handlers that point at the discard port on loopback (no operator runs
here, and a trigger only sets an annotation). Generated bodies are sometimes given a known
handler and a valid schedule so registrations and updates also succeed; half the `job_id`s
are replaced by real ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import strategies as st

from tests.cluster.test_api_schemathesis import LOOPBACK
from tests.support.api_process import ApiProcess
from tests.support.cluster import Cluster
from tests.support.schemathesis_runs import coverage, fuzz, operations

BASE = "/api/v1/cron/jobs"
HANDLERS = {
    "reminder_scheduler": {"http": {"url": f"{LOOPBACK}remind"}},
    "nightly_report": {"workflow": {"templateRef": {"name": "nightly-report"}}},
}
SCHEDULES = ["0 8 * * *", "*/15 * * * *", "@hourly", "0 9 * * 1-5"]


def repaired(body: dict[str, Any], handler: str, schedule: str) -> dict[str, Any]:
    return {**body, "handler": handler, "schedule": schedule}


@pytest.fixture(scope="module")
def registry_api(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    folder = tmp_path_factory.mktemp("registry-fuzz")
    path: Path = folder / "settings.yaml"
    path.write_text(yaml.safe_dump({"handlers": HANDLERS}))
    process = ApiProcess(
        cluster.kubeconfig, "cronwright-keys", folder / "api.log", extra=("--config", str(path))
    )
    yield process.start()
    process.stop()


@pytest.fixture
def key(registry_api: ApiProcess, namespace: str) -> str:
    return registry_api.new_key(namespace, rate_per_second=1000.0, rate_burst=1000)


@pytest.fixture
def jobs(registry_api: ApiProcess, key: str) -> list[str]:
    with registry_api.client(key) as client:
        made = [
            client.post(BASE, json={"name": f"seed {i}", "schedule": "0 8 * * *", "handler": handler})
            for i, handler in enumerate(HANDLERS)
        ]
    assert all(r.status_code == 201 for r in made), [r.text for r in made]
    return [r.json()["job_id"] for r in made]


@pytest.fixture
def api_schema(registry_api: ApiProcess, jobs: list[str]) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{registry_api.url}/openapi.json", config=schemathesis.Config())

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        if not isinstance(body, dict):
            return st.just(body)
        fixed = st.builds(
            repaired, st.just(body), st.sampled_from(list(HANDLERS)), st.sampled_from(SCHEDULES)
        )
        return st.one_of(st.just(body), fixed)

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if not isinstance(path_parameters, dict) or "job_id" not in path_parameters:
            return st.just(path_parameters)
        real = st.sampled_from(jobs).map(lambda j: {**path_parameters, "job_id": j})
        return st.one_of(st.just(path_parameters), real)

    return schema


@pytest.mark.parametrize(("method", "path"), operations(BASE), ids=lambda v: v)
def test_fuzzed_requests(
    registry_api: ApiProcess, api_schema: schemathesis.BaseSchema, key: str, method: str, path: str
) -> None:
    statuses = fuzz(api_schema, method, path, registry_api.url, key)
    # Not vacuous: every operation also succeeded at least once (a registered job, a real id).
    assert any(200 <= status < 300 for status in statuses), dict(statuses)


@pytest.mark.parametrize(("method", "path"), operations(BASE), ids=lambda v: v)
def test_coverage_requests(
    registry_api: ApiProcess,
    api_schema: schemathesis.BaseSchema,
    key: str,
    jobs: list[str],
    method: str,
    path: str,
) -> None:
    def steer(i: int, case: schemathesis.Case) -> None:
        if i % 2 and isinstance(case.path_parameters, dict) and "job_id" in case.path_parameters:
            case.path_parameters = {**case.path_parameters, "job_id": jobs[i // 2 % len(jobs)]}

    assert coverage(api_schema, method, path, registry_api.url, key, steer) > 0
