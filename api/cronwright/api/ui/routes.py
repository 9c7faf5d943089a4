"""The dashboard's routes: the page at /ui, its files at /ui/static, its JSON at /ui/api.

The page signs in with an API key it keeps in sessionStorage and sends as a Bearer header
on each call, so the key is never in a URL (nor in an access log) and is forgotten when
the tab closes. Reads need the "read" scope, run now / pause / resume the "write" scope;
a job of another namespace is a 404, as in the dialects. Errors use the facade's own
envelope, `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from cronwright.api.apikeys import ApiKey
from cronwright.api.auth import READ, WRITE, facade
from cronwright.api.dialects.resource_views import suspend_change, utc_now
from cronwright.api.errors import ApiProblem
from cronwright.api.ui import views
from cronwright.core.runs import TRIGGER_ANNOTATION, manual_run_id

PREFIX = "/ui"
STATIC = Path(__file__).parent / "static"
#: Same-origin only, no inline script or style: what the page needs and nothing else.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(prefix=f"{PREFIX}/api", include_in_schema=False)


def _job(request: Request, key: ApiKey, name: str) -> dict[str, Any]:
    obj = facade(request).store.get(key.namespace, name)
    if obj is None:
        raise ApiProblem(404, "not_found", f"Job {name} not found")
    return obj


@router.get("/session")
async def session(key: ApiKey = READ) -> dict[str, Any]:
    """Who the key is: its namespace, and whether it may run, pause and resume."""
    return {"namespace": key.namespace, "keyId": key.key_id, "canWrite": key.allows("write")}


@router.get("/jobs")
async def jobs(request: Request, key: ApiKey = READ) -> dict[str, Any]:
    now = utc_now()
    listed = sorted(facade(request).store.list(key.namespace), key=lambda o: o["metadata"]["name"])
    return {
        "namespace": key.namespace,
        "now": views.iso(now),
        "jobs": [views.summary(o, now) for o in listed],
    }


@router.get("/jobs/{name}")
async def job(request: Request, name: str, key: ApiKey = READ) -> dict[str, Any]:
    now = utc_now()
    return {"now": views.iso(now), **views.detail(_job(request, key, name), now)}


@router.post("/jobs/{name}/run")
async def run_now(request: Request, name: str, key: ApiKey = WRITE) -> dict[str, Any]:
    """Ask the operator for one run now (the trigger annotation, as every dialect does)."""
    obj = _job(request, key, name)
    now = utc_now()
    value = f"ui-{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    written = await facade(request).store.update(
        key.namespace,
        obj["metadata"]["uid"],
        lambda _: {"metadata": {"annotations": {TRIGGER_ANNOTATION: value}}},
    )
    if written is None:
        raise ApiProblem(404, "not_found", f"Job {name} not found")
    return {
        "name": name,
        "runId": manual_run_id(written["metadata"]["uid"], value),
        "requestedAt": views.iso(now),
    }


async def _set_suspend(request: Request, key: ApiKey, name: str, suspend: bool) -> dict[str, Any]:
    obj = _job(request, key, name)
    change = suspend_change(suspend, utc_now())
    written = await facade(request).store.update(key.namespace, obj["metadata"]["uid"], change)
    if written is None:
        raise ApiProblem(404, "not_found", f"Job {name} not found")
    return views.summary(written, utc_now())


@router.post("/jobs/{name}/pause")
async def pause(request: Request, name: str, key: ApiKey = WRITE) -> dict[str, Any]:
    return await _set_suspend(request, key, name, True)


@router.post("/jobs/{name}/resume")
async def resume(request: Request, name: str, key: ApiKey = WRITE) -> dict[str, Any]:
    return await _set_suspend(request, key, name, False)


class _SecureStatic(StaticFiles):
    """The page's files with the page's headers (a middleware would tax every dialect call)."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def install(app: FastAPI) -> None:
    """The page, its files and its API on the facade's app."""
    app.include_router(router)
    app.mount(f"{PREFIX}/static", _SecureStatic(directory=STATIC), name="ui-static")

    @app.get(PREFIX, include_in_schema=False)
    @app.get(f"{PREFIX}/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=SECURITY_HEADERS)
