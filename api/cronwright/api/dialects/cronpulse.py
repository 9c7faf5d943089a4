"""The cronpulse API (seed 004) at /api/v1/projects and /api/v1/jobs, over CronProjects and
CronJobSpecs.

Mapping:
- A project is a CronProject; its id is the object's name (`cl` + 24 hex digits when made
  here; a project made with kubectl keeps the name it was given). `name` ↔
  `spec.displayName`, `url` ↔ `spec.url`.
- A job is a CronJobSpec with an owner reference to its CronProject (so deleting the project
  with kubectl cascades through the garbage collector); `projectId` is that owner's name.
  Its id is the CronJobSpec's name. `name` ↔ annotation `cronpulse.cronwright.io/name`;
  `url`, `method`, `headers`, `body` ↔ `spec.http`; `timeout` ↔ `timeoutSeconds`;
  `expectedStatusCode` ↔ `expectedStatusCodes: [code]`; `schedule` ↔ `spec.schedule.cron`
  (UTC unless the resource says otherwise); `heartbeat: true` ↔ `spec.heartbeat` with
  `toleranceSeconds` = `heartbeatTolerance` minutes times 60 (with `heartbeat: false` the
  tolerance is kept in annotation `cronpulse.cronwright.io/heartbeat-tolerance`).
- Credentials in `headers` go to a Secret owned by the job (header_secrets). They are shown
  to keys that may write jobs (write:jobs, write or *) only; values of Secrets the facade did
  not write (a kubectl-made job's `headersFrom`) to no key: both show as `********`, and
  `********` sent back for such a header keeps it (docs/security.md).
- Ping (not in the document): `POST /api/v1/jobs/{id}/ping` records now in the annotation
  `cronwright.io/last-ping` — metadata, so no generation change and no GitOps drift — which
  the operator counts as successful activity (docs/heartbeat.md).

Choices where the document is silent (docs/dialect-cronpulse.md has the full list):
- Creates answer 201 with the object; deletes answer 200 `{"id", "deleted": true}` (a project
  delete also says how many jobs went with it). PUT is a partial update for both projects
  and jobs; unknown fields are a 400 naming them; only `body` and a project's `url` may be
  set to null (and `expectedStatusCode`, meaning any 2xx).
- Defaults: `heartbeat` false, `heartbeatTolerance` 5 (minutes), `timeout` 30 (seconds),
  `expectedStatusCode` 200 (null: any 2xx counts), `headers` {}, `body` null.
- `lastStatus`: "down" while the heartbeat is Down, else the newest of the last run and the
  last ping: "success", "failed" (failed, cancelled, missed or skipped run) or "running";
  null before anything happened. `lastActivityAt` is that newest moment; `nextRunAt` comes
  from the operator's own schedule rule (UTC, `Z`).
- Permissions: `read:projects`, `write:projects`, `read:jobs`, `write:jobs`, `*`; the other
  dialects' generic "read" and "write" grant the read:… and write:… permissions here.
  Deleting a project needs only write:projects, though it deletes the project's jobs.
  The ping needs write:jobs. A missing permission is a 403.
- `GET /api/v1/jobs?projectId=` with an unknown project lists nothing; a create naming an
  unknown project is a 400 on `projectId`. `GET /api/v1/projects/{id}` is served too.
- Jobs this API cannot express (no project owner, a workflow target, a schedule other than
  cron) are left out of lists and answer 404.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cronwright.api import header_secrets
from cronwright.api.apikeys import ApiKey
from cronwright.api.auth import X_API_KEY, Facade, facade, require
from cronwright.api.dialects import validation
from cronwright.api.dialects.contract import Dialect
from cronwright.api.dialects.resource_views import DIALECT_LABEL, merge_value, next_fire, utc_now
from cronwright.api.dialects.validation import Problems, StrictFields
from cronwright.api.errors import KEY_ERRORS, ApiProblem, error_responses, invalid, one_line
from cronwright.api.projects import Projects
from cronwright.core import models

NAME = "cronpulse"
PROJECTS = "/api/v1/projects"
JOBS = "/api/v1/jobs"
NAME_ANNOTATION = "cronpulse.cronwright.io/name"
TOLERANCE_ANNOTATION = "cronpulse.cronwright.io/heartbeat-tolerance"
DEFAULT_TOLERANCE_MINUTES = 5
MAX_TOLERANCE_MINUTES = models.MAX_HEARTBEAT_TOLERANCE_SECONDS // 60

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
LastStatus = Literal["success", "failed", "running", "down"]


class CronpulseProjectFields(StrictFields):
    name: str = Field(min_length=1, max_length=256)
    url: str | None = Field(
        default=None, max_length=validation.MAX_URL_LENGTH, description="The project's home page"
    )


class CronpulseProjectPatch(StrictFields):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    url: str | None = Field(default=None, max_length=validation.MAX_URL_LENGTH)


class CronpulseJobFields(StrictFields):
    name: str = Field(min_length=1, max_length=256)
    projectId: str = Field(min_length=1, max_length=253)
    url: str = Field(
        max_length=validation.MAX_URL_LENGTH, description="URL called at every run (http or https)"
    )
    method: Method
    schedule: str = Field(min_length=1, max_length=256, description="cron expression (UTC)")
    heartbeat: bool = False
    heartbeatTolerance: int = Field(
        default=DEFAULT_TOLERANCE_MINUTES, ge=0, le=MAX_TOLERANCE_MINUTES, description="minutes"
    )
    timeout: int = Field(default=30, ge=1, le=models.MAX_TIMEOUT_SECONDS, description="seconds")
    expectedStatusCode: int | None = Field(default=200, ge=100, le=599, description="null: any 2xx")
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None


class CronpulseJobPatch(StrictFields):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    projectId: str | None = Field(default=None, min_length=1, max_length=253)
    url: str | None = Field(default=None, max_length=validation.MAX_URL_LENGTH)
    method: Method | None = None
    schedule: str | None = Field(default=None, min_length=1, max_length=256)
    heartbeat: bool | None = None
    heartbeatTolerance: int | None = Field(default=None, ge=0, le=MAX_TOLERANCE_MINUTES)
    timeout: int | None = Field(default=None, ge=1, le=models.MAX_TIMEOUT_SECONDS)
    expectedStatusCode: int | None = Field(default=None, ge=100, le=599)
    headers: dict[str, str] | None = None
    body: Any = None


class CronpulseProjectJob(BaseModel):
    id: str
    name: str
    lastStatus: LastStatus | None


class CronpulseProject(BaseModel):
    id: str
    name: str
    url: str | None
    jobs: list[CronpulseProjectJob]


class CronpulseJob(BaseModel):
    id: str
    name: str
    projectId: str
    url: str
    method: str
    schedule: str
    heartbeat: bool
    heartbeatTolerance: int
    timeout: int
    expectedStatusCode: int | None
    headers: dict[str, str]
    body: Any = None
    lastStatus: LastStatus | None
    lastActivityAt: str | None
    nextRunAt: str | None


class CronpulseDeleted(BaseModel):
    id: str
    deleted: Literal[True]
    deletedJobs: int | None = None


class CronpulseError(BaseModel):
    error: str


def render_error(problem: ApiProblem) -> JSONResponse:
    return JSONResponse({"error": one_line(problem)}, status_code=problem.status)


ERRORS = error_responses(
    CronpulseError,
    {
        400: "Missing or invalid parameters",
        404: "Not found",
        409: "The object changed meanwhile",
        503: "API keys cannot be checked right now",
        **KEY_ERRORS,
        403: "The key lacks a permission, or its namespace does not exist",
    },
)

router = APIRouter(tags=["cronpulse: projects and jobs"], responses=ERRORS)
DIALECT = Dialect(NAME, (PROJECTS, JOBS), router, render_error, CronpulseError)


def _permission(scope: str) -> Any:
    generic = scope.split(":", 1)[0]  # "read" or "write", as the other dialects' keys have
    return Depends(require(scope, header=X_API_KEY, also=(generic,)))


READ_PROJECTS = _permission("read:projects")
WRITE_PROJECTS = _permission("write:projects")
READ_JOBS = _permission("read:jobs")
WRITE_JOBS = _permission("write:jobs")

# -- translation (pure) ------------------------------------------------------------


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def project_of(obj: dict[str, Any]) -> str | None:
    """The name of the CronProject owning a job, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == models.PROJECT_KIND and ref.get("apiVersion") == models.API_VERSION:
            return ref.get("name")
    return None


def owner_reference(project: dict[str, Any]) -> dict[str, Any]:
    meta = project["metadata"]
    return {
        "apiVersion": models.API_VERSION,
        "kind": models.PROJECT_KIND,
        "name": meta["name"],
        "uid": meta["uid"],
    }


def expressible(obj: dict[str, Any]) -> bool:
    spec = obj.get("spec") or {}
    return "http" in spec and "cron" in (spec.get("schedule") or {}) and project_of(obj) is not None


def check(fields: CronpulseJobFields, time_zone: str = "UTC") -> Problems:
    """What the field types cannot say."""
    problems = Problems()
    problems.add("name", *validation.display_name(fields.name))
    problems.add("url", *validation.url(fields.url))
    schedule = {"cron": fields.schedule, "time_zone": time_zone}
    problems.merge(validation.schedule(schedule, {"cron": "schedule"}, other="schedule"))
    problems.add("body", *validation.body(fields.body))
    problems.add("headers", *validation.headers(fields.headers))
    return problems


def check_project(name: str | None, url: str | None) -> Problems:
    problems = Problems()
    if name is not None:
        problems.add("name", *validation.display_name(name))
    if url is not None:
        problems.add("url", *validation.url(url))
    return problems


def spec_of(
    fields: CronpulseJobFields,
    job_name: str,
    time_zone: str = "UTC",
    headers: list[header_secrets.Header] | None = None,
) -> dict[str, Any]:
    """`headers` stand for `fields.headers` when a write kept some from before."""
    http: dict[str, Any] = {"url": fields.url, "method": fields.method, "timeoutSeconds": fields.timeout}
    if fields.expectedStatusCode is not None:
        http["expectedStatusCodes"] = [fields.expectedStatusCode]
    kept = header_secrets.given(fields.headers) if headers is None else headers
    http |= header_secrets.http_fields(job_name, kept)
    if fields.body is not None:
        http["body"] = fields.body
    spec: dict[str, Any] = {"schedule": {"cron": fields.schedule, "timeZone": time_zone}, "http": http}
    if fields.heartbeat:
        spec["heartbeat"] = {"toleranceSeconds": fields.heartbeatTolerance * 60}
    return spec


def annotations_of(fields: CronpulseJobFields) -> dict[str, str | None]:
    """None removes an annotation in a merge patch."""
    return {
        NAME_ANNOTATION: fields.name,
        TOLERANCE_ANNOTATION: None if fields.heartbeat else str(fields.heartbeatTolerance),
    }


_HTTP_FIELDS = ("url", "method", "body", "timeoutSeconds", "expectedStatusCodes")
_HEADER_FIELDS = ("headers", "headersFrom")


def spec_patch(old: dict[str, Any], new: dict[str, Any], headers_changed: bool) -> dict[str, Any]:
    """A merge patch that puts the cronpulse fields of `new` into `old` and keeps the rest
    (a time zone, retries, signing, suspend... set with kubectl). Headers are rewritten only
    when they changed: a kubectl-made job's headersFrom may name Secrets of its own."""
    old_http = old.get("http") or {}
    fields = _HTTP_FIELDS + (_HEADER_FIELDS if headers_changed else ())
    return {
        "schedule": {"cron": new["schedule"]["cron"]},
        "http": {k: merge_value(old_http.get(k), new["http"].get(k)) for k in fields},
        "heartbeat": new.get("heartbeat"),
    }


def fields_of(obj: dict[str, Any], headers: dict[str, str]) -> CronpulseJobFields:
    """The cronpulse view of a job (the inverse of spec_of)."""
    spec = obj["spec"]
    http = spec["http"]
    annotations = obj["metadata"].get("annotations") or {}
    heartbeat = spec.get("heartbeat")
    if heartbeat is not None:
        tolerance = int(heartbeat.get("toleranceSeconds", 300)) // 60
    else:
        try:
            tolerance = int(annotations.get(TOLERANCE_ANNOTATION, DEFAULT_TOLERANCE_MINUTES))
        except ValueError:
            tolerance = DEFAULT_TOLERANCE_MINUTES
    codes = http.get("expectedStatusCodes") or [None]
    return CronpulseJobFields.model_construct(
        name=annotations.get(NAME_ANNOTATION) or obj["metadata"]["name"],
        projectId=project_of(obj) or "",
        url=http["url"],
        method=http.get("method", "POST"),
        schedule=spec["schedule"]["cron"],
        heartbeat=heartbeat is not None,
        heartbeatTolerance=tolerance,
        timeout=http.get("timeoutSeconds", 30),
        expectedStatusCode=codes[0],
        headers=headers,
        body=http.get("body"),
    )


def _activity(obj: dict[str, Any]) -> tuple[datetime | None, str | None]:
    """The newest activity (run or ping) and the status it gives."""
    status = obj.get("status") or {}
    run = status.get("lastRun") or {}
    ping = _time((obj["metadata"].get("annotations") or {}).get(models.PING_ANNOTATION))
    ran = _time(run.get("finishTime") or run.get("startTime") or run.get("scheduledTime"))
    if ping is not None and (ran is None or ping >= ran):
        return ping, "success"
    if not run:
        return None, None
    result = run.get("result")
    outcome = "success" if result == "Succeeded" else "running" if result == "Running" else "failed"
    return ran, outcome


def last_status(obj: dict[str, Any]) -> str | None:
    if ((obj.get("status") or {}).get("heartbeat") or {}).get("state") == "Down":
        return "down"
    return _activity(obj)[1]


def job_view(obj: dict[str, Any], headers: dict[str, str], now: datetime) -> dict[str, Any]:
    view = fields_of(obj, headers).model_dump()
    activity, _ = _activity(obj)
    upcoming = next_fire(obj, now)
    return {
        "id": obj["metadata"]["name"],
        **view,
        "lastStatus": last_status(obj),
        "lastActivityAt": _stamp(activity) if activity else None,
        "nextRunAt": _stamp(upcoming) if upcoming else None,
    }


def project_view(project: dict[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any]:
    name = project["metadata"]["name"]
    return {
        "id": name,
        "name": project["spec"].get("displayName", name),
        "url": project["spec"].get("url"),
        "jobs": [
            {
                "id": j["metadata"]["name"],
                "name": (j["metadata"].get("annotations") or {}).get(NAME_ANNOTATION)
                or j["metadata"]["name"],
                "lastStatus": last_status(j),
            }
            for j in jobs
            if project_of(j) == name
        ],
    }


def _new_name() -> str:
    """cuid-like, and a valid Kubernetes name."""
    return "cl" + secrets.token_hex(12)


# -- projects (thin I/O) -----------------------------------------------------------


def _projects(request: Request) -> Projects:
    return Projects(facade(request).store.kube)


def _jobs(request: Request, key: ApiKey) -> list[dict[str, Any]]:
    return facade(request).store.list(key.namespace, expressible)


async def _project(request: Request, key: ApiKey, project_id: str) -> dict[str, Any]:
    project = await _projects(request).get(key.namespace, project_id)
    if project is None:
        raise ApiProblem(404, "not_found", f"Project {project_id} not found")
    return project


@router.get(PROJECTS, response_model=list[CronpulseProject], summary="List projects")
async def list_projects(request: Request, key: ApiKey = READ_PROJECTS) -> list[dict[str, Any]]:
    jobs = _jobs(request, key)
    return [project_view(p, jobs) for p in await _projects(request).list(key.namespace)]


@router.post(PROJECTS, status_code=201, response_model=CronpulseProject, summary="Create a project")
async def create_project(
    request: Request, fields: CronpulseProjectFields, key: ApiKey = WRITE_PROJECTS
) -> dict[str, Any]:
    check_project(fields.name, fields.url).refuse()
    spec: dict[str, Any] = {"displayName": fields.name}
    if fields.url is not None:
        spec["url"] = fields.url
    body = {
        "apiVersion": models.API_VERSION,
        "kind": models.PROJECT_KIND,
        "metadata": {"name": _new_name(), "labels": {DIALECT_LABEL: NAME}},
        "spec": spec,
    }
    return project_view(await _projects(request).create(key.namespace, body), [])


@router.get(f"{PROJECTS}/{{project_id}}", response_model=CronpulseProject, summary="Get a project")
async def get_project(request: Request, project_id: str, key: ApiKey = READ_PROJECTS) -> dict[str, Any]:
    return project_view(await _project(request, key, project_id), _jobs(request, key))


@router.put(f"{PROJECTS}/{{project_id}}", response_model=CronpulseProject, summary="Update a project")
async def update_project(
    request: Request, project_id: str, patch: CronpulseProjectPatch, key: ApiKey = WRITE_PROJECTS
) -> dict[str, Any]:
    changes = patch.model_dump(exclude_unset=True)
    validation.nulls(changes, nullable=("url",)).refuse()
    check_project(changes.get("name"), changes.get("url")).refuse()
    spec: dict[str, Any] = {}
    if "name" in changes:
        spec["displayName"] = changes["name"]
    if "url" in changes:
        spec["url"] = changes["url"]
    written = await _projects(request).update(key.namespace, project_id, lambda _: {"spec": spec})
    if written is None:
        raise ApiProblem(404, "not_found", f"Project {project_id} not found")
    return project_view(written, _jobs(request, key))


@router.delete(f"{PROJECTS}/{{project_id}}", response_model=CronpulseDeleted, summary="Delete a project")
async def delete_project(request: Request, project_id: str, key: ApiKey = WRITE_PROJECTS) -> dict[str, Any]:
    """Deletes the project's jobs first, then the project: no garbage collector is relied
    on, and a delete that stops half way leaves a project to delete again, not orphans."""
    project = await _project(request, key, project_id)
    jobs = [j for j in _jobs(request, key) if project_of(j) == project_id]
    for job in jobs:
        await _delete_job(request, key, job)
    if not await _projects(request).delete(key.namespace, project):
        raise ApiProblem(404, "not_found", f"Project {project_id} not found")
    return {"id": project_id, "deleted": True, "deletedJobs": len(jobs)}


# -- jobs (thin I/O) ---------------------------------------------------------------


def _job(request: Request, key: ApiKey, job_id: str) -> dict[str, Any]:
    obj = facade(request).store.get(key.namespace, job_id)
    if obj is None or not expressible(obj):
        raise ApiProblem(404, "not_found", f"Job {job_id} not found")
    return obj


async def _project_for_job(request: Request, key: ApiKey, project_id: str) -> dict[str, Any]:
    project = await _projects(request).get(key.namespace, project_id)
    if project is None:
        raise invalid({"projectId": [f"No project {project_id[:64]!r}"]})
    return project


@router.get(JOBS, response_model=list[CronpulseJob], summary="List jobs")
async def list_jobs(
    request: Request,
    key: ApiKey = READ_JOBS,
    projectId: Annotated[str | None, Query(max_length=253)] = None,
) -> list[dict[str, Any]]:
    state = facade(request)
    now = utc_now()
    jobs = [j for j in _jobs(request, key) if projectId is None or project_of(j) == projectId]
    return [job_view(j, await _headers(state, key, j), now) for j in jobs]


@router.post(JOBS, status_code=201, response_model=CronpulseJob, summary="Create a job")
async def create_job(
    request: Request, fields: CronpulseJobFields, key: ApiKey = WRITE_JOBS
) -> dict[str, Any]:
    check(fields).refuse()
    state = facade(request)
    project = await _project_for_job(request, key, fields.projectId)
    name = _new_name()
    headers = header_secrets.given(fields.headers)
    body = {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "metadata": {
            "name": name,
            "labels": {DIALECT_LABEL: NAME},
            "annotations": {k: v for k, v in annotations_of(fields).items() if v is not None},
            "ownerReferences": [owner_reference(project)],
        },
        "spec": spec_of(fields, name),
    }
    obj = await state.headers.creating(
        key.namespace, name, headers, lambda: state.store.create(key.namespace, body)
    )
    return job_view(obj, header_secrets.shown(headers, reveal=True), utc_now())


def may_write_jobs(key: ApiKey) -> bool:
    """Who sees a job's credential headers: the keys that could have set them."""
    return key.allows("write:jobs") or key.allows("write")


async def _headers(state: Facade, key: ApiKey, obj: dict[str, Any]) -> dict[str, str]:
    return header_secrets.shown(await state.headers.read(key.namespace, obj), may_write_jobs(key))


@router.get(f"{JOBS}/{{job_id}}", response_model=CronpulseJob, summary="Get a job")
async def get_job(request: Request, job_id: str, key: ApiKey = READ_JOBS) -> dict[str, Any]:
    obj = _job(request, key, job_id)
    return job_view(obj, await _headers(facade(request), key, obj), utc_now())


#: What a PUT may set to null: null removes the body, and an expected status code (any 2xx).
NULLABLE = ("body", "expectedStatusCode")


@router.put(f"{JOBS}/{{job_id}}", response_model=CronpulseJob, summary="Update a job")
async def update_job(
    request: Request, job_id: str, patch: CronpulseJobPatch, key: ApiKey = WRITE_JOBS
) -> dict[str, Any]:
    state = facade(request)
    obj = _job(request, key, job_id)
    changes = patch.model_dump(exclude_unset=True)
    validation.nulls(changes, nullable=NULLABLE).refuse()
    before = await state.headers.read(key.namespace, obj)
    current = fields_of(obj, header_secrets.shown(before, reveal=True)).model_dump()
    fields = validation.parsed(CronpulseJobFields, {**current, **changes})
    check(fields, obj["spec"]["schedule"].get("timeZone", "UTC")).refuse()
    project = None
    if "projectId" in changes and changes["projectId"] != project_of(obj):
        project = await _project_for_job(request, key, changes["projectId"])
    headers_changed = "headers" in changes
    headers = header_secrets.resolve(fields.headers, before) if headers_changed else before
    if headers_changed:
        await state.headers.replace(key.namespace, obj, headers)

    def change(fresh: dict[str, Any]) -> dict[str, Any]:
        zone = fresh["spec"]["schedule"].get("timeZone", "UTC")
        metadata: dict[str, Any] = {"annotations": annotations_of(fields)}
        if project is not None:
            others = [
                r
                for r in fresh["metadata"].get("ownerReferences") or []
                if r.get("kind") != models.PROJECT_KIND
            ]
            metadata["ownerReferences"] = [*others, owner_reference(project)]
        new_spec = spec_of(fields, job_id, zone, headers)
        return {"metadata": metadata, "spec": spec_patch(fresh["spec"], new_spec, headers_changed)}

    written = await state.store.update(key.namespace, obj["metadata"]["uid"], change)
    if written is None:
        raise ApiProblem(404, "not_found", f"Job {job_id} not found")
    return job_view(written, header_secrets.shown(headers, reveal=True), utc_now())


async def _delete_job(request: Request, key: ApiKey, obj: dict[str, Any]) -> bool:
    state = facade(request)
    deleted = await state.store.delete(key.namespace, obj["metadata"]["uid"])
    await state.headers.forget(key.namespace, obj)
    return deleted


@router.delete(
    f"{JOBS}/{{job_id}}",
    response_model=CronpulseDeleted,
    response_model_exclude_none=True,
    summary="Delete a job",
)
async def delete_job(request: Request, job_id: str, key: ApiKey = WRITE_JOBS) -> dict[str, Any]:
    if not await _delete_job(request, key, _job(request, key, job_id)):
        raise ApiProblem(404, "not_found", f"Job {job_id} not found")
    return {"id": job_id, "deleted": True}


@router.post(f"{JOBS}/{{job_id}}/ping", response_model=CronpulseJob, summary="Report in (heartbeat)")
async def ping(request: Request, job_id: str, key: ApiKey = WRITE_JOBS) -> dict[str, Any]:
    """An outside process reports success: the operator counts it as activity for the
    job's heartbeat (docs/heartbeat.md)."""
    state = facade(request)
    obj = _job(request, key, job_id)
    stamp = _stamp(utc_now())
    written = await state.store.update(
        key.namespace,
        obj["metadata"]["uid"],
        lambda _: {"metadata": {"annotations": {models.PING_ANNOTATION: stamp}}},
    )
    if written is None:
        raise ApiProblem(404, "not_found", f"Job {job_id} not found")
    return job_view(written, await _headers(state, key, written), utc_now())
