"""The cron-registry API (seed 002) at /api/v1/cron/jobs, as a view over CronJobSpecs.

Mapping:
- `schedule` ↔ `spec.schedule.cron` (read in UTC); `enabled` ↔ not `spec.suspend`;
  `status` active | disabled.
- `handler` names a target in the settings file (`handlers:`). It is expanded into the
  spec when the job is written (`spec.http` or `spec.workflow`), and its name is kept in the
  annotation `cron-registry.cronwright.io/handler`: each CronJobSpec stays self-contained,
  so the operator needs no settings to run it and GitOps tools see the whole job. Editing a
  handler in the settings changes jobs written after that; a PUT naming the handler again
  re-expands it.
- `job_id` is the resource name with `-` written `_` (names never hold `_`, so the mapping
  is exact): `job_daily_reminder_check_3fa9c1` is the resource `job-daily-reminder-check-3fa9c1`.
  `name` is kept in the annotation `cron-registry.cronwright.io/name`.
- `POST /{job_id}/trigger` sets the `cronwright.io/trigger` annotation; the run id is the
  operator's own (`run_` + manual_run_id), known before the run starts. With
  `concurrencyPolicy: Forbid` and a run in flight (resource_views.run_in_flight) it answers
  `lock_acquired: false`, `run_id: null` and asks for nothing.

Choices where the document is silent (docs/dialect-cron-registry.md has them all): create
answers 201; `handler` is also shown in reads (null for a job whose target did not come
from a handler); `page` starts at 1, `limit` 1-100 (default 20); times are UTC with a Z;
`last_triggered_at` is the start of the last finished run (scheduled or manual).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from cronwright.api.apikeys import ApiKey
from cronwright.api.auth import READ, WRITE, facade
from cronwright.api.dialects import validation
from cronwright.api.dialects.contract import Dialect
from cronwright.api.dialects.resource_views import (
    DIALECT_LABEL,
    UPDATED_ANNOTATION,
    last_run_time,
    next_fire,
    replacing,
    run_in_flight,
    utc_now,
    utc_text,
)
from cronwright.api.dialects.validation import Problems, StrictFields
from cronwright.api.error_envelope import ErrorEnvelope, render_error
from cronwright.api.errors import KEY_ERRORS, ApiProblem, error_responses
from cronwright.core import models
from cronwright.core.config import Config
from cronwright.core.runs import TRIGGER_ANNOTATION, manual_run_id

NAME = "cron-registry"
PREFIX = "/api/v1/cron/jobs"
NAME_ANNOTATION = "cron-registry.cronwright.io/name"
HANDLER_ANNOTATION = "cron-registry.cronwright.io/handler"
TARGETS = ("http", "workflow")


class RegistryJobFields(StrictFields):
    name: str = Field(min_length=1, max_length=256)
    schedule: str = Field(min_length=1, max_length=256, description="cron expression, UTC")
    handler: str = Field(min_length=1, max_length=253, description="a handler of the settings file")
    enabled: bool = True


class RegistryJobUpdate(StrictFields):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    schedule: str | None = Field(default=None, min_length=1, max_length=256)
    handler: str | None = Field(default=None, min_length=1, max_length=253)
    enabled: bool | None = None


class RegistryJobSummary(BaseModel):
    job_id: str
    name: str
    schedule: str
    handler: str | None
    status: Literal["active", "disabled"]
    last_triggered_at: str | None
    next_trigger_at: str | None


class RegistryJob(RegistryJobSummary):
    lock_acquired: bool
    last_run_duration_ms: int | None
    created_at: str
    updated_at: str | None = None


class RegistryJobCreated(BaseModel):
    job_id: str
    name: str
    schedule: str
    handler: str | None
    status: Literal["active", "disabled"]
    created_at: str


class RegistryJobUpdated(BaseModel):
    job_id: str
    name: str
    schedule: str
    handler: str | None
    status: Literal["active", "disabled"]
    updated_at: str


class RegistryPagination(BaseModel):
    page: int
    limit: int
    total: int


class RegistryJobList(BaseModel):
    data: list[RegistryJobSummary]
    pagination: RegistryPagination


class RegistryJobDeleted(BaseModel):
    deleted: Literal[True]
    job_id: str


class RegistryJobTriggered(BaseModel):
    job_id: str
    triggered_at: str
    lock_acquired: bool
    run_id: str | None


#: The document names status codes only: errors come in the facade's own envelope.
ERRORS = error_responses(
    ErrorEnvelope,
    {
        400: "Invalid request (unknown handler, bad schedule, ...)",
        404: "No such cron job",
        409: "The job changed meanwhile",
        500: "Internal error",
        503: "API keys or the Kubernetes API cannot be reached right now",
        **KEY_ERRORS,
    },
)

router = APIRouter(prefix=PREFIX, tags=["cron-registry: cron job registry"], responses=ERRORS)
DIALECT = Dialect(NAME, (PREFIX,), router, render_error, ErrorEnvelope)

# -- translation (pure) ------------------------------------------------------------


def job_id(obj: dict[str, Any]) -> str:
    return obj["metadata"]["name"].replace("-", "_")


def name_from_id(value: str) -> str | None:
    """The resource name of a job id; None for what no job id can be (a `-` in it)."""
    return None if "-" in value else value.replace("_", "-")


def resource_name(display_name: str) -> str:
    """A readable, unique resource name: `job-<slug of the name>-<6 hex>`."""
    slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")[:40].strip("-")
    return "-".join(part for part in ("job", slug, secrets.token_hex(3)) if part)


def expressible(obj: dict[str, Any]) -> bool:
    spec = obj.get("spec") or {}
    schedule = spec.get("schedule") or {}
    return "cron" in schedule and schedule.get("timeZone", "UTC") == "UTC" and any(t in spec for t in TARGETS)


def handler_problems(handler: str, config: Config) -> Problems:
    problems = Problems()
    if handler not in config.handlers:
        known = ", ".join(sorted(config.handlers)) or "none are configured"
        problems.add("handler", f"Unknown handler {handler[:64]!r} (known: {known})")
    return problems


def problems_of(wanted: dict[str, Any]) -> Problems:
    """What the field types cannot say about a job's name and schedule (read in UTC)."""
    problems = Problems()
    problems.add("name", *validation.display_name(wanted["name"]))
    return problems.merge(validation.schedule({"cron": wanted["schedule"]}, {}, other="schedule"))


def spec_of(fields: RegistryJobFields, config: Config) -> dict[str, Any]:
    return {
        "schedule": {"cron": fields.schedule, "timeZone": "UTC"},
        **config.handlers[fields.handler].spec_fields(),
        "suspend": not fields.enabled,
    }


def fields_of(obj: dict[str, Any]) -> dict[str, Any]:
    """name, schedule, handler and enabled of a resource (the inverse of spec_of)."""
    annotations = obj["metadata"].get("annotations") or {}
    return {
        "name": annotations.get(NAME_ANNOTATION, obj["metadata"]["name"]),
        "schedule": obj["spec"]["schedule"]["cron"],
        "handler": annotations.get(HANDLER_ANNOTATION),
        "enabled": not obj["spec"].get("suspend"),
    }


def summary(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    fields = fields_of(obj)
    return {
        "job_id": job_id(obj),
        "name": fields["name"],
        "schedule": fields["schedule"],
        "handler": fields["handler"],
        "status": "active" if fields["enabled"] else "disabled",
        "last_triggered_at": utc_text(last_run_time(obj.get("status") or {})),
        "next_trigger_at": utc_text(next_fire(obj, now)),
    }


def detail(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    view = summary(obj, now)
    view["lock_acquired"] = run_in_flight(obj, now)
    view["last_run_duration_ms"] = ((obj.get("status") or {}).get("lastRun") or {}).get("durationMs")
    view["created_at"] = obj["metadata"]["creationTimestamp"]
    updated = (obj["metadata"].get("annotations") or {}).get(UPDATED_ANNOTATION)
    if updated:
        view["updated_at"] = updated
    return view


def trigger_refused(obj: dict[str, Any], now: datetime) -> bool:
    """With Forbid, a run in flight means a manual run would only be skipped: ask for none."""
    return obj["spec"].get("concurrencyPolicy") == "Forbid" and run_in_flight(obj, now)


# -- endpoints (thin I/O) --------------------------------------------------------------


def _job(request: Request, key: ApiKey, value: str) -> dict[str, Any]:
    name = name_from_id(value)
    obj = facade(request).store.get(key.namespace, name) if name else None
    if obj is None or not expressible(obj):
        raise ApiProblem(404, "not_found", f"Cron job {value} not found")
    return obj


@router.get("", response_model=RegistryJobList, summary="List registered cron jobs")
async def list_jobs(
    request: Request,
    key: ApiKey = READ,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    now = utc_now()
    items = facade(request).store.list(key.namespace, expressible)
    start = (page - 1) * limit
    return {
        "data": [summary(o, now) for o in items[start : start + limit]],
        "pagination": {"page": page, "limit": limit, "total": len(items)},
    }


@router.post("", status_code=201, response_model=RegistryJobCreated, summary="Register a cron job")
async def create(request: Request, fields: RegistryJobFields, key: ApiKey = WRITE) -> dict[str, Any]:
    config = facade(request).config
    problems_of(fields.model_dump()).merge(handler_problems(fields.handler, config)).refuse()
    body = {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "metadata": {
            "name": resource_name(fields.name),
            "labels": {DIALECT_LABEL: NAME},
            "annotations": {NAME_ANNOTATION: fields.name, HANDLER_ANNOTATION: fields.handler},
        },
        "spec": spec_of(fields, config),
    }
    obj = await facade(request).store.create(key.namespace, body)
    view = summary(obj, utc_now())
    return {
        **{k: view[k] for k in ("job_id", "name", "schedule", "handler", "status")},
        "created_at": obj["metadata"]["creationTimestamp"],
    }


@router.get("/{job_id}", response_model=RegistryJob, summary="Get a cron job")
async def get_job(request: Request, job_id: str, key: ApiKey = READ) -> dict[str, Any]:
    return detail(_job(request, key, job_id), utc_now())


@router.put(
    "/{job_id}", response_model=RegistryJobUpdated, summary="Change the schedule, handler, or enable/disable"
)
async def update_job(
    request: Request, job_id: str, update: RegistryJobUpdate, key: ApiKey = WRITE
) -> dict[str, Any]:
    obj = _job(request, key, job_id)
    config = facade(request).config
    changes = update.model_dump(exclude_unset=True)
    validation.nulls(changes).refuse()
    wanted = {**fields_of(obj), **changes}
    problems = problems_of(wanted)
    # The target is only re-expanded when a handler is named: a job made with kubectl, or one
    # whose handler was since removed from the settings, keeps its target as it is.
    if "handler" in changes:
        problems.merge(handler_problems(changes["handler"], config))
    problems.refuse()
    stamp = utc_text(utc_now())

    def change(fresh: dict[str, Any]) -> dict[str, Any]:
        spec = {**fresh["spec"], "schedule": {"cron": wanted["schedule"], "timeZone": "UTC"}}
        spec["suspend"] = not wanted["enabled"]
        annotations: dict[str, Any] = {NAME_ANNOTATION: wanted["name"], UPDATED_ANNOTATION: stamp}
        if "handler" in changes:
            spec = {k: v for k, v in spec.items() if k not in TARGETS}
            spec |= config.handlers[wanted["handler"]].spec_fields()
            annotations[HANDLER_ANNOTATION] = wanted["handler"]
        return {"metadata": {"annotations": annotations}, "spec": replacing(fresh["spec"], spec)}

    written = await facade(request).store.update(key.namespace, obj["metadata"]["uid"], change)
    if written is None:
        raise ApiProblem(404, "not_found", f"Cron job {job_id} not found")
    view = summary(written, utc_now())
    return {**{k: view[k] for k in ("job_id", "name", "schedule", "handler", "status")}, "updated_at": stamp}


@router.delete("/{job_id}", response_model=RegistryJobDeleted, summary="Unregister a cron job")
async def delete_job(request: Request, job_id: str, key: ApiKey = WRITE) -> dict[str, Any]:
    obj = _job(request, key, job_id)
    if not await facade(request).store.delete(key.namespace, obj["metadata"]["uid"]):
        raise ApiProblem(404, "not_found", f"Cron job {job_id} not found")
    return {"deleted": True, "job_id": job_id}


@router.post("/{job_id}/trigger", response_model=RegistryJobTriggered, summary="Run a cron job now")
async def trigger(request: Request, job_id: str, key: ApiKey = WRITE) -> dict[str, Any]:
    obj = _job(request, key, job_id)
    now = utc_now()
    triggered_at = utc_text(now)
    if trigger_refused(obj, now):
        return {"job_id": job_id, "triggered_at": triggered_at, "lock_acquired": False, "run_id": None}
    value = f"{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    refused = False

    def change(fresh: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal refused
        refused = trigger_refused(fresh, utc_now())
        return None if refused else {"metadata": {"annotations": {TRIGGER_ANNOTATION: value}}}

    written = await facade(request).store.update(key.namespace, obj["metadata"]["uid"], change)
    if written is None:
        raise ApiProblem(404, "not_found", f"Cron job {job_id} not found")
    if refused:
        return {"job_id": job_id, "triggered_at": triggered_at, "lock_acquired": False, "run_id": None}
    return {
        "job_id": job_id,
        "triggered_at": triggered_at,
        "lock_acquired": True,
        "run_id": "run_" + manual_run_id(written["metadata"]["uid"], value),
    }
