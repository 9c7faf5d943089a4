"""The settings file shared by the operator and the facade.

Helm renders it into a ConfigMap mounted into both Deployments (``--config``); `cronwright
dev` and the tests write it as a file. It holds what an administrator names once and users
refer to by name: cron-registry handlers and asta channels. A bad file stops the process at
start with the field that is wrong, never at the first request that needs it.

Example::

    handlers:                 # cron-registry `handler` -> a target
      cleanup-sessions:
        http: {url: "https://app.internal/tasks/cleanup", method: POST}
      nightly-report:
        workflow: {templateRef: {name: nightly-report}}
    channels:                 # asta `channel` -> where a run POSTs the message
      web:
        url: "https://app.internal/agent/inbox"
    ssrf:                     # which addresses HTTP targets may connect to (docs/security.md)
      denyPrivate: true
      deny: ["10.96.0.0/12"]  # the cluster's Service range
      allow: ["10.96.0.10/32"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, IPvAnyNetwork, ValidationError, model_validator

from cronwright.core.models import HttpTarget, Model, WorkflowTarget


class NamedTarget(Model):
    """A reusable target: exactly one of http or workflow, as in a CronJobSpec."""

    http: HttpTarget | None = None
    workflow: WorkflowTarget | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> NamedTarget:
        if (self.http is None) == (self.workflow is None):
            raise ValueError("exactly one of http or workflow must be set")
        return self

    def spec_fields(self) -> dict[str, Any]:
        """The target as CronJobSpec spec fields (`http` or `workflow`), camelCase."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SsrfSettings(Model):
    """The operator's SSRF guard; link-local and cloud-metadata addresses are always denied
    unless listed in ``allow`` (the list is in operator/ssrf.py and docs/security.md)."""

    deny_private: bool = False
    """Also deny loopback, RFC 1918, carrier-grade NAT and unique-local IPv6 addresses."""

    deny: list[IPvAnyNetwork] = Field(default_factory=list)
    """More ranges to deny, e.g. the cluster's Service range (a bare address means /32 or /128)."""

    allow: list[IPvAnyNetwork] = Field(default_factory=list)
    """Ranges always allowed: wins over every deny rule, the built-in ones included."""


class Config(Model):
    handlers: dict[str, NamedTarget] = Field(default_factory=dict)
    """cron-registry handlers by name."""

    channels: dict[str, HttpTarget] = Field(default_factory=dict)
    """asta channels by name: the HTTP target a run delivers its message to."""

    ssrf: SsrfSettings = Field(default_factory=SsrfSettings)
    """Where the operator's HTTP runs may connect."""


class ConfigError(Exception):
    """The settings file is unreadable or invalid; the message names the field."""


def load(path: str | Path | None) -> Config:
    """The settings in `path`, or the defaults (nothing named) when no file is given."""
    if path is None:
        return Config()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read settings: {error}") from error
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from error
