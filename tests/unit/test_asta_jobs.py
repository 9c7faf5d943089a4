"""asta translation: a job and its resource are inverses, and bad input names the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cronwright.api.dialects import asta_jobs as jobs
from cronwright.core.config import Config

CONFIG = Config.model_validate(
    {
        "channels": {
            "web": {"url": "http://127.0.0.1:9/inbox"},
            "telegram": {
                "url": "http://127.0.0.1:9/tg",
                "method": "PUT",
                "headers": {"X-Source": "cron"},
                "body": {"bot": "asta", "name": "overridden"},
            },
        }
    }
)
EXAMPLE = {
    "name": "daily-standup",
    "cron_expr": "0 9 * * 1-5",
    "message": "Generate daily standup report",
    "tz": "America/New_York",
    "channel": "web",
    "payload_kind": "agentturn",
    "tlg_call": True,
}


def stored(fields: jobs.AstaJobFields, job_id: int = 7, **status: object) -> dict:
    """What the API server would hand back for the written resource."""
    obj = jobs.resource(fields, job_id, "team-a", CONFIG)
    obj["metadata"].update(namespace="team-a", uid="u-1", creationTimestamp="2026-01-15T10:30:00Z")
    if status:
        obj["status"] = status
    return obj


def test_the_document_example_round_trips() -> None:
    fields = jobs.AstaJobFields.model_validate(EXAMPLE)
    obj = stored(fields)
    assert obj["metadata"]["name"] == "asta-7" and jobs.id_of(obj) == 7 and jobs.expressible(obj)
    assert obj["spec"]["schedule"] == {"cron": "0 9 * * 1-5", "timeZone": "America/New_York"}
    view = jobs.view(obj, datetime(2026, 1, 16, 12, tzinfo=UTC))
    assert {k: view[k] for k in EXAMPLE} == EXAMPLE
    assert view["channel_target"] == "" and view["enabled"] is True and view["user_id"] == "team-a"
    assert view["created_at"] == "2026-01-15T10:30:00Z"
    # Friday 16 Jan 2026, 12:00 UTC = 07:00 in New York; next weekday 09:00 is that day, 14:00 UTC
    assert view["next_run_at"] == "2026-01-16T14:00:00Z"
    assert view["last_run_at"] is None and view["last_run_status"] is None


def test_the_channel_is_expanded_with_the_delivery_as_body() -> None:
    fields = jobs.AstaJobFields.model_validate({**EXAMPLE, "channel": "telegram", "channel_target": "42"})
    http = stored(fields)["spec"]["http"]
    assert http["url"] == "http://127.0.0.1:9/tg" and http["method"] == "PUT"
    assert http["headers"] == {"X-Source": "cron"}
    assert http["body"] == {
        "bot": "asta",
        "job_id": 7,
        "user_id": "team-a",
        "name": "daily-standup",
        "message": "Generate daily standup report",
        "channel": "telegram",
        "channel_target": "42",
        "payload_kind": "agentturn",
        "tlg_call": True,
    }


def test_defaults_are_the_documented_ones() -> None:
    fields = jobs.AstaJobFields.model_validate({"name": "n", "cron_expr": "*/15 * * * *", "message": "m"})
    assert (fields.tz, fields.channel, fields.channel_target) == ("UTC", "web", "")
    assert (fields.payload_kind, fields.tlg_call, fields.enabled) == ("agentturn", True, True)


def test_read_only_fields_sent_back_are_ignored_but_unknown_ones_are_refused() -> None:
    as_read = {**EXAMPLE, "id": 3, "user_id": "x", "created_at": "2026-01-01T00:00:00Z", "next_run_at": None}
    assert jobs.AstaJobFields.model_validate(as_read).name == "daily-standup"
    with pytest.raises(ValidationError) as error:
        jobs.AstaJobFields.model_validate({**EXAMPLE, "surprise": 1})
    assert error.value.errors()[0]["loc"] == ("surprise",)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron_expr": "0 9 * *"}, "cron_expr"),
        ({"cron_expr": "0 0 9 * * 1-5"}, "cron_expr"),
        ({"cron_expr": "@daily"}, "cron_expr"),
        ({"cron_expr": "61 9 * * *"}, "cron_expr"),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"channel": "pigeon"}, "channel"),
        ({"name": "   "}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"channel_target": "\x07"}, "channel_target"),
        ({"message": "nul\x00"}, "message"),
    ],
)
def test_checks_name_the_field(change: dict, field: str) -> None:
    fields = jobs.AstaJobFields.model_validate({**EXAMPLE, **change})
    details = jobs.check(fields, CONFIG, channel_needed=True)
    assert list(details) == [field], details


def test_an_unknown_channel_lists_the_configured_ones() -> None:
    fields = jobs.AstaJobFields.model_validate({**EXAMPLE, "channel": "pigeon"})
    assert "configured channels: telegram, web" in jobs.check(fields, CONFIG, True)["channel"][0]
    assert jobs.check(fields, CONFIG, channel_needed=False) == {}
    assert "configured channels: none" in jobs.check(fields, Config(), True)["channel"][0]


def test_what_asta_cannot_express_is_left_out() -> None:
    obj = stored(jobs.AstaJobFields.model_validate(EXAMPLE))
    assert jobs.expressible(obj)
    renamed = {**obj, "metadata": {**obj["metadata"], "name": "crn-0a1b2c"}}
    seconds = {**obj, "spec": {**obj["spec"], "schedule": {"cron": "*/5 * * * * *"}}}
    interval = {**obj, "spec": {**obj["spec"], "schedule": {"every": "30s"}}}
    workflow = {**obj, "spec": {"schedule": obj["spec"]["schedule"], "workflow": {"templateRef": {}}}}
    bare = {**obj, "metadata": {**obj["metadata"], "annotations": {}}}
    for other in (renamed, seconds, interval, workflow, bare):
        assert not jobs.expressible(other)


def test_runs_show_in_the_view() -> None:
    fields = jobs.AstaJobFields.model_validate(EXAMPLE)
    now = datetime(2026, 1, 16, 12, tzinfo=UTC)
    for result, outcome in [("Succeeded", "success"), ("Failed", "failed"), ("Running", "running")]:
        obj = stored(fields, lastRun={"id": "r", "result": result, "startTime": "2026-01-16T14:00:00.123Z"})
        assert jobs.last_run(obj) == ("2026-01-16T14:00:00Z", outcome)
    paused = jobs.AstaJobFields.model_validate({**EXAMPLE, "enabled": False})
    assert jobs.view(stored(paused), now)["next_run_at"] is None


def test_an_update_patch_replaces_the_target_and_keeps_what_it_does_not_touch() -> None:
    old = stored(jobs.AstaJobFields.model_validate({**EXAMPLE, "channel": "telegram"}))
    fields = jobs.AstaJobFields.model_validate({**EXAMPLE, "cron_expr": "0 10 * * 1-5", "enabled": False})
    http = jobs.http_of(fields, 7, "team-a", CONFIG)
    patch = jobs.update_patch(old, fields, http, "2026-01-17T00:00:00Z")
    assert patch["spec"]["schedule"] == {"cron": "0 10 * * 1-5", "timeZone": "America/New_York"}
    assert patch["spec"]["suspend"] is True
    assert patch["spec"]["http"]["headers"] is None, "the old channel's headers are removed"
    assert "bot" not in patch["spec"]["http"]["body"], "a body is replaced whole"
    assert patch["metadata"]["annotations"]["cronwright.io/updated-at"] == "2026-01-17T00:00:00Z"
    assert "http" not in jobs.update_patch(old, fields, None, "t")["spec"]


texts = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)


@given(
    name=texts.filter(str.strip),
    message=st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1),
    target=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20),
    kind=texts,
    tlg=st.booleans(),
    enabled=st.booleans(),
    job_id=st.integers(1, 10**17),
)
def test_every_valid_job_reads_back_as_sent(
    name: str, message: str, target: str, kind: str, tlg: bool, enabled: bool, job_id: int
) -> None:
    sent = {
        **EXAMPLE,
        "name": name,
        "message": message,
        "channel_target": target,
        "payload_kind": kind,
        "tlg_call": tlg,
        "enabled": enabled,
    }
    fields = jobs.AstaJobFields.model_validate(sent)
    assert jobs.check(fields, CONFIG, True) == {}
    view = jobs.view(stored(fields, job_id), datetime(2026, 1, 1, tzinfo=UTC))
    assert view["id"] == job_id
    assert {k: view[k] for k in sent} == sent


def test_unpaired_surrogates_are_refused_naming_the_field() -> None:
    """JSON may carry "\\ud800"; such a string cannot be stored, so it never gets that far."""
    for field in ("name", "message", "channel_target"):
        with pytest.raises(ValidationError) as error:
            jobs.AstaJobFields.model_validate({**EXAMPLE, field: "a\ud800b"})
        assert error.value.errors()[0]["loc"] == (field,)
