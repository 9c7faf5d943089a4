"""Debian's Chromium, headless, driven by Playwright for Python (`make browser` installs
the package; Playwright's own browser downloads are never used).

Every page runs in a fresh profile, with Chromium's background traffic switched off and
every request that is not to 127.0.0.1 refused and recorded, so a test both proves the
page needs no outside network (no CDN) and never sends any.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Route, sync_playwright

from cronwright.core.controlplane.binaries import REPO_ROOT

CHROMIUM = Path(os.environ.get("CRONWRIGHT_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO_ROOT / "test-artifacts" / "dashboard"
HANDLED_HTTP_ERROR = "Failed to load resource: the server responded with a status of 4"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Browsing:
    page: Page
    context: BrowserContext
    refused: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def require_chromium() -> None:
    if not CHROMIUM.exists():
        raise AssertionError(
            f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium package)"
        )


@contextmanager
def chromium(
    profile: Path, *, width: int = 1280, height: int = 800, timezone: str = "Europe/Berlin"
) -> Iterator[Browsing]:
    require_chromium()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": width, "height": height},
            locale="en-GB",
            timezone_id=timezone,
            env={"PATH": "/usr/bin:/bin", "HOME": str(profile)},
        )
        browsing = Browsing(context.pages[0] if context.pages else context.new_page(), context)

        def only_loopback(route: Route) -> None:
            if urlsplit(route.request.url).hostname == "127.0.0.1" or route.request.url.startswith("data:"):
                route.continue_()
            else:
                browsing.refused.append(route.request.url)
                route.abort()

        context.route("**/*", only_loopback)

        def console(message: ConsoleMessage) -> None:
            # Chromium logs every 4xx answer as an error; the page handles those itself.
            if message.type == "error" and not message.text.startswith(HANDLED_HTTP_ERROR):
                browsing.console_errors.append(message.text)

        browsing.page.on("console", console)
        browsing.page.on("pageerror", lambda error: browsing.console_errors.append(f"uncaught: {error}"))
        browsing.page.set_default_timeout(15_000)
        try:
            yield browsing
        finally:
            context.close()
