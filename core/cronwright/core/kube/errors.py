"""What can go wrong talking to the API server, as one hierarchy of exceptions.

Every failure of a call through `Kube` is an `ApiError` — a refusal by status (`NotFound`,
`Conflict`, ...) or `Unavailable` when trying again later may work: an overloaded or
failing server (429, 5xx) and, as `Unreachable`, no answer at all (connection refused,
timeout). Callers say `except NotFound` instead of comparing numbers, and never see the
HTTP library underneath.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx


class ApiError(Exception):
    """A failed call, with the server's Status object when there is one.

    `status` is the HTTP status (0 when no answer came), `reason` the Status reason
    ("NotFound", "AlreadyExists", ...), `message` its human text."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"{status}: {message}")

    @property
    def reason(self) -> str:
        return self.body.get("reason", "") if isinstance(self.body, dict) else ""

    @property
    def message(self) -> str:
        return self.body.get("message", "") if isinstance(self.body, dict) else str(self.body)


class BadRequest(ApiError):
    """400: the request itself is malformed."""


class Unauthorized(ApiError):
    """401: the credentials were not accepted."""


class Forbidden(ApiError):
    """403: RBAC (or an admission policy) refuses this identity."""


class NotFound(ApiError):
    """404: no such object, namespace, or resource type."""


class Conflict(ApiError):
    """409: the object changed since the resourceVersion the write was conditional on."""


class AlreadyExists(Conflict):
    """409 with reason AlreadyExists: a create found the name taken."""


class Expired(ApiError):
    """410: a watch's resourceVersion is too old; list again."""


class Invalid(ApiError):
    """422: the object fails the API server's validation (schema, admission)."""


class Unavailable(ApiError):
    """429 or 5xx: the server is overloaded or failing; the same call may work later."""


class Unreachable(Unavailable):
    """No (usable) answer: connection refused or reset, TLS failure, timeout."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Expired,
    422: Invalid,
    429: Unavailable,
    500: Unavailable,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


def error_for(status: int, body: Any) -> ApiError:
    """The exception for a non-2xx answer (or a watch ERROR event's Status)."""
    if status == 409 and isinstance(body, dict) and body.get("reason") == "AlreadyExists":
        return AlreadyExists(status, body)
    return _BY_STATUS.get(status, ApiError)(status, body)


@contextlib.contextmanager
def unreachable_on_transport_errors() -> Iterator[None]:
    """Turn the HTTP library's errors (no answer, or none that can be read) into Unreachable."""
    try:
        yield
    except httpx.HTTPError as error:
        raise Unreachable(
            0, {"reason": "Unreachable", "message": str(error) or type(error).__name__}
        ) from error
