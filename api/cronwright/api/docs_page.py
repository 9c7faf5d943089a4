"""`/docs`: Swagger UI served entirely by the facade, so it renders with no network.

FastAPI's own page loads Swagger UI from a CDN (and its favicon from another host): blank
on an air-gapped cluster or a laptop offline. Here the page and every file it loads come
from this process: the Swagger UI build that the `fastapi-offline` package ships (only
its static folder is used), read once and kept in memory. The validator badge, which
Swagger UI would fetch from validator.swagger.io, is switched off. The CSS's trailing
source-map comment is dropped: the map is not shipped, and nothing on the page should
point at a file that is not there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from cronwright.api.errors import ApiProblem

DOCS = "/docs"
ASSETS = "/docs/assets"


@dataclass(frozen=True)
class Asset:
    media_type: str
    body: bytes


_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
_SOURCE_MAP = re.compile(rb"/\*# sourceMappingURL=[^*]*\*/\s*$")


def asset(name: str) -> Asset | None:
    """A Swagger UI file by name, or None for any other name (no path ever reaches the disk,
    and names nobody serves are not remembered)."""
    return _load(name) if name in _FILES else None


@cache
def _load(name: str) -> Asset:
    body = (resources.files("fastapi_offline") / "static" / name).read_bytes()
    if name.endswith(".css"):
        body = _SOURCE_MAP.sub(b"", body)
    return Asset(_FILES[name], body)


def page(openapi_url: str, title: str) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} - Swagger UI",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


def install(app: FastAPI) -> None:
    """Serve /docs and its files; the app must be made with `docs_url=None, redoc_url=None`."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return page(openapi_url, app.title)

    @app.get(f"{ASSETS}/{{name}}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        found = asset(name)
        if found is None:
            raise ApiProblem(404, "not_found", "Not found")
        return Response(
            found.body, media_type=found.media_type, headers={"Cache-Control": "public, max-age=86400"}
        )
