"""`cronwright api`: the FastAPI application serving every dialect over one store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from cronwright.api import docs_page, error_envelope, errors
from cronwright.api.apikeys import KeyStore
from cronwright.api.auth import Facade
from cronwright.api.dialects import a1base, agent_schedules, asta, cron_registry, cronpulse
from cronwright.api.dialects.contract import Dialect
from cronwright.api.header_secrets import HeaderSecrets
from cronwright.api.metrics import OUTSIDE, FacadeMetrics
from cronwright.api.ratelimit import RateLimiter
from cronwright.api.slashes import DropTrailingSlash
from cronwright.api.store import Store
from cronwright.api.ui import routes as ui
from cronwright.core.config import Config
from cronwright.core.kube import Kube, load_credentials
from cronwright.core.version import VERSION


@dataclass
class ApiSettings:
    kubeconfig: str | None = None
    keys_namespace: str = "cronwright-system"
    rate_limit_per_second: float = 20.0
    rate_limit_burst: int = 40
    #: How long a key lookup is trusted (docs/security.md, "Revoking a key").
    key_cache_seconds: float = 5.0
    #: Named targets (cron-registry handlers, asta channels) from the settings file.
    config: Config = field(default_factory=Config)


#: The dialects served (dialects/contract.py: what each one provides); a new one is one entry.
DIALECTS: tuple[Dialect, ...] = (
    a1base.DIALECT,
    agent_schedules.DIALECT,
    cron_registry.DIALECT,
    asta.DIALECT,
    cronpulse.DIALECT,
)
#: The dialect each path prefix belongs to, by name ("agent-schedules", ...).
DIALECT_OF_PREFIX = {prefix: dialect.name for dialect in DIALECTS for prefix in dialect.prefixes}


def dialect_of(path: str) -> str:
    """The dialect serving `path` (the longest matching prefix), or "none" outside them."""
    best = errors.longest_prefix(path, DIALECT_OF_PREFIX)
    return DIALECT_OF_PREFIX[best] if best else OUTSIDE


def create_app(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kube = Kube(load_credentials(settings.kubeconfig), component="cronwright-api")
        store = Store(kube)
        await store.start()
        app.state.facade = Facade(
            store=store,
            keys=KeyStore(kube, settings.keys_namespace, ttl=settings.key_cache_seconds),
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            headers=HeaderSecrets(kube),
            config=settings.config,
        )
        try:
            yield
        finally:
            await store.stop()
            await kube.close()

    app = FastAPI(
        title="cronwright",
        version=VERSION,
        description="Five cron-job APIs over CronJobSpec resources. Authenticate with an API key.",
        lifespan=lifespan,
        # /docs is served offline (docs_page.py); FastAPI's pages load from CDNs.
        docs_url=None,
        redoc_url=None,
        # A trailing slash is dropped instead of answering an empty 307 (slashes.py).
        redirect_slashes=False,
    )
    for dialect in DIALECTS:
        app.include_router(dialect.router)
    ui.install(app)
    renderers = {prefix: dialect.render_error for dialect in DIALECTS for prefix in dialect.prefixes}
    errors.install(app, renderers, fallback=error_envelope.render_error)
    _document_no_422(app)
    docs_page.install(app)
    app.add_middleware(DropTrailingSlash)
    metrics = FacadeMetrics()
    metrics.watch(lambda: getattr(app.state, "facade", None))
    metrics.install(app, dialect_of)  # added last: outermost, so it sees the path that was served

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        facade: Facade | None = getattr(app.state, "facade", None)
        ready = facade is not None and facade.store.ready.is_set()
        return JSONResponse({"ok": ready}, status_code=200 if ready else 503)

    return app


def _document_no_422(app: FastAPI) -> None:
    """FastAPI documents a 422 on every operation, but invalid requests get a 400 in the
    dialect's envelope (errors.py; each dialect declares it): /openapi.json and /docs say so."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            if "#/components/schemas/HTTPValidationError" not in json.dumps(schema):
                components.pop("HTTPValidationError", None)
                components.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def main(settings: ApiSettings, host: str, port: int) -> int:
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False)
    return 0
