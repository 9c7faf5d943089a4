"""schemathesis against every asta operation of the facade's /openapi.json: no 5xx, every
response as declared (status code, content type, body schema).

The checks, example count and approach are those of test_api_schemathesis.py (imported, not
copied). asta requests carry no URL: a job's target is a channel named in the settings file,
and this module's channels point at the discard port on loopback (no operator runs here).
Random data rarely holds a valid cron expression, a real zone and a configured channel at
once, so half of the generated bodies get those repaired; half of the `job_id`s are real.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronwright.api.app import ApiSettings, create_app
from tests.cluster.test_api_schemathesis import CHECKS, EXAMPLES, LOOPBACK
from tests.support.api_process import ApiProcess
from tests.support.cluster import Cluster

BASE = "/api/cron"
CHANNELS = {"web": {"url": f"{LOOPBACK}web"}, "telegram": {"url": f"{LOOPBACK}telegram"}}
CRONS = ["0 9 * * 1-5", "*/15 * * * *", "30 14 * * *", "0 0 1 * *", "0 */2 * * *"]
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]


def repaired(body: dict[str, Any], cron: str, zone: str, channel: str) -> dict[str, Any]:
    return {**body, "cron_expr": cron, "tz": zone, "channel": channel}


@pytest.fixture(scope="module")
def facade(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    folder = tmp_path_factory.mktemp("asta-schemathesis")
    config = folder / "settings.yaml"
    config.write_text(json.dumps({"channels": CHANNELS}))
    process = ApiProcess(
        cluster.kubeconfig, "cronwright-keys", folder / "api.log", extra=("--config", str(config))
    ).start()
    yield process
    process.stop()


@pytest.fixture
def key(facade: ApiProcess, namespace: str) -> str:
    return facade.new_key(namespace, rate_per_second=1000.0, rate_burst=1000)


@pytest.fixture
def jobs(facade: ApiProcess, key: str) -> list[int]:
    """Ids of two real jobs in the test's namespace."""
    with facade.client(key) as client:
        seeded = [
            client.post(BASE, json={"name": f"seed-{i}", "cron_expr": CRONS[i], "message": "m", "channel": c})
            for i, c in enumerate(CHANNELS)
        ]
    assert all(r.status_code == 200 for r in seeded), [r.text for r in seeded]
    return [r.json()["id"] for r in seeded]


@pytest.fixture
def api_schema(facade: ApiProcess, jobs: list[int]) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{facade.url}/openapi.json", config=schemathesis.Config())

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        if not isinstance(body, dict):
            return st.just(body)
        fixed = st.builds(
            repaired,
            st.just(body),
            st.sampled_from(CRONS),
            st.sampled_from(ZONES),
            st.sampled_from(sorted(CHANNELS)),
        )
        return st.one_of(st.just(body), fixed)

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if not isinstance(path_parameters, dict) or "job_id" not in path_parameters:
            return st.just(path_parameters)
        real = st.sampled_from(jobs).map(lambda i: {**path_parameters, "job_id": i})
        return st.one_of(st.just(path_parameters), real)

    return schema


def _operations() -> list[tuple[str, str]]:
    spec = create_app(ApiSettings()).openapi()
    return [(m.upper(), p) for p, ops in spec["paths"].items() if p.startswith(BASE) for m in ops]


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: v)
def test_fuzzed_requests(
    facade: ApiProcess, api_schema: schemathesis.BaseSchema, key: str, method: str, path: str
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
        response = case.call_and_validate(
            base_url=facade.url, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS, timeout=10
        )
        statuses[response.status_code] += 1

    check()
    # Not vacuous: every operation also succeeded at least once (a stored job, a real id).
    assert any(200 <= status < 300 for status in statuses), dict(statuses)


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: v)
def test_coverage_requests(
    facade: ApiProcess, api_schema: schemathesis.BaseSchema, key: str, jobs: list[int], method: str, path: str
) -> None:
    """schemathesis's deterministic coverage cases, every other one on a real job."""
    operation = api_schema[path][method]
    generation = api_schema.config.generation_for(operation=operation, phase="coverage")
    cases = api_schema.iter_coverage_cases(
        operation, generation_modes=list(schemathesis.GenerationMode), generation_config=generation
    )
    count = 0
    for i, case in enumerate(cases):
        if i % 2 and isinstance(case.path_parameters, dict) and "job_id" in case.path_parameters:
            case.path_parameters = {**case.path_parameters, "job_id": jobs[i // 2 % len(jobs)]}
        case.call_and_validate(
            base_url=facade.url, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS, timeout=10
        )
        count += 1
    assert count > 0
