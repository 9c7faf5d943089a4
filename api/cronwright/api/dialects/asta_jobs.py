"""asta jobs ↔ CronJobSpec resources: pure translation, no I/O.

A job with id N is the resource `asta-N` in the tenant's namespace, so the API server's own
name uniqueness guarantees that two jobs never share an id. The fields the resource has no
place for are kept verbatim in `asta.cronwright.io/*` annotations, so a read returns exactly
what the client sent. The channel is expanded into `spec.http` when the job is written:
the operator then needs no knowledge of channels, and kubectl shows where a run goes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from cronwright.api.dialects import validation
from cronwright.api.dialects.resource_views import (
    DIALECT_LABEL,
    UPDATED_ANNOTATION,
    next_fire,
    replacing,
    utc_text,
)
from cronwright.api.dialects.validation import Problems, StrictFields
from cronwright.core import models
from cronwright.core.config import Config
from cronwright.core.runs import parse_time

NAME = "asta"
PREFIX = "asta.cronwright.io/"
ANNOTATED = ("name", "message", "channel", "channel_target", "payload_kind", "tlg_call")
#: Fields that are part of what a run delivers: changing one rewrites spec.http.
DELIVERED = ANNOTATED
#: What reads show but writes cannot set; a client sending a job back as read gets them ignored.
READ_ONLY = ("id", "user_id", "created_at", "next_run_at", "last_run_at", "last_run_status")
RESOURCE_NAME = re.compile(r"^asta-([1-9][0-9]{0,17})$")
_NUL = re.compile(r"\x00")


class _Fields(StrictFields):
    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _ignore_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY}
        return data


class AstaJobFields(_Fields):
    name: str = Field(min_length=1, max_length=128, description="Unique per user")
    cron_expr: str = Field(min_length=1, max_length=128, description="5 fields: min hour day month weekday")
    message: str = Field(min_length=1, max_length=16384, description="What a run delivers")
    tz: str = Field(default="UTC", min_length=1, max_length=64, description="IANA time zone")
    channel: str = Field(default="web", min_length=1, max_length=64, description="A configured channel")
    channel_target: str = Field(default="", max_length=1024, description="e.g. a chat id")
    payload_kind: str = Field(default="agentturn", min_length=1, max_length=64)
    tlg_call: bool = True
    enabled: bool = True


class AstaJobChanges(_Fields):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    cron_expr: str | None = Field(default=None, min_length=1, max_length=128)
    message: str | None = Field(default=None, min_length=1, max_length=16384)
    tz: str | None = Field(default=None, min_length=1, max_length=64)
    channel: str | None = Field(default=None, min_length=1, max_length=64)
    channel_target: str | None = Field(default=None, max_length=1024)
    payload_kind: str | None = Field(default=None, min_length=1, max_length=64)
    tlg_call: bool | None = None
    enabled: bool | None = None


def resource_name(job_id: int) -> str:
    return f"asta-{job_id}"


def id_of(obj: dict[str, Any]) -> int | None:
    match = RESOURCE_NAME.fullmatch(obj["metadata"]["name"])
    return int(match.group(1)) if match else None


def five_fields(expression: str) -> bool:
    return len(expression.split()) == 5 and not expression.strip().startswith("@")


def expressible(obj: dict[str, Any]) -> bool:
    """An asta job: named by a numeric id, a 5-field cron schedule, an HTTP target and a message."""
    spec = obj.get("spec") or {}
    cron = (spec.get("schedule") or {}).get("cron")
    annotations = obj["metadata"].get("annotations") or {}
    return (
        id_of(obj) is not None
        and isinstance(cron, str)
        and five_fields(cron)
        and "http" in spec
        and PREFIX + "message" in annotations
        and PREFIX + "name" in annotations
    )


def name_of(obj: dict[str, Any]) -> str:
    return (obj["metadata"].get("annotations") or {}).get(PREFIX + "name", "")


def check(fields: AstaJobFields, config: Config, channel_needed: bool) -> Problems:
    """What the types cannot say: the cron form, the zone, the channel, stray control characters."""
    problems = Problems()
    problems.add("name", *validation.display_name(fields.name))
    for field in ("channel", "channel_target", "payload_kind"):
        problems.add(field, *validation.control_characters(getattr(fields, field)))
    if _NUL.search(fields.message):
        problems.add("message", "Must not contain NUL characters")
    if not five_fields(fields.cron_expr):
        problems.add("cron_expr", "Must have exactly 5 fields: minute hour day-of-month month day-of-week")
    schedule = {"cron": fields.cron_expr, "time_zone": fields.tz}
    problems.fill(validation.schedule(schedule, {"cron": "cron_expr", "time_zone": "tz"}, "cron_expr"))
    if channel_needed and fields.channel not in config.channels:
        known = ", ".join(sorted(config.channels)) or "none"
        problems.add("channel", f"Unknown channel {fields.channel!r}; configured channels: {known}")
    return problems


def delivery(fields: AstaJobFields, job_id: int, user_id: str) -> dict[str, Any]:
    """The JSON body a run sends to the channel (docs/dialect-asta.md documents it)."""
    return {
        "job_id": job_id,
        "user_id": user_id,
        "name": fields.name,
        "message": fields.message,
        "channel": fields.channel,
        "channel_target": fields.channel_target,
        "payload_kind": fields.payload_kind,
        "tlg_call": fields.tlg_call,
    }


def http_of(fields: AstaJobFields, job_id: int, user_id: str, config: Config) -> dict[str, Any]:
    """The channel's HTTP target with the delivery as its body (merged over a JSON-object
    body configured for the channel, so an administrator can add constant fields)."""
    target = config.channels[fields.channel].model_dump(mode="json", by_alias=True, exclude_none=True)
    base = target.get("body")
    body = delivery(fields, job_id, user_id)
    target["body"] = {**base, **body} if isinstance(base, dict) else body
    return target


def annotations_of(fields: AstaJobFields) -> dict[str, str]:
    values = fields.model_dump()
    return {
        PREFIX + f.replace("_", "-"): ("true" if values[f] else "false") if f == "tlg_call" else values[f]
        for f in ANNOTATED
    }


def schedule_of(fields: AstaJobFields) -> dict[str, Any]:
    return {"cron": fields.cron_expr, "timeZone": fields.tz}


def resource(fields: AstaJobFields, job_id: int, user_id: str, config: Config) -> dict[str, Any]:
    return {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "metadata": {
            "name": resource_name(job_id),
            "labels": {DIALECT_LABEL: NAME},
            "annotations": annotations_of(fields),
        },
        "spec": {
            "schedule": schedule_of(fields),
            "http": http_of(fields, job_id, user_id, config),
            "suspend": not fields.enabled,
        },
    }


def fields_of(obj: dict[str, Any]) -> AstaJobFields:
    """The asta view of an expressible resource (the inverse of `resource`)."""
    annotations = obj["metadata"].get("annotations") or {}
    schedule = obj["spec"]["schedule"]

    def annotated(field: str, default: str) -> str:
        return annotations.get(PREFIX + field.replace("_", "-"), default)

    return AstaJobFields.model_construct(
        name=annotated("name", ""),
        cron_expr=schedule["cron"],
        message=annotated("message", ""),
        tz=schedule.get("timeZone", "UTC"),
        channel=annotated("channel", "web"),
        channel_target=annotated("channel_target", ""),
        payload_kind=annotated("payload_kind", "agentturn"),
        tlg_call=annotated("tlg_call", "true") != "false",
        enabled=not obj["spec"].get("suspend", False),
    )


def update_patch(
    fresh: dict[str, Any], fields: AstaJobFields, http: dict[str, Any] | None, stamp: str
) -> dict[str, Any]:
    """A merge patch that gives `fresh` the fields (and, when given, the new target)."""
    spec: dict[str, Any] = {
        "schedule": replacing(fresh["spec"]["schedule"], schedule_of(fields)),
        "suspend": not fields.enabled,
    }
    if http is not None:
        spec["http"] = replacing(fresh["spec"]["http"], http)
    return {"metadata": {"annotations": {**annotations_of(fields), UPDATED_ANNOTATION: stamp}}, "spec": spec}


def _utc(value: str | None) -> str | None:
    """A time of the status as UTC text; one that cannot be read shows as null, never a 500."""
    try:
        return utc_text(parse_time(value))
    except ValueError:
        return None


def last_run(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    """(when, outcome) of the latest run: success, failed or running."""
    run = (obj.get("status") or {}).get("lastRun")
    if not run:
        return None, None
    result = run.get("result")
    outcome = {"Succeeded": "success", "Running": "running"}.get(result, "failed")
    return _utc(run.get("startTime") or run.get("scheduledTime")), outcome


def view(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    fields = fields_of(obj)
    last_at, last_status = last_run(obj)
    return {
        "id": id_of(obj),
        "user_id": obj["metadata"]["namespace"],
        "name": fields.name,
        "cron_expr": fields.cron_expr,
        "tz": fields.tz,
        "message": fields.message,
        "enabled": fields.enabled,
        "channel": fields.channel,
        "channel_target": fields.channel_target,
        "payload_kind": fields.payload_kind,
        "tlg_call": fields.tlg_call,
        "created_at": obj["metadata"].get("creationTimestamp"),
        "next_run_at": utc_text(next_fire(obj, now)),
        "last_run_at": last_at,
        "last_run_status": last_status,
    }
