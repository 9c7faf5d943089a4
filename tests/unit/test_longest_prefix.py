"""Which dialect a path belongs to: errors are rendered and requests counted by it."""

from __future__ import annotations

import pytest

from cronwright.api.app import dialect_of
from cronwright.api.errors import longest_prefix

PREFIXES = ["/api/v1/cron/jobs", "/api/v1", "/v1/cron-jobs"]


@pytest.mark.parametrize(
    ("path", "best"),
    [
        ("/api/v1/cron/jobs", "/api/v1/cron/jobs"),
        ("/api/v1/cron/jobs/x/trigger", "/api/v1/cron/jobs"),
        ("/api/v1/cron/jobsx", "/api/v1"),  # whole segments only
        ("/api/v1/projects", "/api/v1"),
        ("/v1/cron-jobs/crn_1", "/v1/cron-jobs"),
        ("/v1/cron", None),
        ("/metrics", None),
    ],
)
def test_longest_prefix(path: str, best: str | None) -> None:
    assert longest_prefix(path, PREFIXES) == best


def test_every_dialect_path_is_counted_under_its_dialect() -> None:
    assert dialect_of("/v1/cron-jobs/crn_1/executions") == "a1base"
    assert dialect_of("/api/v1/cron/jobs/7/trigger") == "cron-registry"
    assert dialect_of("/api/v1/projects/p") == "cronpulse"
    assert dialect_of("/healthz") == "none"
