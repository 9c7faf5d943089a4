"""Driving schemathesis over one dialect's operations, shared by the per-dialect fuzz tests.

The checks, the loopback rule and the example count are tests/cluster/test_api_schemathesis.py's
own (imported, so every dialect is held to the same bar); what differs per dialect is only how
bodies and path parameters are steered towards real data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronwright.api.app import ApiSettings, create_app
from tests.cluster.test_api_schemathesis import CHECKS, EXAMPLES


def operations(prefix: str) -> list[tuple[str, str]]:
    """(method, path) of every operation under `prefix`, from the app itself (no server needed)."""
    spec = create_app(ApiSettings()).openapi()
    return [(m.upper(), p) for p, ops in spec["paths"].items() if p.startswith(prefix) for m in ops]


def fuzz(
    schema: schemathesis.BaseSchema,
    method: str,
    path: str,
    base_url: str,
    key: str,
    on_loopback: Callable[[Any], bool] | None = None,
) -> Counter[int]:
    """Generated requests (valid and invalid); each must pass CHECKS. Returns the statuses seen.
    `on_loopback` says whether a body's URLs all point at loopback (for bodies that carry any)."""
    operation = schema[path][method]
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
        assert on_loopback is None or on_loopback(case.body), case.body
        response = case.call_and_validate(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS, timeout=10
        )
        statuses[response.status_code] += 1

    check()
    return statuses


def coverage(
    schema: schemathesis.BaseSchema,
    method: str,
    path: str,
    base_url: str,
    key: str,
    steer: Callable[[int, schemathesis.Case], None],
) -> int:
    """schemathesis's deterministic coverage cases, each steered (loopback URLs, real ids) first."""
    operation = schema[path][method]
    generation = schema.config.generation_for(operation=operation, phase="coverage")
    cases = schema.iter_coverage_cases(
        operation, generation_modes=list(schemathesis.GenerationMode), generation_config=generation
    )
    count = 0
    for i, case in enumerate(cases):
        steer(i, case)
        case.call_and_validate(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS, timeout=10
        )
        count += 1
    return count
