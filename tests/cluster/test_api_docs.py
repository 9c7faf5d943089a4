"""/docs renders with no network: the page and everything it loads come from the facade, and
its "Authorize" knows where each dialect's key goes (securitySchemes), so "Try it out" works."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from cronwright.api.app import DIALECT_OF_PREFIX
from tests.support.api_process import ApiProcess

CONTENT_TYPES = {
    "script": "text/javascript",
    "stylesheet": "text/css",
    "icon": "image/png",
    "openapi": "application/json",
}


class References(HTMLParser):
    """Every URL the page makes a browser load: scripts, stylesheets, icons, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self._in_script = values.get("src") is None
            if values.get("src"):
                self.found.append(("script", str(values["src"])))
        elif tag == "link":
            rel = str(values.get("rel") or "")
            self.found.append(("stylesheet" if "stylesheet" in rel else "icon", str(values.get("href"))))
        elif tag in ("img", "iframe", "source", "embed", "object", "audio", "video"):
            self.found.append((tag, str(values.get("src") or values.get("data"))))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline.append(data)


def test_docs_and_every_file_it_loads_come_from_the_facade(api: ApiProcess) -> None:
    with httpx.Client(base_url=api.url, timeout=10) as anonymous:
        page = anonymous.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert not re.search(r"(?i)\b(https?:)?//[a-z0-9]", page.text), "no other host is named on the page"

        parsed = References()
        parsed.feed(page.text)
        script = "".join(parsed.inline)
        openapi = re.search(r"url: '([^']*)'", script)
        assert openapi, script
        loads = [*parsed.found, ("openapi", openapi.group(1))]
        assert sorted(kind for kind, _ in loads) == ["icon", "openapi", "script", "stylesheet"]
        assert '"validatorUrl": null' in script, "Swagger UI would fetch its badge from another host"

        for kind, url in loads:
            assert url.startswith("/") and not url.startswith("//"), url
            response = anonymous.get(url)
            assert response.status_code == 200, (url, response.status_code)
            assert response.headers["content-type"].startswith(CONTENT_TYPES[kind]), (url, response.headers)
            assert response.content, url
            if kind == "stylesheet":
                assert "sourceMappingURL" not in response.text, "the map is not served"
                loaded = re.findall(r"url\(([^)]*)\)", response.text)
                assert all(u.strip("\"'").startswith("data:") for u in loaded), "it loads nothing more"
            if kind == "script":
                assert "SwaggerUIBundle" in response.text, "the bundle the page calls"

        assert anonymous.get("/docs/assets/../../etc/passwd").status_code == 404
        unused = anonymous.get("/docs/assets/redoc.standalone.js")
        assert unused.status_code == 404, "only what the page needs is served"
        assert anonymous.get("/redoc").status_code == 404, "the CDN-loading ReDoc page is off"


def test_authorize_knows_each_dialects_key_header_and_try_it_out_works(
    api: ApiProcess, namespace: str
) -> None:
    key = api.new_key(namespace, ("read",))
    with httpx.Client(base_url=api.url, timeout=10) as browser:
        spec = browser.get("/openapi.json").json()
        schemes = spec["components"]["securitySchemes"]
        assert schemes["BearerKey"]["type"] == "http" and schemes["BearerKey"]["scheme"] == "bearer"
        x_api_key = schemes["XApiKey"]
        assert (x_api_key["type"], x_api_key["in"], x_api_key["name"]) == ("apiKey", "header", "X-API-Key")

        for path, operations in spec["paths"].items():
            dialect = next(d for p, d in DIALECT_OF_PREFIX.items() if path.startswith(p))
            wanted = [{"XApiKey": []}] if dialect == "cronpulse" else [{"BearerKey": []}]
            for method, operation in operations.items():
                assert operation.get("security") == wanted, (method, path)

        # What Swagger UI sends after "Authorize", built from the schemes alone.
        bearer = {"Authorization": f"Bearer {key}"}
        header = {schemes["XApiKey"]["name"]: key}
        assert browser.get("/v1/cron-jobs", headers=bearer).status_code == 200
        assert browser.get("/api/v1/jobs", headers=header).status_code == 200
        assert browser.get("/api/v1/jobs").status_code == 401, "the scheme is what the facade reads"
