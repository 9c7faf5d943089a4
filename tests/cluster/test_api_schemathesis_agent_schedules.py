"""schemathesis against the agent-schedules operations: no 5xx, every response as declared.

Generated bodies are sometimes repaired into a consistent type (cron needs cron_expression,
once next_run, delayed delay_seconds) so creates and updates also succeed; half the path
parameters are replaced by a real agent and its real schedules. A webhook `callback_id` is a
URL: it is always moved to the discard port on loopback (and no operator runs here anyway).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import strategies as st

from tests.cluster.test_api_schemathesis import LOOPBACK
from tests.support.api_process import ApiProcess
from tests.support.schemathesis_runs import coverage, fuzz, operations

PREFIX = "/api/agents"
AGENT = "agent-fuzz"
TYPES = [
    {"type": "cron", "cron_expression": "*/5 * * * *"},
    {"type": "cron", "cron_expression": "0 9 * * 1"},
    {"type": "once", "next_run": "2030-01-01T00:00:00Z"},
    {"type": "delayed", "delay_seconds": 3600},
]
TYPE_FIELDS = ("type", "cron_expression", "next_run", "delay_seconds")


def on_loopback(body: Any) -> Any:
    """The body with a webhook's `callback_id` moved to the discard port on loopback."""
    if (
        isinstance(body, dict)
        and body.get("callback_type") == "webhook"
        and isinstance(body.get("callback_id"), str)
    ):
        body = {**body, "callback_id": LOOPBACK + quote(body["callback_id"][:64], safe="")}
    return body


def is_on_loopback(body: Any) -> bool:
    url = (
        body.get("callback_id") if isinstance(body, dict) and body.get("callback_type") == "webhook" else None
    )
    return not isinstance(url, str) or url.startswith(LOOPBACK)


def repaired(body: dict[str, Any], kind: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in body.items() if k not in TYPE_FIELDS}, **kind}


@pytest.fixture
def key(api: ApiProcess, namespace: str) -> str:
    return api.new_key(namespace, rate_per_second=1000.0, rate_burst=1000)


@pytest.fixture
def schedules(api: ApiProcess, key: str) -> list[str]:
    with api.client(key) as client:
        made = [
            client.post(
                f"{PREFIX}/{AGENT}/schedules",
                json={"name": f"seed {i}", "callback_id": f"wf-{i}", **kind},
            )
            for i, kind in enumerate(TYPES[::2])
        ]
    assert all(r.status_code == 201 for r in made), [r.text for r in made]
    return [r.json()["id"] for r in made]


@pytest.fixture
def api_schema(api: ApiProcess, schedules: list[str]) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json", config=schemathesis.Config())

    @schema.hook
    def map_body(context: schemathesis.HookContext, body: Any) -> Any:
        return on_loopback(body)

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        if not isinstance(body, dict):
            return st.just(body)
        return st.one_of(st.just(body), st.builds(repaired, st.just(body), st.sampled_from(TYPES)))

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if not isinstance(path_parameters, dict) or "agent_id" not in path_parameters:
            return st.just(path_parameters)
        real = {"agent_id": AGENT}
        if "schedule_id" in path_parameters:
            return st.one_of(
                st.just(path_parameters),
                st.sampled_from(schedules).map(lambda s: {**path_parameters, **real, "schedule_id": s}),
            )
        return st.one_of(st.just(path_parameters), st.just({**path_parameters, **real}))

    return schema


@pytest.mark.parametrize(("method", "path"), operations(PREFIX), ids=lambda v: v)
def test_fuzzed_requests(
    api: ApiProcess, api_schema: schemathesis.BaseSchema, key: str, method: str, path: str
) -> None:
    statuses = fuzz(api_schema, method, path, api.url, key, is_on_loopback)
    # Not vacuous: every operation also succeeded at least once (a stored schedule, a real id).
    assert any(200 <= status < 300 for status in statuses), dict(statuses)


@pytest.mark.parametrize(("method", "path"), operations(PREFIX), ids=lambda v: v)
def test_coverage_requests(
    api: ApiProcess,
    api_schema: schemathesis.BaseSchema,
    key: str,
    schedules: list[str],
    method: str,
    path: str,
) -> None:
    def steer(i: int, case: schemathesis.Case) -> None:
        case.body = on_loopback(case.body)
        if i % 2 and isinstance(case.path_parameters, dict):
            case.path_parameters = {**case.path_parameters, "agent_id": AGENT}
            if "schedule_id" in case.path_parameters:
                case.path_parameters["schedule_id"] = schedules[i // 2 % len(schedules)]

    assert coverage(api_schema, method, path, api.url, key, steer) > 0
