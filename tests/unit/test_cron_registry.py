"""cron-registry translation: ids, handlers expanded at write time, names kept exactly."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from cronwright.api.dialects.cron_registry import (
    RegistryJobFields,
    handler_problems,
    job_id,
    name_from_id,
    problems_of,
    resource_name,
    spec_of,
    summary,
)
from cronwright.core.config import Config

CONFIG = Config.model_validate(
    {
        "handlers": {
            "reminder_scheduler": {"http": {"url": "http://127.0.0.1:9/remind"}},
            "nightly": {"workflow": {"templateRef": {"name": "nightly-report"}}},
        }
    }
)


@given(st.text(min_size=1, max_size=256))
def test_resource_names_are_valid_and_their_ids_map_back(name: str) -> None:
    made = resource_name(name)
    assert len(made) <= 63 and re.fullmatch(r"job-([a-z0-9]+-)*[0-9a-f]{6}", made), made
    assert name_from_id(job_id({"metadata": {"name": made}})) == made


def test_ids_with_a_dash_are_no_job() -> None:
    assert name_from_id("job-a") is None


def test_handlers_are_expanded_into_the_spec() -> None:
    fields = RegistryJobFields(
        name="Daily Reminder Check", schedule="0 8 * * *", handler="reminder_scheduler"
    )
    spec = spec_of(fields, CONFIG)
    assert spec["http"]["url"] == "http://127.0.0.1:9/remind" and spec["suspend"] is False
    workflow = spec_of(
        RegistryJobFields(name="n", schedule="@daily", handler="nightly", enabled=False), CONFIG
    )
    assert workflow["workflow"]["templateRef"]["name"] == "nightly-report" and workflow["suspend"] is True


def test_unknown_handlers_and_bad_schedules_name_the_field() -> None:
    assert "handler" in handler_problems("nope", CONFIG)
    assert handler_problems("nightly", CONFIG) == {}
    assert problems_of({"name": "n", "schedule": "not cron"}).keys() == {"schedule"}
    assert problems_of({"name": " ", "schedule": "0 8 * * *"}).keys() == {"name"}
    assert problems_of({"name": "n", "schedule": "0 8 * * *"}) == {}


def test_summary_reads_back_what_was_sent() -> None:
    fields = RegistryJobFields(
        name="Daily Reminder Check", schedule="0 8 * * *", handler="reminder_scheduler"
    )
    obj = {
        "metadata": {
            "name": "job-daily-reminder-check-3fa9c1",
            "uid": "u",
            "creationTimestamp": "2026-03-26T10:00:00Z",
            "annotations": {
                "cron-registry.cronwright.io/name": fields.name,
                "cron-registry.cronwright.io/handler": fields.handler,
            },
        },
        "spec": spec_of(fields, CONFIG),
        "status": {"lastRun": {"id": "r", "startTime": "2026-03-26T08:00:00Z", "durationMs": 3820}},
    }
    assert summary(obj, datetime(2026, 3, 26, 10, 0, tzinfo=UTC)) == {
        "job_id": "job_daily_reminder_check_3fa9c1",
        "name": "Daily Reminder Check",
        "schedule": "0 8 * * *",
        "handler": "reminder_scheduler",
        "status": "active",
        "last_triggered_at": "2026-03-26T08:00:00Z",
        "next_trigger_at": "2026-03-27T08:00:00Z",
    }
