"""schemathesis against the agent-schedules operations: no 5xx, every response as declared.

Generated bodies are sometimes repaired into a consistent type (cron needs cron_expression,
once next_run, delayed delay_seconds) so creates and updates also succeed; half the path
parameters are replaced by a real agent and its real schedules. A webhook `callback_id` is a
URL: it is always moved to the discard port on loopback (and no operator runs here anyway).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api_process import ApiProcess
from tests.support.schemathesis_runs import Body, Dialect, bearer, dialect_tests, fuzzing_key, seed

PREFIX = "/api/agents"
AGENT = "agent-fuzz"
TYPES = [
    {"type": "cron", "cron_expression": "*/5 * * * *"},
    {"type": "cron", "cron_expression": "0 9 * * 1"},
    {"type": "once", "next_run": "2030-01-01T00:00:00Z"},
    {"type": "delayed", "delay_seconds": 3600},
]
TYPE_FIELDS = ("type", "cron_expression", "next_run", "delay_seconds")


def callback_url(body: Body) -> str | None:
    """A webhook's `callback_id` is its URL; other callbacks name a workflow."""
    return "callback_id" if body.get("callback_type") == "webhook" else None


def repaired(body: dict[str, Any], kind: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in body.items() if k not in TYPE_FIELDS}, **kind}


@pytest.fixture
def dialect(api: ApiProcess, namespace: str) -> Dialect:
    """A real agent with two real schedules in the test's namespace for half of the path ids."""
    key = fuzzing_key(api, namespace)
    bodies = [{"name": f"seed {i}", "callback_id": f"wf-{i}", **kind} for i, kind in enumerate(TYPES[::2])]
    with api.client(key) as client:
        schedules = seed(client, f"{PREFIX}/{AGENT}/schedules", bodies)
    seeded = {"agent_id": [AGENT], "schedule_id": schedules}
    return Dialect(api.url, bearer(key), repaired, (TYPES,), seeded, url_field=callback_url)


test_fuzzed_requests, test_coverage_requests = dialect_tests(PREFIX)
