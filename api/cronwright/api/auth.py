"""Who is calling, in which namespace, and may they: shared by every dialect.

A key is bound to one namespace (its tenant) and a set of scopes. Order of checks:
authenticate (401), rate limit (429, per key), scope (403). Another tenant's job is not a
403 but a 404: its existence is not revealed.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi.security.base import SecurityBase

from cronwright.api.apikeys import ApiKey, KeyStore
from cronwright.api.errors import ApiProblem
from cronwright.api.header_secrets import HeaderSecrets
from cronwright.api.ratelimit import RateLimiter
from cronwright.api.store import Store
from cronwright.core.config import Config
from cronwright.core.kube import ApiError


@dataclass
class Facade:
    """Everything a request handler needs; lives on app.state.facade."""

    store: Store
    keys: KeyStore
    limiter: RateLimiter
    headers: HeaderSecrets
    config: Config


def facade(request: Request) -> Facade:
    return request.app.state.facade


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def api_key_header(request: Request) -> str | None:
    """The key in an `X-API-Key` header (the cronpulse dialect)."""
    return request.headers.get("x-api-key", "").strip() or None


@dataclass(frozen=True)
class KeyHeader:
    """Where a dialect's clients put the key: how it is read, and the OpenAPI security scheme
    that says so (so Swagger UI's "Authorize" sends it with "Try it out")."""

    read: Callable[[Request], str | None]
    scheme: SecurityBase


# auto_error=False: the schemes only document; a missing key is our own 401, in the dialect's
# envelope, after the checks in `require`.
BEARER = KeyHeader(
    bearer_token,
    HTTPBearer(
        auto_error=False,
        scheme_name="BearerKey",
        bearerFormat="cronwright API key",
        description="An API key (`cronwright apikey create`) as `Authorization: Bearer <key>`",
    ),
)
X_API_KEY = KeyHeader(
    api_key_header,
    APIKeyHeader(
        name="X-API-Key",
        auto_error=False,
        scheme_name="XApiKey",
        description="An API key (`cronwright apikey create`) in the `X-API-Key` header (cronpulse)",
    ),
)


def require(
    scope: str, header: KeyHeader = BEARER, also: tuple[str, ...] = ()
) -> Callable[..., Awaitable[ApiKey]]:
    """A FastAPI dependency: the caller's key, having checked it may use `scope` — or one of
    the scopes in `also` that imply it in this dialect (e.g. "read" for "read:jobs")."""

    documented = Security(header.scheme)

    async def dependency(request: Request, _scheme: Any = documented) -> ApiKey:
        state = facade(request)
        try:
            key = await state.keys.authenticate(header.read(request))
        except ApiError as error:
            raise ApiProblem(503, "unavailable", "Cannot check API keys right now; retry shortly") from error
        if key is None:
            raise ApiProblem(401, "unauthorized", "Missing or invalid API key")
        wait = state.limiter.check(key.key_id, key.rate_per_second, key.rate_burst)
        if wait is not None:
            retry = max(1, math.ceil(wait))
            raise ApiProblem(
                429,
                "rate_limited",
                f"Rate limit exceeded; retry after {retry} second(s)",
                headers={"Retry-After": str(retry)},
            )
        if not any(key.allows(s) for s in (scope, *also)):
            raise ApiProblem(403, "forbidden", f"This API key lacks the '{scope}' scope")
        return key

    return dependency


#: The bearer key with the generic "read" or "write" scope: what every dialect but cronpulse asks for.
READ = Depends(require("read"))
WRITE = Depends(require("write"))
