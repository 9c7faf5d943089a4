"""agent-schedules translation: what a client sends is what it reads back, and bad combinations
of fields are refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cronwright.api.dialects.agent_schedules import (
    AgentScheduleFields,
    check,
    check_time,
    executions,
    expressible,
    merged,
    spec_of,
    view,
)

NOW = datetime(2026, 3, 26, 10, 0, tzinfo=UTC)


def resource(fields: AgentScheduleFields, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "schedule-abc",
            "uid": "u",
            "creationTimestamp": "2026-03-26T09:00:00Z",
            "labels": {"agent-schedules.cronwright.io/agent-id": "agent-1"},
            "annotations": {"agent-schedules.cronwright.io/name": fields.name},
        },
        "spec": spec_of(fields, "agent-1", "schedule-abc"),
        "status": status or {},
    }


@pytest.mark.parametrize(
    "sent",
    [
        {"type": "cron", "cron_expression": "0 9 * * *"},
        {"type": "once", "next_run": "2026-12-20T15:00:00Z"},
        {"type": "delayed", "delay_seconds": 3600},
    ],
)
def test_each_type_round_trips(sent: dict[str, Any]) -> None:
    fields = AgentScheduleFields.model_validate(
        {"name": "Daily Report", "callback_type": "workflow", "callback_id": "workflow-456", **sent}
    )
    assert check(fields) == {}
    obj = resource(fields)
    assert expressible(obj, "agent-1") and not expressible(obj, "agent-2")
    shown = view(obj, NOW)
    for field, value in sent.items():
        assert shown[field] == value, field
    assert shown["callback_type"] == "workflow" and shown["callback_id"] == "workflow-456"
    assert shown["status"] == "active" and shown["name"] == "Daily Report"
    assert obj["spec"]["workflow"] == {"templateRef": {"kind": "WorkflowTemplate", "name": "workflow-456"}}


def test_next_run_of_each_type() -> None:
    base = {"name": "n", "callback_id": "wf"}
    cron = view(resource(AgentScheduleFields(type="cron", cron_expression="0 9 * * *", **base)), NOW)
    assert cron["next_run"] == "2026-03-27T09:00:00Z"
    delayed = view(resource(AgentScheduleFields(type="delayed", delay_seconds=3600, **base)), NOW)
    assert delayed["next_run"] == "2026-03-26T10:00:00Z", "counted from creation"
    paused = AgentScheduleFields(type="cron", cron_expression="0 9 * * *", status="paused", **base)
    assert view(resource(paused), NOW)["next_run"] is None


def test_a_one_shot_that_ran_is_completed_and_shows_its_execution() -> None:
    fields = AgentScheduleFields(name="n", type="once", next_run=NOW, callback_id="wf")
    run = {"id": "abc", "startTime": "2026-03-26T10:00:01Z", "result": "Succeeded"}
    obj = resource(fields, {"phase": "Completed", "lastRun": run, "history": [run]})
    shown = view(obj, NOW)
    assert shown["status"] == "completed" and shown["last_run"] == "2026-03-26T10:00:01Z"
    assert executions(obj) == [{"id": "exec-abc", "executed_at": "2026-03-26T10:00:01Z", "status": "success"}]


def test_webhook_callbacks_post_to_the_url() -> None:
    fields = AgentScheduleFields(
        name="n",
        type="cron",
        cron_expression="* * * * *",
        callback_type="webhook",
        callback_id="http://127.0.0.1:9/x",
    )
    assert check(fields) == {}
    http = spec_of(fields, "agent-1", "schedule-abc")["http"]
    assert http == {
        "url": "http://127.0.0.1:9/x",
        "method": "POST",
        "body": {"agent_id": "agent-1", "schedule_id": "schedule-abc"},
    }


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        ({"type": "cron"}, "cron_expression"),
        ({"type": "cron", "cron_expression": "every day"}, "cron_expression"),
        ({"type": "once"}, "next_run"),
        ({"type": "delayed"}, "delay_seconds"),
        ({"type": "cron", "cron_expression": "* * * * *", "delay_seconds": 5}, "delay_seconds"),
        ({"type": "once", "next_run": NOW, "cron_expression": "* * * * *"}, "cron_expression"),
        ({"type": "delayed", "delay_seconds": 5, "callback_id": "Not A Name"}, "callback_id"),
        ({"type": "delayed", "delay_seconds": 5, "callback_id": "wf\n"}, "callback_id"),
        (
            {"type": "delayed", "delay_seconds": 5, "callback_type": "webhook", "callback_id": "ftp://x"},
            "callback_id",
        ),
    ],
)
def test_bad_combinations_name_the_field(sent: dict[str, Any], field: str) -> None:
    fields = AgentScheduleFields.model_validate({"name": "n", "callback_id": "wf", **sent})
    assert field in check(fields)


def test_a_put_changing_the_type_drops_the_old_types_field() -> None:
    current = AgentScheduleFields(name="n", type="cron", cron_expression="0 9 * * *", callback_id="wf")
    after = merged(current, {"type": "delayed", "delay_seconds": 60})
    assert after["cron_expression"] is None and after["delay_seconds"] == 60
    assert check(AgentScheduleFields.model_validate(after)) == {}
    sent_back = merged(current, {"next_run": NOW, "status": "paused"})
    assert sent_back["next_run"] is None, "next_run is computed for cron: a GET sent back is accepted"


SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("sent", "before", "refused"),
    [
        ({"type": "once", "next_run": NOW + SECOND}, None, False),
        ({"type": "once", "next_run": NOW}, None, True),  # now has passed by the time it is stored
        ({"type": "once", "next_run": "2024-12-20T15:00:00Z"}, None, True),  # the document's example
        ({"type": "once", "next_run": "2026-03-26T10:00:01"}, None, False),  # offset-less: UTC
        ({"type": "once", "next_run": "2026-03-26T11:00:00+02:00"}, None, True),  # 09:00Z
        ({"type": "once", "next_run": NOW - SECOND}, NOW - SECOND, False),  # sent back unchanged
        ({"type": "once", "next_run": NOW - SECOND}, NOW - 2 * SECOND, True),  # moved, still past
        ({"type": "delayed", "delay_seconds": 5}, None, False),
        ({"type": "cron", "cron_expression": "0 9 * * *"}, None, False),
    ],
)
def test_a_once_time_that_has_passed_is_refused(
    sent: dict[str, Any], before: datetime | None, refused: bool
) -> None:
    fields = AgentScheduleFields.model_validate({"name": "n", "callback_id": "wf", **sent})
    details = check_time(fields, NOW, before)
    assert bool(details) is refused
    assert set(details) <= {"next_run"}
