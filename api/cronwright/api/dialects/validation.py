"""The content checks every dialect makes on what a client sends, in one place.

Each dialect once carried its own copies, and they drifted (a1base took header names that
cronpulse refused; only asta and cronpulse projects refused a blank name). Here each rule is written once and
returns plain messages; the dialect files them under its own field name (`endpoint_url`,
`url`, `callback_id`...) in a `Problems`, and its envelope renders them. What core already
decides (the CRD's URL pattern, cron and time zone parsing) is delegated to core, so the
facade never accepts what the operator would then refuse.

The rules (docs/dialects.md, "Shared validation"):
- URL: at most 2048 characters, no whitespace or control characters, the CRD's
  `http(s)://` pattern, readable by httpx (the operator's client: IDNA host names), a
  host, and a port (if any) in 1-65535.
- headers: at most 64; each name an RFC 9110 token of at most 256 characters, names
  unique regardless of case; each value printable ASCII (space to `~`, what the
  operator's HTTP client can send) without leading or trailing spaces; name plus value at
  most 8 KiB; at most 32 credential-named headers (they become `headersFrom` entries).
- body: at most 64 KiB of JSON.
- schedule: core's Schedule model, then every problem `schedule.problems` finds (a bad
  zone and a bad cron expression are both reported); no control characters in either.
- display names: not blank, no control characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_snake

from cronwright.api import header_secrets
from cronwright.api.errors import field_errors, invalid
from cronwright.core import models
from cronwright.core import schedule as schedule_math

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Whole-value checks use `fullmatch`: with `re.match`, a pattern's `$` also matches before
#: a trailing newline, so `"X-A\n"` would pass for a header name.
HEADER_VALUE = re.compile(r"^(?:[\x21-\x7e](?:[ \x21-\x7e]*[\x21-\x7e])?)?$")
MAX_URL_LENGTH = models.MAX_URL_LENGTH
MAX_HEADERS = 64
MAX_HEADER_BYTES = 8 * 1024
MAX_BODY_BYTES = 64 * 1024

Model = TypeVar("Model", bound=BaseModel)


class StrictFields(BaseModel):
    """A request body: an unknown field is a 400 naming it, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Problems(dict[str, list[str]]):
    """Field → messages, the `details` of a 400; the dialect chooses the field names."""

    def add(self, field: str, *messages: str) -> None:
        if messages:
            self.setdefault(field, []).extend(messages)

    def merge(self, other: Mapping[str, list[str]]) -> Problems:
        for field, messages in other.items():
            self.add(field, *messages)
        return self

    def fill(self, other: Mapping[str, list[str]]) -> Problems:
        """Merge what `other` says of the fields found fine so far: a field that an earlier,
        more specific check found wanting is not reported twice."""
        return self.merge({field: messages for field, messages in other.items() if field not in self})

    def refuse(self, message: str = "Invalid request parameters") -> None:
        """A 400 listing every problem, if there is any."""
        if self:
            raise invalid(dict(self), message)


def parsed(model: type[Model], data: Mapping[str, Any], message: str = "Invalid request parameters") -> Model:
    """`data` (a stored job merged with a client's changes) as `model`, or a 400 naming
    the fields the model refuses."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid(field_errors(list(error.errors())), message) from error


def nulls(changes: Mapping[str, Any], nullable: Collection[str] = ()) -> Problems:
    """A partial update's fields set to null that may not be (null clears only `nullable`)."""
    problems = Problems()
    for field, value in changes.items():
        if value is None and field not in nullable:
            problems.add(field, "Cannot be null")
    return problems


def control_characters(value: str) -> list[str]:
    return ["Must not contain control characters"] if CONTROL.search(value) else []


def display_name(value: str) -> list[str]:
    """A name people read (kept in an annotation): something visible, on one line."""
    return (["Must not be blank"] if not value.strip() else []) + control_characters(value)


def url(value: str) -> list[str]:
    """An absolute http:// or https:// URL the CRD accepts and the operator's HTTP client
    (httpx) can call."""
    if len(value) > MAX_URL_LENGTH:
        return [f"At most {MAX_URL_LENGTH} characters"]
    if CONTROL.search(value) or any(c.isspace() for c in value):
        return ["Must not contain spaces or control characters"]
    if not re.fullmatch(models.URL, value):
        return ["Must be an absolute http:// or https:// URL"]
    try:
        parsed = httpx.URL(value)
    except httpx.InvalidURL as error:
        return [f"Not a valid URL ({error})"]
    if not parsed.host:
        return ["Must name a host"]
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        return [f"Port {parsed.port} is not in 1-65535"]
    return []


def headers(given: Mapping[str, str]) -> list[str]:
    """Request headers a client asks every run to send."""
    problems = []
    if len(given) > MAX_HEADERS:
        problems.append(f"At most {MAX_HEADERS} headers")
    credentials = [name for name in given if header_secrets.is_credential(name)]
    if len(credentials) > models.MAX_HEADERS_FROM:
        problems.append(f"At most {models.MAX_HEADERS_FROM} credential headers (auth, token, key, ...)")
    seen: set[str] = set()
    for name, value in given.items():
        shown = repr(name[:64])
        if len(name) > models.MAX_HEADER_NAME_LENGTH or not re.fullmatch(models.HEADER_NAME, name):
            problems.append(f"Invalid header name {shown}: letters, digits and !#$%&'*+-.^_`|~ only")
        elif name.lower() in seen:
            problems.append(f"Header {shown} is given twice (names are case-insensitive)")
        elif not HEADER_VALUE.fullmatch(value):
            problems.append(
                f"Invalid value of header {shown}: printable ASCII without control characters"
                " or leading and trailing spaces"
            )
        elif len(name) + len(value) > MAX_HEADER_BYTES:
            problems.append(f"Header {shown} is too long (at most {MAX_HEADER_BYTES} bytes)")
        seen.add(name.lower())
    return problems


def body(value: Any) -> list[str]:
    if value is not None and len(json.dumps(value)) > MAX_BODY_BYTES:
        return [f"Too large: at most {MAX_BODY_BYTES // 1024} KiB of JSON"]
    return []


def schedule(given: Mapping[str, Any], names: Mapping[str, str], other: str) -> Problems:
    """Core's own verdict on a schedule given in core's field names (`cron`, `time_zone`,
    `frequency`, ...): its model first, then every problem `schedule.problems` finds. Each
    problem is filed under the dialect's name for the field (`names`, core name → the
    dialect's), and under `other` when the dialect has no such field."""
    problems = Problems()
    for field in ("cron", "time_zone"):
        if isinstance(given.get(field), str):
            problems.add(names.get(field, other), *control_characters(given[field]))
    if problems:
        return problems
    try:
        parsed_schedule = models.Schedule.model_validate(given)
    except ValidationError as error:
        for field, messages in field_errors(list(error.errors())).items():
            problems.add(names.get(field, other), *messages)
        return problems
    for problem in schedule_math.problems(parsed_schedule):
        problems.add(names.get(to_snake(problem.field.removeprefix("schedule.")), other), problem.message)
    return problems
