"""The facade's own error envelope, `{"error": {"code", "message", "details"}}`.

a1base's document defines it; agent-schedules and cron-registry name status codes only, so
they answer in it too, and so does every path outside the dialects. One renderer and one
OpenAPI schema (`ErrorEnvelope`) keep the three from drifting apart.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cronwright.api.errors import ApiProblem


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, list[str]] | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def render_error(problem: ApiProblem) -> JSONResponse:
    body: dict[str, Any] = {"code": problem.code, "message": problem.message}
    if problem.details:
        body["details"] = problem.details
    return JSONResponse({"error": body}, status_code=problem.status)
