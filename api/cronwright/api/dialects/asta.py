"""The asta cron API (seed 003) at /api/cron, as a view over CronJobSpecs.

Mapping (asta_jobs.py has the details):
- job id N ↔ the resource `asta-N`; ids come from a per-tenant counter and names are
  reserved per tenant, both in one ConfigMap written with resourceVersion preconditions
  (asta_registry.py), so concurrent creates on any number of replicas never collide.
- `cron_expr` + `tz` ↔ `spec.schedule.cron` + `timeZone`; `enabled` ↔ not `spec.suspend`.
- `channel` names an HTTP target of the settings file; it is expanded into `spec.http` when
  the job is written, with the message and its routing fields as the JSON body. `name`,
  `message`, `channel`, `channel_target`, `payload_kind`, `tlg_call` are kept verbatim in
  `asta.cronwright.io/*` annotations.

Choices where the document is silent (docs/dialect-asta.md has the full list):
- create answers 200 with `{id, name, cron_expr}`; `tz` defaults to UTC; `enabled` may be
  given on create (default true); an unknown channel is a 400 naming `channel`.
- a duplicate name is a 409 `name_taken`; names are compared exactly (case-sensitive).
- `cron_expr` must have exactly 5 fields (no seconds field, no @macros).
- errors: `{"ok": false, "error": message, "detail": message, "code": code}` plus `fields`
  (field → messages) on a 400; `detail` is there for clients that read FastAPI's key.
- reads add `user_id` (the tenant namespace), `next_run_at`, `last_run_at` and
  `last_run_status` (success | failed | running), so a run shows up in this view; writes
  ignore those read-only fields when a client sends a job back as it read it.
- `GET /api/cron/{job_id}` returns one job as the list shows it.
- lists are ordered by id; jobs this API cannot express are left out and answer 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cronwright.api.apikeys import ApiKey
from cronwright.api.auth import READ, WRITE, Facade, facade
from cronwright.api.dialects import asta_jobs as jobs
from cronwright.api.dialects import validation
from cronwright.api.dialects.asta_registry import NameTaken, Registries, RegistryBusy
from cronwright.api.dialects.contract import Dialect
from cronwright.api.dialects.resource_views import utc_now, utc_text
from cronwright.api.errors import ApiProblem, error_responses, one_line
from cronwright.core.kube import AlreadyExists, ApiError, NotFound, refs

PREFIX = "/api/cron"
#: A kubectl-made `asta-N` may already hold the id the counter hands out: take the next one.
ID_ATTEMPTS = 20


class AstaCronJob(BaseModel):
    id: int
    user_id: str
    name: str
    cron_expr: str
    tz: str
    message: str
    enabled: bool
    channel: str
    channel_target: str
    payload_kind: str
    tlg_call: bool
    created_at: str | None
    next_run_at: str | None
    last_run_at: str | None
    last_run_status: Literal["success", "failed", "running"] | None


class AstaCronJobList(BaseModel):
    cron_jobs: list[AstaCronJob]


class AstaCreated(BaseModel):
    id: int
    name: str
    cron_expr: str


class AstaUpdated(BaseModel):
    ok: Literal[True]
    id: int
    name: str
    cron_expr: str
    tz: str


class AstaDeleted(BaseModel):
    ok: Literal[True]
    id: int


class AstaError(BaseModel):
    ok: Literal[False]
    error: str
    detail: str
    code: str
    fields: dict[str, list[str]] | None = None


def render_error(problem: ApiProblem) -> JSONResponse:
    message = one_line(problem)
    body: dict[str, Any] = {"ok": False, "error": message, "detail": message, "code": problem.code}
    if problem.details:
        body["fields"] = problem.details
    return JSONResponse(body, status_code=problem.status)


ERRORS = error_responses(
    AstaError,
    {
        400: "Invalid request; `fields` names each bad field",
        401: "Missing or invalid token",
        403: "The token lacks a scope, or its namespace does not exist",
        404: "No such cron job",
        409: "The name is taken, or the job changed meanwhile",
        429: "Rate limit exceeded",
        503: "Try again shortly",
    },
)

router = APIRouter(prefix=PREFIX, tags=["asta: Cron API"], responses=ERRORS)
DIALECT = Dialect(jobs.NAME, (PREFIX,), router, render_error, AstaError)


# -- helpers (thin I/O) --------------------------------------------------------------------


def _job(state: Facade, key: ApiKey, job_id: int) -> dict[str, Any]:
    obj = state.store.get(key.namespace, jobs.resource_name(job_id)) if job_id > 0 else None
    if obj is None or not jobs.expressible(obj):
        raise ApiProblem(404, "not_found", f"Cron job {job_id} not found")
    return obj


def _taken_in_view(state: Facade, namespace: str, name: str, job_id: int | None) -> None:
    """A job made with kubectl never went through the registry: the cache still knows it."""
    for obj in state.store.list(namespace, jobs.expressible):
        if jobs.name_of(obj) == name and jobs.id_of(obj) != job_id:
            raise _name_taken(name)


def _name_taken(name: str) -> ApiProblem:
    return ApiProblem(
        409, "name_taken", f"A cron job named {name!r} already exists", {"name": ["Already in use"]}
    )


def _busy() -> ApiProblem:
    return ApiProblem(503, "busy", "Too many concurrent changes; retry", headers={"Retry-After": "1"})


def _holder_alive(state: Facade, namespace: str) -> Callable[[int, str], Awaitable[bool]]:
    """Whether job `id` still exists and still carries `name` (a reservation's holder)."""

    async def alive(job_id: int, name: str) -> bool:
        obj = state.store.get(namespace, jobs.resource_name(job_id))
        if obj is None:  # the cache may lag behind another replica: ask the API server
            try:
                obj = await state.store.kube.get(refs.cronjobspec(namespace, jobs.resource_name(job_id)))
            except NotFound:
                return False
        return jobs.name_of(obj) == name

    return alive


def _floor(state: Facade, namespace: str) -> int:
    ids = [jobs.id_of(o) for o in state.store.list(namespace)]
    return max((i for i in ids if i is not None), default=0) + 1


# -- endpoints ----------------------------------------------------------------------------


@router.get("", response_model=AstaCronJobList, summary="List cron jobs")
async def list_jobs(request: Request, key: ApiKey = READ) -> dict[str, Any]:
    now = utc_now()
    items = facade(request).store.list(key.namespace, jobs.expressible)
    items.sort(key=lambda o: jobs.id_of(o) or 0)
    return {"cron_jobs": [jobs.view(o, now) for o in items]}


@router.post("", response_model=AstaCreated, summary="Create a cron job")
async def create(request: Request, fields: jobs.AstaJobFields, key: ApiKey = WRITE) -> dict[str, Any]:
    state = facade(request)
    jobs.check(fields, state.config, channel_needed=True).refuse()
    _taken_in_view(state, key.namespace, fields.name, None)
    registries = Registries(state.store.kube)
    alive = _holder_alive(state, key.namespace)
    tried: set[int] = set()
    try:
        for _ in range(ID_ATTEMPTS):
            job_id = await registries.reserve(
                key.namespace, fields.name, alive, ours=tried, floor=_floor(state, key.namespace)
            )
            tried.add(job_id)
            body = jobs.resource(fields, job_id, key.namespace, state.config)
            try:
                obj = await state.store.create(key.namespace, body)
            except AlreadyExists:
                continue
            except ApiError:
                await registries.release(key.namespace, fields.name, job_id)
                raise
            return {"id": jobs.id_of(obj), "name": fields.name, "cron_expr": fields.cron_expr}
    except NameTaken as taken:
        raise _name_taken(taken.name) from taken
    except RegistryBusy as busy:
        raise _busy() from busy
    await registries.release(key.namespace, fields.name, max(tried))
    raise _busy()


@router.get("/{job_id}", response_model=AstaCronJob, summary="Get a cron job")
async def get_job(request: Request, job_id: int, key: ApiKey = READ) -> dict[str, Any]:
    return jobs.view(_job(facade(request), key, job_id), utc_now())


@router.put("/{job_id}", response_model=AstaUpdated, summary="Update a cron job")
async def update_job(
    request: Request, job_id: int, changes: jobs.AstaJobChanges, key: ApiKey = WRITE
) -> dict[str, Any]:
    state = facade(request)
    obj = _job(state, key, job_id)
    given = changes.model_dump(exclude_unset=True)
    validation.nulls(given).refuse()
    current = jobs.fields_of(obj).model_dump()
    fields = validation.parsed(jobs.AstaJobFields, {**current, **given})
    redeliver = any(given.get(k, current[k]) != current[k] for k in jobs.DELIVERED)
    jobs.check(fields, state.config, channel_needed=redeliver).refuse()
    http = jobs.http_of(fields, job_id, key.namespace, state.config) if redeliver else None
    old_name, renamed = current["name"], fields.name != current["name"]
    registries = Registries(state.store.kube)
    if renamed:
        _taken_in_view(state, key.namespace, fields.name, job_id)
        try:
            await registries.reserve(
                key.namespace, fields.name, _holder_alive(state, key.namespace), job_id=job_id
            )
        except NameTaken as taken:
            raise _name_taken(taken.name) from taken
        except RegistryBusy as busy:
            raise _busy() from busy
    stamp = utc_text(utc_now())
    try:
        written = await state.store.update(
            key.namespace, obj["metadata"]["uid"], lambda fresh: jobs.update_patch(fresh, fields, http, stamp)
        )
    except Exception:
        if renamed:
            await registries.release(key.namespace, fields.name, job_id)
        raise
    if written is None:
        if renamed:
            await registries.release(key.namespace, fields.name, job_id)
        raise ApiProblem(404, "not_found", f"Cron job {job_id} not found")
    if renamed:
        await registries.release(key.namespace, old_name, job_id)
    return {"ok": True, "id": job_id, "name": fields.name, "cron_expr": fields.cron_expr, "tz": fields.tz}


@router.delete("/{job_id}", response_model=AstaDeleted, summary="Delete a cron job")
async def delete_job(request: Request, job_id: int, key: ApiKey = WRITE) -> dict[str, Any]:
    state = facade(request)
    obj = _job(state, key, job_id)
    if not await state.store.delete(key.namespace, obj["metadata"]["uid"]):
        raise ApiProblem(404, "not_found", f"Cron job {job_id} not found")
    await Registries(state.store.kube).release(key.namespace, jobs.name_of(obj), job_id)
    return {"ok": True, "id": job_id}
