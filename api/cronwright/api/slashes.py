"""One operation per path, whatever the trailing slash: it is dropped before routing.

`GET /api/v1/projects/` used to answer an empty 307 to the slash-less path (Starlette's
`redirect_slashes`): puzzling in curl, which does not follow it, and a POST or PUT sent
there reached nothing. No dialect's document gives a path with a trailing slash and no id
contains a slash, so the facade serves the same operation under both spellings instead,
in every dialect: `/api/v1/projects/` is `/api/v1/projects` and `/v1/cron-jobs/{id}/` is
`/v1/cron-jobs/{id}`. A pure ASGI middleware that rewrites the scope in place, so what
runs after routing (metrics, error envelopes) sees the path that was served.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class DropTrailingSlash:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope["path"]) > 1 and scope["path"].endswith("/"):
            scope["path"] = scope["path"].rstrip("/") or "/"
            if scope.get("raw_path"):
                scope["raw_path"] = scope["raw_path"].rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
