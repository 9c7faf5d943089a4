"""What the dashboard's JSON says about a job (api/cronwright/api/ui/views.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cronwright.api.ui import views

NOW = datetime(2026, 3, 7, 12, tzinfo=UTC)


def job(schedule: dict[str, Any], status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "cl123",
            "namespace": "shop",
            "uid": "u",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"cronwright.io/dialect": "cronpulse"},
            "annotations": {"cronpulse.cronwright.io/name": "Health Check"},
        },
        "spec": {"schedule": schedule, "http": {"url": "http://127.0.0.1:9/x", "method": "GET"}, **spec},
        "status": status or {},
    }


def runs(*results: str) -> list[dict[str, Any]]:
    """Newest first, as status.history keeps them."""
    return [
        {"id": f"r{i}", "result": r, "startTime": f"2026-03-07T11:{59 - i:02d}:00Z", "attempts": 1}
        for i, r in enumerate(results)
    ]


def test_summary() -> None:
    history = runs("Failed", *["Succeeded"] * 14)
    view = views.summary(
        job({"cron": "*/5 * * * *"}, {"phase": "Active", "history": history, "lastRun": history[0]}), NOW
    )
    assert view["name"] == "cl123" and view["title"] == "Health Check" and view["dialect"] == "cronpulse"
    assert view["schedule"] == "Every 5 minutes" and view["zone"] == "UTC" and view["state"] == "Active"
    assert view["nextRun"] == "2026-03-07T12:05:00Z"
    assert view["lastResult"] == "Failed" and view["successRate"] == 14 / 15
    assert len(view["recent"]) == views.STRIP
    assert view["recent"][-1] == {"result": "Failed", "time": "2026-03-07T11:59:00Z"}, (
        "newest last in the strip"
    )


def test_detail_timeline_is_the_next_day_capped() -> None:
    daily = views.detail(job({"cron": "30 2 * * *", "timeZone": "America/New_York"}), NOW)
    assert daily["timeline"]["runs"] == [
        {"at": "2026-03-08T07:00:00Z", "dst": "02:30 does not exist that day (DST starts): runs at 03:00 EDT"}
    ]
    assert daily["timeline"]["more"] is False and daily["target"] == "GET http://127.0.0.1:9/x"
    dense = views.detail(job({"every": "1s"}), NOW)["timeline"]
    assert len(dense["runs"]) == views.TIMELINE_CAP and dense["more"] is True
    paused = views.detail(job({"every": "1s"}, suspend=True), NOW)
    assert paused["state"] == "Paused" and paused["nextRun"] is None and paused["timeline"]["runs"] == []


def test_detail_history_rows() -> None:
    record = {
        "id": "abc",
        "scheduledTime": "2026-03-07T11:00:00Z",
        "startTime": "2026-03-07T11:00:00.004Z",
        "durationMs": 12,
        "result": "Failed",
        "responseCode": 503,
        "attempts": 3,
        "trigger": "manual",
        "error": "HTTP 503",
    }
    view = views.detail(
        job({"every": "1h"}, {"history": [record], "target": "GET http://127.0.0.1:9/x"}), NOW
    )
    assert view["history"] == [
        {
            "id": "abc",
            "scheduled": "2026-03-07T11:00:00Z",
            "started": "2026-03-07T11:00:00.004Z",
            "durationMs": 12,
            "result": "Failed",
            "code": 503,
            "attempts": 3,
            "trigger": "manual",
            "error": "HTTP 503",
        }
    ]
