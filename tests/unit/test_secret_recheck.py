"""The verdict of the Secret re-check: a resource Invalid for a missing Secret is judged
again once the Secret exists, and never one that is Invalid (or fine) for another reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cronwright.core.models import Phase
from cronwright.operator.planning import Problem, conditions_for
from cronwright.operator.secret_recheck import revalidate_patch

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
MISSING = Problem("spec.http.headersFrom[0]", 'Secret "hook" not found in namespace "team-a"')
OTHER = Problem("spec.http.signing.secretKeyRef", 'Secret "signing" has no key "key"')


def invalid_for(problem: Problem) -> dict:
    return {"phase": "Invalid", "conditions": conditions_for({}, 1, T0, problem, Phase.Invalid)}


@pytest.mark.parametrize(
    ("status", "clears"),
    [
        (invalid_for(MISSING), True),
        (invalid_for(OTHER), False),  # a newer run found another reference missing
        ({"phase": "Active", "conditions": conditions_for({}, 1, T0, None, Phase.Active)}, False),
        ({}, False),
    ],
)
def test_only_the_problem_the_recheck_looked_up_is_cleared(status: dict, clears: bool) -> None:
    patch = revalidate_patch(status, MISSING, Phase.Active, 1, T0)
    assert (patch is not None) == clears
    if patch is not None:
        assert patch["phase"] == "Active"
        by_type = {c["type"]: c for c in patch["conditions"]}
        assert by_type["Valid"]["status"] == "True" and by_type["Ready"]["status"] == "True"


def test_a_paused_resource_becomes_paused_not_active() -> None:
    patch = revalidate_patch(invalid_for(MISSING), MISSING, Phase.Paused, 1, T0)
    assert patch is not None and patch["phase"] == "Paused"
