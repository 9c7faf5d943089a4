"""Errors of the facade, rendered in each dialect's own envelope.

Handlers raise `ApiProblem`; FastAPI's own validation and routing errors, and anything
unexpected, are turned into one too. Which envelope is used depends only on the path
prefix, so a dialect module declares its renderer once and never thinks about it again.
Nothing unexpected ever leaves with a stack trace: it is logged, and the client gets a
500 in its dialect's format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from cronwright.core.kube import ApiError, Conflict

log = logging.getLogger(__name__)


class ApiProblem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def invalid(details: dict[str, list[str]], message: str = "Invalid request parameters") -> ApiProblem:
    return ApiProblem(400, "validation_error", message, details)


def one_line(problem: ApiProblem) -> str:
    """The message with each bad field's messages appended, for envelopes whose error is one
    string (asta, cronpulse): the client still learns which field to fix."""
    if not problem.details:
        return problem.message
    return problem.message + ": " + "; ".join(f"{f}: {', '.join(m)}" for f, m in problem.details.items())


Renderer = Callable[[ApiProblem], JSONResponse]
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
}


#: What the key check answers on every dialect's routes (auth.py, ratelimit.py), as most
#: dialects word it.
KEY_ERRORS: dict[int, str] = {
    401: "Missing or invalid API key",
    403: "The key lacks a scope, or its namespace does not exist",
    429: "Rate limit exceeded",
}


def missing_namespace(error: ApiError) -> str | None:
    """The namespace an API server's 404 says does not exist: a write in the namespace of a
    key bound to one nobody created (or that was deleted)."""
    details = error.body.get("details") if isinstance(error.body, dict) else None
    if error.status != 404 or not isinstance(details, dict) or details.get("kind") != "namespaces":
        return None
    return str(details.get("name") or "")


def namespace_problem(namespace: str) -> ApiProblem:
    """A key's namespace is missing: the key is fine, but nothing can be written with it,
    so the caller gets a 403 naming the namespace rather than a 503 to retry."""
    return ApiProblem(
        403,
        "namespace_not_found",
        f"This API key's namespace {namespace!r} does not exist; an administrator must create it",
    )


def error_responses(
    envelope: type[BaseModel], descriptions: dict[int, str]
) -> dict[int | str, dict[str, Any]]:
    """A dialect router's `responses`: each error status it answers, in its own envelope, so
    /openapi.json documents the dialect's 400 instead of FastAPI's 422 (ordered by status)."""
    return {
        status: {"model": envelope, "description": descriptions[status]} for status in sorted(descriptions)
    }


def field_errors(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """pydantic/FastAPI errors as {field: [messages]}, the shape the documented APIs use."""
    details: dict[str, list[str]] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
        if error.get("type") == "json_invalid":
            field, message = (
                "body",
                f"Malformed JSON: {error.get('ctx', {}).get('error', 'cannot be parsed')}",
            )
        elif error.get("type") == "extra_forbidden":
            field, message = ".".join(loc) or "body", "Unknown field"
        else:
            field = ".".join(loc) or "body"
            message = str(error.get("msg", "Invalid value")).removeprefix("Value error, ")
        details.setdefault(field, []).append(message)
    return details


def longest_prefix(path: str, prefixes: Iterable[str]) -> str | None:
    """The longest of `prefixes` that `path` is or lies below (whole segments only)."""
    matching = (p for p in prefixes if path == p or path.startswith(p.rstrip("/") + "/"))
    return max(matching, key=len, default=None)


def install(app: FastAPI, renderers: dict[str, Renderer], fallback: Renderer) -> None:
    """Route every error of `app` to the renderer of the longest matching path prefix."""

    def renderer_for(request: Request) -> Renderer:
        best = longest_prefix(request.url.path, renderers)
        return renderers[best] if best else fallback

    async def on_problem(request: Request, problem: ApiProblem) -> JSONResponse:
        response = renderer_for(request)(problem)
        for name, value in (problem.headers or {}).items():
            response.headers[name] = value
        return response

    async def on_validation(request: Request, error: RequestValidationError) -> JSONResponse:
        return await on_problem(request, invalid(field_errors(list(error.errors()))))

    async def on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(error.status_code, "error")
        message = "Not found" if error.status_code == 404 else str(error.detail)
        return await on_problem(request, ApiProblem(error.status_code, code, message, headers=error.headers))

    async def on_kubernetes(request: Request, error: ApiError) -> JSONResponse:
        """The API server refused a write the facade's own checks let through."""
        if (namespace := missing_namespace(error)) is not None:
            problem = namespace_problem(namespace)
        elif error.status in (400, 413, 422):
            problem = invalid({"body": [error.message or "refused by the Kubernetes API server"]})
        elif isinstance(error, Conflict):
            problem = ApiProblem(409, "conflict", "The job changed meanwhile; retry")
        else:
            log.warning("Kubernetes API error serving %s %s: %s", request.method, request.url.path, error)
            problem = ApiProblem(503, "unavailable", "The Kubernetes API is unavailable; retry shortly")
        return await on_problem(request, problem)

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return await on_problem(request, ApiProblem(500, "internal_error", "Internal server error"))

    app.add_exception_handler(ApiProblem, on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, on_kubernetes)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)
