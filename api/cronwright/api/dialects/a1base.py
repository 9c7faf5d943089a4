"""The a1base Cron Jobs API (seed 000) at /v1/cron-jobs, as a view over CronJobSpecs.

Mapping:
- `frequency` daily/weekly/monthly ↔ `spec.schedule.frequency` with time, dayOfWeek,
  dayOfMonth; `custom` ↔ `spec.schedule.cron` (`custom_schedule`). `timezone` ↔
  `timeZone`. A cron job made with kubectl shows as `custom`.
- `status` active/paused ↔ `spec.suspend`.
- ids: `crn_` + the resource uid without dashes; executions `exe_` + the run id.
- Credentials in `headers` go to a Secret owned by the resource (header_secrets). GET shows
  them to keys with the "write" scope only; values of Secrets the facade did not write (a
  kubectl-made job's `headersFrom`) to no key: both show as `********`, and `********` sent
  back for such a header keeps it (docs/security.md).

Choices where the document is silent (docs/dialect-a1base.md has the full list):
- create answers 201; `timezone` defaults to UTC; `time` is required for daily, weekly and
  monthly and optional (echoed back) for custom; `body` must be a JSON object; methods are
  GET, POST, PUT, PATCH, DELETE.
- `next_execution` is computed from the schedule (the operator's own rule) in the job's
  zone, so it is right even before the operator has seen the job; null while paused.
- Execution `status`: success for a succeeded run, failed for everything else that ran or
  was given up (failed, cancelled, missed, skipped).
- Jobs this API cannot express (workflow targets, one-shot or interval schedules) are left
  out of lists and answer 404.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from cronwright.api import header_secrets
from cronwright.api.apikeys import ApiKey
from cronwright.api.auth import READ, WRITE, facade
from cronwright.api.dialects import validation
from cronwright.api.dialects.contract import Dialect
from cronwright.api.dialects.resource_views import (
    DIALECT_LABEL,
    UPDATED_ANNOTATION,
    merge_value,
    next_fire,
    suspend_change,
    utc_now,
    utc_text,
)
from cronwright.api.dialects.validation import Problems, StrictFields
from cronwright.api.error_envelope import ErrorEnvelope, render_error
from cronwright.api.errors import KEY_ERRORS, ApiProblem, error_responses
from cronwright.core import models

NAME = "a1base"
PREFIX = "/v1/cron-jobs"
TIME_ANNOTATION = "a1base.cronwright.io/time"

Frequency = Literal["daily", "weekly", "monthly", "custom"]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
#: Where core's schedule fields show in this API (schedule problems are filed there).
SCHEDULE_FIELDS = {"cron": "custom_schedule", "time_zone": "timezone"}


class CronJobFields(StrictFields):
    endpoint_url: str = Field(
        max_length=validation.MAX_URL_LENGTH, description="URL called at every execution (http or https)"
    )
    frequency: Frequency
    time: str | None = Field(default=None, pattern=models.HH_MM, description="HH:MM, 24-hour, in `timezone`")
    timezone: str = Field(default="UTC", min_length=1, max_length=64, description="IANA time zone")
    method: Method
    headers: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    day_of_week: int | None = Field(default=None, ge=0, le=6, description="0 = Sunday")
    day_of_month: int | None = Field(default=None, ge=1, le=31)
    custom_schedule: str | None = Field(default=None, max_length=256, description="cron expression")


class CronJobPatch(StrictFields):
    endpoint_url: str | None = Field(default=None, max_length=validation.MAX_URL_LENGTH)
    frequency: Frequency | None = None
    time: str | None = Field(default=None, pattern=models.HH_MM)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    method: Method | None = None
    headers: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    day_of_week: int | None = Field(default=None, ge=0, le=6)
    day_of_month: int | None = Field(default=None, ge=1, le=31)
    custom_schedule: str | None = Field(default=None, max_length=256)


class LastExecution(BaseModel):
    timestamp: str | None
    status: Literal["success", "failed"]
    response_code: int | None
    response_time_ms: int | None


class CronJobSummary(BaseModel):
    id: str
    endpoint_url: str
    frequency: Frequency
    time: str | None = None
    timezone: str
    method: str
    day_of_week: int | None = None
    day_of_month: int | None = None
    custom_schedule: str | None = None
    status: Literal["active", "paused"]
    created_at: str
    updated_at: str | None = None
    next_execution: str | None


class CronJob(CronJobSummary):
    headers: dict[str, str]
    body: Any = None
    last_execution: LastExecution | None = None


class Meta(BaseModel):
    total: int
    limit: int
    offset: int


class CronJobList(BaseModel):
    data: list[CronJobSummary]
    meta: Meta


class StatusChange(BaseModel):
    id: str
    status: Literal["active", "paused"]
    next_execution: str | None


class Deleted(BaseModel):
    id: str
    deleted: Literal[True]


class Execution(BaseModel):
    id: str
    cron_job_id: str
    timestamp: str | None
    status: Literal["success", "failed"]
    response_code: int | None = None
    response_time_ms: int | None = None
    response_body: Any = None
    error: str | None = None


class ExecutionList(BaseModel):
    data: list[Execution]
    meta: Meta


ERRORS = error_responses(
    ErrorEnvelope,
    {
        400: "Invalid parameters",
        404: "No such cron job",
        409: "The job changed meanwhile",
        503: "API keys cannot be checked right now",
        **KEY_ERRORS,
    },
)

router = APIRouter(prefix=PREFIX, tags=["a1base: Cron Jobs API"], responses=ERRORS)
DIALECT = Dialect(NAME, (PREFIX,), router, render_error, ErrorEnvelope)

# -- translation (pure) ------------------------------------------------------------


def job_id(obj: dict[str, Any]) -> str:
    return "crn_" + obj["metadata"]["uid"].replace("-", "")


def uid_from_id(value: str) -> str | None:
    raw = value.removeprefix("crn_")
    if not value.startswith("crn_") or len(raw) != 32 or any(c not in "0123456789abcdef" for c in raw):
        return None
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def expressible(obj: dict[str, Any]) -> bool:
    spec = obj.get("spec") or {}
    schedule = spec.get("schedule") or {}
    return "http" in spec and ("cron" in schedule or "frequency" in schedule)


def check(fields: CronJobFields) -> Problems:
    """What the field types cannot say: which fields each frequency needs, and content."""
    problems = Problems()
    problems.add("endpoint_url", *validation.url(fields.endpoint_url))
    problems.add("body", *validation.body(fields.body))
    problems.add("headers", *validation.headers(fields.headers or {}))
    if fields.frequency in ("daily", "weekly", "monthly") and fields.time is None:
        problems.add("time", f"Required for frequency {fields.frequency}")
    if fields.frequency == "weekly" and fields.day_of_week is None:
        problems.add("day_of_week", "Required for frequency weekly (0-6, 0 = Sunday)")
    if fields.frequency != "weekly" and fields.day_of_week is not None:
        problems.add("day_of_week", "Only used with frequency weekly")
    if fields.frequency == "monthly" and fields.day_of_month is None:
        problems.add("day_of_month", "Required for frequency monthly (1-31)")
    if fields.frequency != "monthly" and fields.day_of_month is not None:
        problems.add("day_of_month", "Only used with frequency monthly")
    if fields.frequency == "custom" and not fields.custom_schedule:
        problems.add("custom_schedule", "Required for frequency custom (a cron expression)")
    if fields.frequency != "custom" and fields.custom_schedule is not None:
        problems.add("custom_schedule", "Only used with frequency custom")
    return problems.fill(validation.schedule(schedule_of(fields), SCHEDULE_FIELDS, other="frequency"))


def schedule_of(fields: CronJobFields) -> dict[str, Any]:
    """The schedule in core's field names (models.Schedule)."""
    if fields.frequency == "custom":
        return {"cron": fields.custom_schedule, "time_zone": fields.timezone}
    return {
        "frequency": fields.frequency,
        "time": fields.time,
        "day_of_week": fields.day_of_week,
        "day_of_month": fields.day_of_month,
        "time_zone": fields.timezone,
    }


def spec_of(
    fields: CronJobFields, job_name: str, suspend: bool, headers: list[header_secrets.Header]
) -> dict[str, Any]:
    """`headers` stand for `fields.headers`, with what a write kept from before resolved."""
    http: dict[str, Any] = {
        "url": fields.endpoint_url,
        "method": fields.method,
        **header_secrets.http_fields(job_name, headers),
    }
    if fields.body is not None:
        http["body"] = fields.body
    return {
        "schedule": models.Schedule.model_validate(schedule_of(fields)).model_dump(
            mode="json", by_alias=True, exclude_none=True
        ),
        "http": http,
        "suspend": suspend,
    }


def fields_of(obj: dict[str, Any], headers: dict[str, str]) -> CronJobFields:
    """The a1base view of a resource's spec (the inverse of spec_of)."""
    spec = obj["spec"]
    schedule, http = spec["schedule"], spec["http"]
    annotations = obj["metadata"].get("annotations") or {}
    if "cron" in schedule:
        frequency, time = "custom", annotations.get(TIME_ANNOTATION)
    else:
        frequency, time = schedule["frequency"], schedule.get("time")
    return CronJobFields.model_construct(
        endpoint_url=http["url"],
        frequency=frequency,
        time=time,
        timezone=schedule.get("timeZone", "UTC"),
        method=http.get("method", "POST"),
        headers=headers,
        body=http.get("body"),
        day_of_week=schedule.get("dayOfWeek"),
        day_of_month=schedule.get("dayOfMonth"),
        custom_schedule=schedule.get("cron"),
    )


def _in_zone(moment: str | datetime | None, zone: str) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    try:
        return moment.astimezone(ZoneInfo(zone)).isoformat()
    except (KeyError, ValueError):
        return moment.astimezone(UTC).isoformat()


def next_execution(obj: dict[str, Any], now: datetime) -> str | None:
    return _in_zone(next_fire(obj, now), obj["spec"]["schedule"].get("timeZone", "UTC"))


def summary(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    fields = fields_of(obj, {})
    meta = obj["metadata"]
    view: dict[str, Any] = {
        "id": job_id(obj),
        "endpoint_url": fields.endpoint_url,
        "frequency": fields.frequency,
        "time": fields.time,
        "timezone": fields.timezone,
        "method": fields.method,
    }
    for optional in ("day_of_week", "day_of_month", "custom_schedule"):
        if getattr(fields, optional) is not None:
            view[optional] = getattr(fields, optional)
    view["status"] = "paused" if obj["spec"].get("suspend") else "active"
    view["created_at"] = meta.get("creationTimestamp")
    if (meta.get("annotations") or {}).get(UPDATED_ANNOTATION):
        view["updated_at"] = meta["annotations"][UPDATED_ANNOTATION]
    view["next_execution"] = next_execution(obj, now)
    return view


def detail(obj: dict[str, Any], headers: dict[str, str], now: datetime, last: bool) -> dict[str, Any]:
    view = summary(obj, now)
    status = view.pop("status")
    created, updated, upcoming = (
        view.pop("created_at"),
        view.pop("updated_at", None),
        view.pop("next_execution"),
    )
    view["headers"] = headers
    view["body"] = obj["spec"]["http"].get("body")
    view["status"] = status
    view["created_at"] = created
    if updated:
        view["updated_at"] = updated
    view["next_execution"] = upcoming
    run = ((obj.get("status") or {}).get("lastRun")) if last else None
    if last:
        view["last_execution"] = (
            {
                "timestamp": _in_zone(run.get("scheduledTime") or run.get("startTime"), view["timezone"]),
                "status": "success" if run.get("result") == "Succeeded" else "failed",
                "response_code": run.get("responseCode"),
                "response_time_ms": run.get("durationMs"),
            }
            if run and run.get("result") != "Running"
            else None
        )
    return view


def execution(obj: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    zone = obj["spec"]["schedule"].get("timeZone", "UTC")
    view: dict[str, Any] = {
        "id": f"exe_{run['id']}",
        "cron_job_id": job_id(obj),
        "timestamp": _in_zone(run.get("scheduledTime") or run.get("startTime"), zone),
        "status": "success" if run.get("result") == "Succeeded" else "failed",
        "response_code": run.get("responseCode"),
        "response_time_ms": run.get("durationMs"),
    }
    if "responseBody" in run:
        view["response_body"] = run["responseBody"]
    if run.get("error"):
        view["error"] = run["error"]
    return view


# -- endpoints (thin I/O) --------------------------------------------------------------


def _job(request: Request, key: ApiKey, cron_job_id: str) -> dict[str, Any]:
    uid = uid_from_id(cron_job_id)
    obj = facade(request).store.get_by_uid(key.namespace, uid) if uid else None
    if obj is None or not expressible(obj):
        raise ApiProblem(404, "not_found", f"Cron job {cron_job_id} not found")
    return obj


@router.post("", status_code=201, response_model=CronJob, summary="Create a cron job")
async def create(request: Request, fields: CronJobFields, key: ApiKey = WRITE) -> dict[str, Any]:
    check(fields).refuse()
    state = facade(request)
    name = f"crn-{secrets.token_hex(6)}"
    headers = header_secrets.given(fields.headers)
    annotations = {TIME_ANNOTATION: fields.time} if fields.frequency == "custom" and fields.time else {}
    body = {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "metadata": {"name": name, "labels": {DIALECT_LABEL: NAME}, "annotations": annotations},
        "spec": spec_of(fields, name, suspend=False, headers=headers),
    }
    obj = await state.headers.creating(
        key.namespace, name, headers, lambda: state.store.create(key.namespace, body)
    )
    return detail(obj, header_secrets.shown(headers, reveal=True), utc_now(), last=False)


@router.get("", response_model=CronJobList, summary="List cron jobs")
async def list_jobs(
    request: Request,
    key: ApiKey = READ,
    status: Annotated[Literal["active", "paused"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    now = utc_now()

    def keep(obj: dict[str, Any]) -> bool:
        if not expressible(obj):
            return False
        return status is None or (status == "paused") == bool(obj["spec"].get("suspend"))

    items = facade(request).store.list(key.namespace, keep)
    page = [summary(o, now) for o in items[offset : offset + limit]]
    return {"data": page, "meta": {"total": len(items), "limit": limit, "offset": offset}}


@router.get("/{cron_job_id}", response_model=CronJob, summary="Get a cron job")
async def get_job(request: Request, cron_job_id: str, key: ApiKey = READ) -> dict[str, Any]:
    obj = _job(request, key, cron_job_id)
    headers = await facade(request).headers.read(key.namespace, obj)
    return detail(obj, header_secrets.shown(headers, reveal=key.allows("write")), utc_now(), last=True)


#: What a PATCH may set to null: optional fields, which null removes.
NULLABLE = ("time", "headers", "body", "day_of_week", "day_of_month", "custom_schedule")


@router.patch("/{cron_job_id}", response_model=CronJob, summary="Update a cron job")
async def update_job(
    request: Request, cron_job_id: str, patch: CronJobPatch, key: ApiKey = WRITE
) -> dict[str, Any]:
    state = facade(request)
    obj = _job(request, key, cron_job_id)
    before = await state.headers.read(key.namespace, obj)
    current = fields_of(obj, header_secrets.shown(before, reveal=True)).model_dump()
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("frequency") and changes["frequency"] != current["frequency"]:
        # a new frequency brings its own fields; the old frequency's fields are dropped
        for stale in ("day_of_week", "day_of_month", "custom_schedule"):
            if stale not in changes:
                current[stale] = None
    validation.nulls(changes, nullable=NULLABLE).refuse()
    fields = validation.parsed(CronJobFields, {**current, **changes})
    check(fields).refuse()
    name = obj["metadata"]["name"]
    headers_changed = "headers" in changes
    headers = header_secrets.resolve(fields.headers, before) if headers_changed else before
    if headers_changed:
        await state.headers.replace(key.namespace, obj, headers)
    stamp = utc_text(utc_now())

    def change(fresh: dict[str, Any]) -> dict[str, Any]:
        new_spec = spec_of(fields, name, suspend=bool(fresh["spec"].get("suspend")), headers=headers)
        annotations: dict[str, Any] = {UPDATED_ANNOTATION: stamp}
        annotations[TIME_ANNOTATION] = fields.time if fields.frequency == "custom" and fields.time else None
        spec = _owned_changes(fresh["spec"], new_spec, headers_changed)
        return {"metadata": {"annotations": annotations}, "spec": spec}

    written = await state.store.update(key.namespace, obj["metadata"]["uid"], change)
    if written is None:
        raise ApiProblem(404, "not_found", f"Cron job {cron_job_id} not found")
    return detail(written, header_secrets.shown(headers, reveal=True), utc_now(), last=False)


#: The parts of a spec this API expresses; everything else (retry, concurrencyPolicy,
#: heartbeat, timeoutSeconds, signing, ... set with kubectl) survives a PATCH untouched.
OWNED_HTTP_FIELDS = ("url", "method", "body")
HEADER_FIELDS = ("headers", "headersFrom")


def _owned_changes(old: dict[str, Any], new: dict[str, Any], headers_changed: bool) -> dict[str, Any]:
    """A merge patch that turns the fields a1base owns in `old` into `new`. Headers are
    rewritten only when the PATCH gave them: a kubectl-made job's `headers` and
    `headersFrom` (naming Secrets of its own) stay exactly as they are otherwise."""
    old_http, new_http = old.get("http") or {}, new["http"]
    owned = OWNED_HTTP_FIELDS + (HEADER_FIELDS if headers_changed else ())
    return {
        "schedule": merge_value(old.get("schedule") or {}, new["schedule"]),
        "http": {name: merge_value(old_http.get(name), new_http.get(name)) for name in owned},
        "suspend": new["suspend"],
    }


async def _set_suspend(request: Request, key: ApiKey, cron_job_id: str, suspend: bool) -> dict[str, Any]:
    obj = _job(request, key, cron_job_id)
    change = suspend_change(suspend, utc_now())
    written = await facade(request).store.update(key.namespace, obj["metadata"]["uid"], change)
    if written is None:
        raise ApiProblem(404, "not_found", f"Cron job {cron_job_id} not found")
    return {
        "id": job_id(written),
        "status": "paused" if suspend else "active",
        "next_execution": next_execution(written, utc_now()),
    }


@router.post("/{cron_job_id}/pause", response_model=StatusChange, summary="Pause a cron job")
async def pause(request: Request, cron_job_id: str, key: ApiKey = WRITE) -> dict[str, Any]:
    return await _set_suspend(request, key, cron_job_id, True)


@router.post("/{cron_job_id}/resume", response_model=StatusChange, summary="Resume a cron job")
async def resume(request: Request, cron_job_id: str, key: ApiKey = WRITE) -> dict[str, Any]:
    return await _set_suspend(request, key, cron_job_id, False)


@router.delete("/{cron_job_id}", response_model=Deleted, summary="Delete a cron job")
async def delete_job(request: Request, cron_job_id: str, key: ApiKey = WRITE) -> dict[str, Any]:
    state = facade(request)
    obj = _job(request, key, cron_job_id)
    if not await state.store.delete(key.namespace, obj["metadata"]["uid"]):
        raise ApiProblem(404, "not_found", f"Cron job {cron_job_id} not found")
    await state.headers.forget(key.namespace, obj)
    return {"id": cron_job_id, "deleted": True}


@router.get("/{cron_job_id}/executions", response_model=ExecutionList, summary="Execution history")
async def executions(
    request: Request,
    cron_job_id: str,
    key: ApiKey = READ,
    status: Annotated[Literal["success", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    obj = _job(request, key, cron_job_id)
    runs = [execution(obj, run) for run in (obj.get("status") or {}).get("history") or []]
    if status is not None:
        runs = [r for r in runs if r["status"] == status]
    return {
        "data": runs[offset : offset + limit],
        "meta": {"total": len(runs), "limit": limit, "offset": offset},
    }
