"""The CronJobSpec resource, v1alpha1: the one definition every part of cronwright reads.

The CRD in ``crds/`` is generated from these models (``cronwright crd``), so the API
server, the operator and the facade agree on every field by construction. Field
docstrings become the CRD's descriptions, which is what ``kubectl explain`` prints.
Rules that involve more than one field are CEL ``x-kubernetes-validations`` so the API
server refuses a bad manifest at ``kubectl apply`` time, before the operator sees it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "cronwright.io"
VERSION = "v1alpha1"
KIND = "CronJobSpec"
PLURAL = "cronjobspecs"
SINGULAR = "cronjobspec"
SHORT_NAMES = ["cjs"]
API_VERSION = f"{GROUP}/{VERSION}"
PROJECT_KIND = "CronProject"
PROJECT_PLURAL = "cronprojects"
PROJECT_SINGULAR = "cronproject"
#: When an outside process last reported in (RFC 3339), for heartbeat monitoring. Metadata,
#: not spec: a ping moves no generation, so GitOps tools see no drift.
PING_ANNOTATION = "cronwright.io/last-ping"
MAX_HEARTBEAT_TOLERANCE_SECONDS = 7 * 24 * 3600

MAX_HISTORY = 100
MAX_TIMEOUT_SECONDS = 3600
HH_MM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
URL = r"^https?://[^\s/$.?#][^\s]*$"
MAX_URL_LENGTH = 2048
#: An HTTP header name: an RFC 9110 (formerly RFC 7230) token.
HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
MAX_HEADER_NAME_LENGTH = 256
MAX_HEADERS_FROM = 32
MAX_DELAY_SECONDS = 366 * 24 * 3600


def _rules(*rules: tuple[str, str] | tuple[str, str, str]) -> dict[str, Any]:
    """CEL rules in the CRD's x-kubernetes-validations form: (rule, message[, fieldPath])."""
    out = []
    for rule in rules:
        entry = {"rule": rule[0], "message": rule[1]}
        if len(rule) == 3:
            entry["fieldPath"] = rule[2]
        out.append(entry)
    return {"x-kubernetes-validations": out}


class Model(BaseModel):
    """camelCase on the wire (Kubernetes convention), snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        extra="forbid",
    )


class Frequency(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


class Schedule(Model):
    """When the job runs: exactly one of cron, frequency, at, delaySeconds or every."""

    model_config = ConfigDict(
        json_schema_extra=_rules(
            (
                "[has(self.cron), has(self.frequency), has(self.at), has(self.delaySeconds),"
                " has(self.every)].exists_one(x, x)",
                "exactly one schedule form must be set: cron, frequency, at, delaySeconds or every",
            ),
            (
                "!has(self.frequency) || has(self.time)",
                "time (HH:MM) is required with frequency",
                ".time",
            ),
            (
                "!has(self.frequency) || self.frequency != 'weekly' || has(self.dayOfWeek)",
                "dayOfWeek (0-6, 0 = Sunday) is required with frequency weekly",
                ".dayOfWeek",
            ),
            (
                "!has(self.frequency) || self.frequency != 'monthly' || has(self.dayOfMonth)",
                "dayOfMonth (1-31) is required with frequency monthly",
                ".dayOfMonth",
            ),
            (
                "has(self.frequency) || !(has(self.time) || has(self.dayOfWeek) || has(self.dayOfMonth))",
                "time, dayOfWeek and dayOfMonth are only used with frequency",
            ),
            (
                "!has(self.dayOfWeek) || (has(self.frequency) && self.frequency == 'weekly')",
                "dayOfWeek is only used with frequency weekly",
                ".dayOfWeek",
            ),
            (
                "!has(self.dayOfMonth) || (has(self.frequency) && self.frequency == 'monthly')",
                "dayOfMonth is only used with frequency monthly",
                ".dayOfMonth",
            ),
        )
    )

    cron: str | None = Field(default=None, min_length=1, max_length=256)
    """Cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with a
    leading seconds field, or a macro (@yearly, @monthly, @weekly, @daily, @hourly).
    Evaluated in timeZone."""

    frequency: Frequency | None = None
    """Preset: daily, weekly or monthly at `time`; weekly needs dayOfWeek, monthly needs
    dayOfMonth (clamped to the month's last day in shorter months)."""

    time: str | None = Field(default=None, pattern=HH_MM)
    """Wall-clock time HH:MM (24 h) in timeZone, for frequency."""

    day_of_week: int | None = Field(default=None, ge=0, le=6)
    """Day of the week for frequency weekly: 0 = Sunday ... 6 = Saturday."""

    day_of_month: int | None = Field(default=None, ge=1, le=31)
    """Day of the month for frequency monthly, 1-31."""

    at: datetime | None = None
    """Run once at this instant (RFC 3339, e.g. 2026-12-20T15:00:00Z)."""

    delay_seconds: int | None = Field(default=None, ge=1, le=MAX_DELAY_SECONDS)
    """Run once, this many seconds after the resource was created."""

    every: str | None = Field(default=None, pattern=DURATION, max_length=32)
    """Fixed interval as a duration (1s minimum), e.g. 30s, 5m, 1h30m. Counted from the
    resource's creation."""

    time_zone: str = Field(default="UTC", min_length=1, max_length=64)
    """IANA time zone the schedule is read in, e.g. America/New_York. Daylight saving:
    each wall-clock occurrence fires once (see docs/schedules.md)."""


class Method(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"
    OPTIONS = "OPTIONS"


class SecretKeyRef(Model):
    """A key of a Secret in the resource's namespace."""

    name: str = Field(min_length=1, max_length=253)
    """Name of the Secret."""

    key: str = Field(min_length=1, max_length=253)
    """Key within the Secret's data."""


class HeaderFromSecret(Model):
    """A request header whose value is read from a Secret at run time."""

    name: str = Field(min_length=1, max_length=MAX_HEADER_NAME_LENGTH, pattern=HEADER_NAME)
    """Header name, e.g. Authorization."""

    secret_key_ref: SecretKeyRef
    """The Secret key holding the header's value."""


class Signing(Model):
    """HMAC-SHA256 signature of each request, so the receiver can verify the sender."""

    secret_key_ref: SecretKeyRef
    """The Secret key holding the shared signing key."""

    header: str = Field(default="X-Cronwright-Signature", min_length=1, max_length=256)
    """Header carrying `t=<unix seconds>,v1=<hex hmac>` over "<t>.<body>"."""


class HttpTarget(Model):
    """An HTTP request made at every run."""

    url: str = Field(max_length=MAX_URL_LENGTH, pattern=URL)
    """Absolute http:// or https:// URL."""

    method: Method = Method.POST
    """HTTP method."""

    headers: dict[str, str] | None = None
    """Request headers in clear. Put credentials in headersFrom instead."""

    headers_from: list[HeaderFromSecret] | None = Field(default=None, max_length=MAX_HEADERS_FROM)
    """Request headers read from Secrets at run time."""

    body: Any = Field(default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    """Request body: a string is sent as text/plain, any other JSON value as application/json."""

    timeout_seconds: int = Field(default=30, ge=1, le=MAX_TIMEOUT_SECONDS)
    """Timeout of one attempt, in seconds (1-3600)."""

    expected_status_codes: list[int] | None = Field(default=None, max_length=64)
    """Response codes that count as success. Default: any 2xx."""

    signing: Signing | None = None
    """Sign each request with HMAC-SHA256."""


class TemplateRef(Model):
    """An Argo Workflows template, run as a Workflow with workflowTemplateRef."""

    kind: Literal["WorkflowTemplate", "ClusterWorkflowTemplate"] = "WorkflowTemplate"
    """WorkflowTemplate (namespaced) or ClusterWorkflowTemplate."""

    name: str = Field(min_length=1, max_length=253)
    """Name of the template."""


class ResultRule(Model):
    """How to read the result of a run object whose kind cronwright does not know."""

    condition_type: str | None = Field(default=None, max_length=128)
    """A status condition type: status True = succeeded, False with a terminal reason = failed."""

    field_path: str | None = Field(default=None, max_length=256)
    """Dotted path into the object, e.g. status.phase, compared with the values below."""

    success_values: list[str] | None = None
    """Values of fieldPath meaning success."""

    failure_values: list[str] | None = None
    """Values of fieldPath meaning failure."""


class WorkflowTarget(Model):
    """A Kubernetes object created at every run and followed to its result."""

    model_config = ConfigDict(
        json_schema_extra=_rules(
            (
                "has(self.templateRef) != has(self.manifest)",
                "exactly one of templateRef or manifest must be set",
            ),
        )
    )

    template_ref: TemplateRef | None = None
    """Run this Argo WorkflowTemplate / ClusterWorkflowTemplate."""

    manifest: dict[str, Any] | None = Field(
        default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    """Any namespaced object to create per run (batch/v1 Job, argoproj.io Workflow,
    Tekton PipelineRun, ...). Needs apiVersion and kind; the name is generated."""

    parameters: dict[str, str] | None = None
    """Parameters merged into the run: Argo arguments, or Job env variables."""

    result: ResultRule | None = None
    """How to read the result for kinds other than Job, Argo Workflow and Tekton runs."""

    deadline_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    """A run object not finished after this long counts as failed (timeout)."""


class ConcurrencyPolicy(StrEnum):
    Allow = "Allow"
    Forbid = "Forbid"
    Replace = "Replace"


class Retry(Model):
    """Retries of one run after a failed attempt (connection error, timeout, 5xx, 429)."""

    limit: int = Field(default=0, ge=0, le=10)
    """Attempts after the first; 0 = no retry."""

    backoff_seconds: float = Field(default=1, ge=0, le=3600)
    """First backoff; doubled per attempt, with jitter."""

    max_backoff_seconds: float = Field(default=300, ge=0, le=3600)
    """Upper bound of one backoff."""


class Heartbeat(Model):
    """Dead-man's switch: the job is Down when no successful activity (a successful run, or
    a ping recorded in the cronwright.io/last-ping annotation) follows a due time within the
    tolerance."""

    tolerance_seconds: int = Field(default=300, ge=0, le=MAX_HEARTBEAT_TOLERANCE_SECONDS)
    """Grace after each due time before the job counts as Down (0-604800 seconds)."""


class CronJobSpecSpec(Model):
    """What to run and when."""

    model_config = ConfigDict(
        json_schema_extra=_rules(
            (
                "has(self.http) != has(self.workflow)",
                "exactly one target must be set: http or workflow",
            ),
        )
    )

    schedule: Schedule
    """When to run."""

    http: HttpTarget | None = None
    """Target: an HTTP request."""

    workflow: WorkflowTarget | None = None
    """Target: a workflow object (Job, Argo Workflow, ...)."""

    suspend: bool = False
    """Pause: no scheduled run fires while true; runs missed meanwhile are not made up."""

    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.Allow
    """What to do when a run is due while the previous one is still running:
    Allow (run both), Forbid (skip the new one), Replace (cancel the old one)."""

    starting_deadline_seconds: int | None = Field(default=None, ge=0, le=366 * 24 * 3600)
    """A run that cannot start within this many seconds of its time is missed, not fired."""

    retry: Retry | None = None
    """Retries within one run."""

    history_limit: int = Field(default=20, ge=0, le=MAX_HISTORY)
    """Runs kept in status.history (0-100)."""

    heartbeat: Heartbeat | None = None
    """Heartbeat monitoring: report the job Down when its activity stops (docs/heartbeat.md)."""


class Phase(StrEnum):
    Pending = "Pending"
    Active = "Active"
    Paused = "Paused"
    Completed = "Completed"
    Invalid = "Invalid"


class RunResult(StrEnum):
    Running = "Running"
    Succeeded = "Succeeded"
    Failed = "Failed"
    Missed = "Missed"
    Skipped = "Skipped"
    Cancelled = "Cancelled"
    #: At or before the watermark of an operator that stopped without recording it: it
    #: may have fired; it is never fired again (docs/operator.md).
    Unknown = "Unknown"


class Trigger(StrEnum):
    schedule = "schedule"
    manual = "manual"
    catchup = "catchup"


class ObjectRef(Model):
    """A run object created for a workflow target."""

    model_config = ConfigDict(extra="ignore")

    api_version: str
    kind: str
    name: str
    uid: str | None = None
    run_id: str | None = None
    """The run the object belongs to (in status.active: what an operator restarted
    mid-run needs to record the result)."""

    scheduled_time: datetime | None = None
    """The instant the run was due (in status.active)."""

    trigger: Trigger | None = None
    """What started the run (in status.active)."""


class RunRecord(Model):
    """One run: when it was due, what happened."""

    model_config = ConfigDict(extra="ignore")

    id: str
    """Stable run id."""

    scheduled_time: datetime | None = None
    """The instant the run was due; for a manual run, when its trigger was acted on."""

    start_time: datetime | None = None
    finish_time: datetime | None = None
    duration_ms: int | None = None
    result: RunResult
    trigger: Trigger = Trigger.schedule
    attempts: int = 0
    response_code: int | None = None
    """HTTP status code of the last attempt."""

    response_body: Any = Field(default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    """Response body, truncated to a few KiB; parsed when it is JSON."""

    error: str | None = None
    """Why the run failed, was missed or skipped."""

    object: ObjectRef | None = None
    """The run object of a workflow target."""


class Counters(Model):
    model_config = ConfigDict(extra="ignore")

    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    missed: int = 0
    consecutive_failures: int = 0
    unknown: int = 0
    """Scheduled times recorded Unknown (see RunResult.Unknown)."""


class Condition(Model):
    """Kubernetes-style condition (type, status, reason, message)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None
    observed_generation: int | None = None


class HeartbeatState(StrEnum):
    Up = "Up"
    Down = "Down"


class HeartbeatStatus(Model):
    """The heartbeat verdict, written by the operator when it changes."""

    model_config = ConfigDict(extra="ignore")

    state: HeartbeatState
    since: datetime | None = None
    """When the state last changed."""

    missed_deadline: datetime | None = None
    """While Down: the instant by which activity was expected."""


class CronJobSpecStatus(Model):
    """What happened: written by the operator only."""

    model_config = ConfigDict(extra="ignore")

    phase: Phase | None = None
    schedule: str | None = None
    """The schedule in words (printer column)."""

    target: str | None = None
    """The target in words (printer column)."""

    next_run_time: datetime | None = None
    last_schedule_time: datetime | None = None
    last_successful_time: datetime | None = None
    last_run: RunRecord | None = None
    history: list[RunRecord] | None = Field(default=None, max_length=MAX_HISTORY)
    """Newest first, at most historyLimit entries."""

    counters: Counters | None = None
    active: list[ObjectRef] | None = None
    """Run objects in flight (workflow targets)."""

    last_trigger: str | None = None
    """The last cronwright.io/trigger annotation value that fired a manual run."""

    observed_generation: int | None = None
    conditions: list[Condition] | None = None
    heartbeat: HeartbeatStatus | None = None
    """Heartbeat monitoring (spec.heartbeat)."""


class CronJobSpec(Model):
    """Schedules HTTP calls or workflow runs."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["cronwright.io/v1alpha1"] = API_VERSION
    kind: Literal["CronJobSpec"] = KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: CronJobSpecSpec
    status: CronJobSpecStatus | None = None


class CronProjectSpec(Model):
    """A named group of CronJobSpecs. Its jobs carry an owner reference to it, so deleting
    the project deletes them (garbage collector)."""

    display_name: str = Field(min_length=1, max_length=256)
    """The project's name as people see it."""

    url: str | None = Field(default=None, max_length=MAX_URL_LENGTH, pattern=URL)
    """The project's home page (informational)."""


class CronProject(Model):
    """Groups CronJobSpecs (the cronpulse API's projects)."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["cronwright.io/v1alpha1"] = API_VERSION
    kind: Literal["CronProject"] = PROJECT_KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: CronProjectSpec
