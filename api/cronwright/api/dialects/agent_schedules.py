"""The agent-schedules API (seed 001) at /api/agents/{id}/schedules, over CronJobSpecs.

Mapping:
- The agent id is the label `agent-schedules.cronwright.io/agent-id`; a schedule belongs to
  the agent its label names, and only jobs with that label show up under an agent.
- `type` cron ↔ `spec.schedule.cron` (read in UTC), once ↔ `at` (`next_run`), delayed ↔
  `delaySeconds` (counted from the schedule's creation, as the operator counts it).
- `callback_type: workflow` + `callback_id` ↔ `spec.workflow.templateRef {name: callback_id}`
  (an Argo WorkflowTemplate). `callback_type: webhook` (cronwright's addition: the document
  names no other type) + `callback_id` = an http(s) URL ↔ `spec.http`: a POST of
  `{"agent_id", "schedule_id"}` at every run.
- `status`: paused ↔ `spec.suspend`; completed = a one-shot the operator has run
  (`status.phase` Completed); active otherwise. Clients may set active or paused.
- `id` is the resource name (`schedule-<hex>` when made here); `name` is kept in the
  annotation `agent-schedules.cronwright.io/name`.

Choices where the document is silent (docs/dialect-agent-schedules.md has them all): create
answers 201 with the full schedule; DELETE answers 200 `{"id", "deleted": true}`; `next_run`
is UTC with a Z — for cron the next fire time (null while paused or completed), for delayed
creation + delay; in a PUT it only counts for type once (it is computed for the others, so
a client sending a schedule back unchanged is not refused). A once `next_run` that has
passed is a 400 naming `next_run` (it would never run), unless a PUT sends back the time
the schedule already has. An agent id must be a valid
label value (1-63 letters, digits, `-`, `_`, `.`). Executions are status.history, newest
first: `success`, `failed`, `missed`, `skipped` or `running`. The document lists error
codes only: errors use the facade's `{"error": {"code", "message", "details"}}` envelope.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from cronwright.api.apikeys import ApiKey
from cronwright.api.auth import READ, WRITE, facade
from cronwright.api.dialects import validation
from cronwright.api.dialects.contract import Dialect
from cronwright.api.dialects.resource_views import (
    DIALECT_LABEL,
    UPDATED_ANNOTATION,
    created_at,
    last_run_time,
    next_fire,
    replacing,
    utc_now,
    utc_text,
)
from cronwright.api.dialects.validation import Problems, StrictFields
from cronwright.api.error_envelope import ErrorEnvelope, render_error
from cronwright.api.errors import KEY_ERRORS, ApiProblem, error_responses
from cronwright.core import models
from cronwright.core import schedule as schedule_math
from cronwright.core.runs import parse_time

NAME = "agent-schedules"
PREFIX = "/api/agents"
AGENT_LABEL = "agent-schedules.cronwright.io/agent-id"
NAME_ANNOTATION = "agent-schedules.cronwright.io/name"
LABEL_VALUE = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
TEMPLATE_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")

ScheduleType = Literal["cron", "once", "delayed"]
CallbackType = Literal["workflow", "webhook"]
ClientStatus = Literal["active", "paused"]
Status = Literal["active", "paused", "completed"]
TYPE_FIELDS = {"cron": "cron_expression", "once": "next_run", "delayed": "delay_seconds"}
INVALID = "Invalid schedule data"
RESULTS = {"Succeeded": "success", "Missed": "missed", "Skipped": "skipped", "Running": "running"}


class AgentScheduleFields(StrictFields):
    name: str = Field(min_length=1, max_length=256)
    type: ScheduleType
    cron_expression: str | None = Field(default=None, max_length=256, description="5 or 6 fields, UTC")
    next_run: datetime | None = Field(default=None, description="type once: when it runs (RFC 3339)")
    delay_seconds: int | None = Field(default=None, ge=1, le=models.MAX_DELAY_SECONDS)
    callback_type: CallbackType = "workflow"
    callback_id: str = Field(
        min_length=1,
        max_length=validation.MAX_URL_LENGTH,
        description="workflow: a WorkflowTemplate name; webhook: a URL",
    )
    status: ClientStatus = "active"


class AgentScheduleUpdate(StrictFields):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    type: ScheduleType | None = None
    cron_expression: str | None = Field(default=None, max_length=256)
    next_run: datetime | None = None
    delay_seconds: int | None = Field(default=None, ge=1, le=models.MAX_DELAY_SECONDS)
    callback_type: CallbackType | None = None
    callback_id: str | None = Field(default=None, min_length=1, max_length=validation.MAX_URL_LENGTH)
    status: ClientStatus | None = None


class AgentSchedule(BaseModel):
    id: str
    name: str
    type: ScheduleType
    cron_expression: str | None = None
    delay_seconds: int | None = None
    next_run: str | None
    last_run: str | None
    callback_type: CallbackType
    callback_id: str
    status: Status
    created_at: str
    updated_at: str | None = None


class AgentScheduleExecution(BaseModel):
    id: str
    executed_at: str | None
    status: Literal["success", "failed", "missed", "skipped", "running"]


class AgentScheduleDetail(AgentSchedule):
    executions: list[AgentScheduleExecution]


class AgentScheduleList(BaseModel):
    schedules: list[AgentSchedule]


class AgentScheduleDeleted(BaseModel):
    id: str
    deleted: Literal[True]


#: The document names status codes only: errors come in the facade's own envelope.
ERRORS = error_responses(
    ErrorEnvelope,
    {
        400: "Invalid schedule data",
        404: "Schedule not found",
        409: "The schedule changed meanwhile",
        500: "Internal error",
        503: "API keys or the Kubernetes API cannot be reached right now",
        **KEY_ERRORS,
    },
)

router = APIRouter(prefix=PREFIX, tags=["agent-schedules: Schedules API"], responses=ERRORS)
DIALECT = Dialect(NAME, (PREFIX,), router, render_error, ErrorEnvelope)
AgentId = Annotated[str, Path(pattern=LABEL_VALUE, max_length=63, description="The agent's id")]

# -- translation (pure) ------------------------------------------------------------


def check(fields: AgentScheduleFields) -> Problems:
    """What the field types cannot say: which field each type needs, and content."""
    problems = Problems()
    problems.add("name", *validation.display_name(fields.name))
    needed = TYPE_FIELDS[fields.type]
    if getattr(fields, needed) is None:
        problems.add(needed, f"Required for type {fields.type}")
    for other_type, field in TYPE_FIELDS.items():
        if other_type != fields.type and getattr(fields, field) is not None:
            problems.add(field, f"Only used with type {other_type}")
    if fields.type == "cron" and fields.cron_expression is not None:
        cron = {"cron": fields.cron_expression}
        problems.merge(validation.schedule(cron, {}, other="cron_expression"))
    if fields.callback_type == "workflow" and not TEMPLATE_NAME.fullmatch(fields.callback_id):
        problems.add(
            "callback_id", "Must be a workflow template name (lowercase letters, digits, '-' and '.')"
        )
    if fields.callback_type == "webhook":
        problems.add("callback_id", *validation.url(fields.callback_id))
    return problems


def check_time(fields: AgentScheduleFields, now: datetime, before: datetime | None = None) -> Problems:
    """A once schedule must name a time still ahead: the operator never fires an `at` that
    has passed, so such a schedule would complete with no run at all. The time a schedule
    already has may be sent back unchanged (a PUT renaming a completed one-shot)."""
    problems = Problems()
    if fields.type != "once" or fields.next_run is None:
        return problems
    at = _aware(fields.next_run)
    if at <= now and (before is None or at != before):
        problems.add(
            "next_run", f"Must be in the future (now is {utc_text(now)}): a time that has passed never runs"
        )
    return problems


def spec_of(fields: AgentScheduleFields, agent_id: str, schedule_id: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"suspend": fields.status == "paused"}
    if fields.type == "cron":
        spec["schedule"] = {"cron": fields.cron_expression, "timeZone": "UTC"}
    elif fields.type == "once":
        assert fields.next_run is not None
        spec["schedule"] = {"at": utc_text(_aware(fields.next_run)), "timeZone": "UTC"}
    else:
        spec["schedule"] = {"delaySeconds": fields.delay_seconds, "timeZone": "UTC"}
    if fields.callback_type == "workflow":
        spec["workflow"] = {"templateRef": {"kind": "WorkflowTemplate", "name": fields.callback_id}}
    else:
        body = {"agent_id": agent_id, "schedule_id": schedule_id}
        spec["http"] = {"url": fields.callback_id, "method": "POST", "body": body}
    return spec


def _aware(moment: datetime) -> datetime:
    """An offset-less time is read as UTC, the zone every time of this API is given in."""
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def expressible(obj: dict[str, Any], agent_id: str) -> bool:
    labels = obj["metadata"].get("labels") or {}
    spec = obj.get("spec") or {}
    schedule = spec.get("schedule") or {}
    template = (spec.get("workflow") or {}).get("templateRef") or {}
    return (
        labels.get(AGENT_LABEL) == agent_id
        and (
            ("cron" in schedule and schedule.get("timeZone", "UTC") == "UTC")
            or "at" in schedule
            or "delaySeconds" in schedule
        )
        and (
            "http" in spec
            or (template.get("kind", "WorkflowTemplate") == "WorkflowTemplate" and "name" in template)
        )
    )


def fields_of(obj: dict[str, Any]) -> AgentScheduleFields:
    """The agent-schedules view of a resource's spec (the inverse of spec_of)."""
    spec, meta = obj["spec"], obj["metadata"]
    schedule = spec["schedule"]
    kind: ScheduleType = "cron" if "cron" in schedule else "once" if "at" in schedule else "delayed"
    at = None
    if kind == "once":
        try:  # the instant of `at` (an offset-less one is read in timeZone), by the operator's rule
            at = schedule_math.next_fire_after(
                models.Schedule.model_validate(schedule), datetime.min.replace(tzinfo=UTC), created_at(obj)
            )
        except (ValueError, schedule_math.ScheduleError):
            at = None
    http = spec.get("http")
    return AgentScheduleFields.model_construct(
        name=(meta.get("annotations") or {}).get(NAME_ANNOTATION, meta["name"]),
        type=kind,
        cron_expression=schedule.get("cron"),
        next_run=at,
        delay_seconds=schedule.get("delaySeconds"),
        callback_type="webhook" if http else "workflow",
        callback_id=http["url"] if http else spec["workflow"]["templateRef"]["name"],
        status="paused" if spec.get("suspend") else "active",
    )


def status_of(obj: dict[str, Any]) -> Status:
    if obj["spec"].get("suspend"):
        return "paused"
    return "completed" if (obj.get("status") or {}).get("phase") == "Completed" else "active"


def view(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    fields = fields_of(obj)
    status = status_of(obj)
    if fields.type == "once":
        upcoming = fields.next_run
    elif fields.type == "delayed":
        upcoming = created_at(obj) + timedelta(seconds=fields.delay_seconds or 0)
    else:
        upcoming = next_fire(obj, now) if status == "active" else None
    out: dict[str, Any] = {"id": obj["metadata"]["name"], "name": fields.name, "type": fields.type}
    if fields.type == "cron":
        out["cron_expression"] = fields.cron_expression
    if fields.type == "delayed":
        out["delay_seconds"] = fields.delay_seconds
    out |= {
        "next_run": utc_text(upcoming),
        "last_run": utc_text(last_run_time(obj.get("status") or {})),
        "callback_type": fields.callback_type,
        "callback_id": fields.callback_id,
        "status": status,
        "created_at": obj["metadata"]["creationTimestamp"],
    }
    updated = (obj["metadata"].get("annotations") or {}).get(UPDATED_ANNOTATION)
    if updated:
        out["updated_at"] = updated
    return out


def executions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"exec-{run['id']}",
            "executed_at": utc_text(parse_time(run.get("startTime") or run.get("scheduledTime"))),
            "status": RESULTS.get(run.get("result", ""), "failed"),
        }
        for run in (obj.get("status") or {}).get("history") or []
    ]


def merged(current: AgentScheduleFields, update: dict[str, Any]) -> dict[str, Any]:
    """The schedule after a PUT of any subset: a new type drops the old type's field, and
    `next_run` only counts for type once (it is computed for the others)."""
    out = current.model_dump()
    if update.get("type") and update["type"] != current.type:
        for field in TYPE_FIELDS.values():
            out[field] = None
    out |= update
    if out.get("type") != "once":
        out["next_run"] = None
    return out


# -- endpoints (thin I/O) --------------------------------------------------------------


def _schedule(request: Request, key: ApiKey, agent_id: str, schedule_id: str) -> dict[str, Any]:
    obj = facade(request).store.get(key.namespace, schedule_id)
    if obj is None or not expressible(obj, agent_id):
        raise ApiProblem(404, "not_found", f"Schedule {schedule_id} not found")
    return obj


@router.get("/{agent_id}/schedules", response_model=AgentScheduleList, summary="List an agent's schedules")
async def list_schedules(
    request: Request,
    agent_id: AgentId,
    key: ApiKey = READ,
    status: Annotated[Status | None, Query()] = None,
    type: Annotated[ScheduleType | None, Query()] = None,
) -> dict[str, Any]:
    now = utc_now()
    items = facade(request).store.list(key.namespace, lambda o: expressible(o, agent_id))
    views = [view(o, now) for o in items]
    return {
        "schedules": [
            v
            for v in views
            if (status is None or v["status"] == status) and (type is None or v["type"] == type)
        ]
    }


@router.post(
    "/{agent_id}/schedules", status_code=201, response_model=AgentSchedule, summary="Create a schedule"
)
async def create(
    request: Request, agent_id: AgentId, fields: AgentScheduleFields, key: ApiKey = WRITE
) -> dict[str, Any]:
    check(fields).merge(check_time(fields, utc_now())).refuse(INVALID)
    name = f"schedule-{secrets.token_hex(6)}"
    body = {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "metadata": {
            "name": name,
            "labels": {DIALECT_LABEL: NAME, AGENT_LABEL: agent_id},
            "annotations": {NAME_ANNOTATION: fields.name},
        },
        "spec": spec_of(fields, agent_id, name),
    }
    obj = await facade(request).store.create(key.namespace, body)
    return view(obj, utc_now())


@router.get(
    "/{agent_id}/schedules/{schedule_id}", response_model=AgentScheduleDetail, summary="Get a schedule"
)
async def get_schedule(
    request: Request, agent_id: AgentId, schedule_id: str, key: ApiKey = READ
) -> dict[str, Any]:
    obj = _schedule(request, key, agent_id, schedule_id)
    return {**view(obj, utc_now()), "executions": executions(obj)}


@router.put("/{agent_id}/schedules/{schedule_id}", response_model=AgentSchedule, summary="Update a schedule")
async def update_schedule(
    request: Request, agent_id: AgentId, schedule_id: str, update: AgentScheduleUpdate, key: ApiKey = WRITE
) -> dict[str, Any]:
    obj = _schedule(request, key, agent_id, schedule_id)
    changes = update.model_dump(exclude_unset=True)
    validation.nulls(changes, nullable=TYPE_FIELDS.values()).refuse(INVALID)
    current = fields_of(obj)
    fields = validation.parsed(AgentScheduleFields, merged(current, changes), INVALID)
    check(fields).merge(check_time(fields, utc_now(), current.next_run)).refuse(INVALID)
    stamp = utc_text(utc_now())

    retarget = "callback_type" in changes or "callback_id" in changes

    def change(fresh: dict[str, Any]) -> dict[str, Any]:
        new_spec = spec_of(fields, agent_id, schedule_id)
        if not retarget:  # the target's other settings (headers, parameters...) stay as they are
            new_spec = {k: v for k, v in new_spec.items() if k not in ("http", "workflow")}
        replaced = ("schedule", "suspend", "http", "workflow") if retarget else ("schedule", "suspend")
        kept = {k: v for k, v in fresh["spec"].items() if k not in replaced}
        annotations = {NAME_ANNOTATION: fields.name, UPDATED_ANNOTATION: stamp}
        return {
            "metadata": {"annotations": annotations},
            "spec": replacing(fresh["spec"], {**kept, **new_spec}),
        }

    written = await facade(request).store.update(key.namespace, obj["metadata"]["uid"], change)
    if written is None:
        raise ApiProblem(404, "not_found", f"Schedule {schedule_id} not found")
    return view(written, utc_now())


@router.delete(
    "/{agent_id}/schedules/{schedule_id}", response_model=AgentScheduleDeleted, summary="Delete a schedule"
)
async def delete_schedule(
    request: Request, agent_id: AgentId, schedule_id: str, key: ApiKey = WRITE
) -> dict[str, Any]:
    obj = _schedule(request, key, agent_id, schedule_id)
    if not await facade(request).store.delete(key.namespace, obj["metadata"]["uid"]):
        raise ApiProblem(404, "not_found", f"Schedule {schedule_id} not found")
    return {"id": schedule_id, "deleted": True}
