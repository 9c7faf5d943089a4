"""The /ui dashboard in a real headless Chromium (Debian's, driven by Playwright) against
the facade and the operator on the real control plane: sign in, jobs made through two
dialects, a job page, run now reaching a loopback receiver and showing in the history,
pause and resume, a wrong key refused, a read-only key, a phone-sized screen, keyboard
use and contrast. A screenshot of each test goes to test-artifacts/dashboard/ (and one
more on failure)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.api_process import ApiProcess
from tests.support.browser import Browsing, chromium
from tests.support.cluster import Cluster
from tests.support.kubectl import get, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver

#: The contrast check, run in the page: every visible text node's colour against the
#: first opaque background behind it (WCAG relative luminance), worst cases first.
CONTRAST = """
() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el.checkVisibility() || el.closest('.visually-hidden, .skip')) continue;
    const fg = lum(rgb(getComputedStyle(el).color).slice(0, 3)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    found.push({ text: node.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100 });
  }
  return found.sort((a, b) => a.ratio - b.ratio);
}
"""


@pytest.fixture
def browser(tenant: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    """Made after the tenant: Playwright's sync API keeps an event loop running in this
    thread while the browser is open, so the asyncio calls that make keys come first."""
    with chromium(tmp_path / "profile") as browsing:
        yield browsing
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else True:
            browsing.screenshot(f"{request.node.name}-failure")
        assert browsing.refused == [], "the page asked for something outside 127.0.0.1"
        assert browsing.console_errors == [], browsing.console_errors


@pytest.fixture
def tenant(
    api: ApiProcess,
    namespace: str,
    receiver: Receiver,
    start_operator: Callable[..., OperatorProcess],
) -> dict[str, Any]:
    """An operator for the namespace, and two jobs made through two dialects: a1base
    (a daily call) and cronpulse (every five minutes, in a project)."""
    start_operator()
    key = api.new_key(namespace)
    with api.client(key) as client:
        a1base = client.post(
            "/v1/cron-jobs",
            json={
                "endpoint_url": receiver.url("/report"),
                "frequency": "daily",
                "time": "09:00",
                "timezone": "Europe/Berlin",
                "method": "POST",
            },
        )
        assert a1base.status_code == 201, a1base.text
    with api.client(key, header="x-api-key") as client:
        project = client.post("/api/v1/projects", json={"name": "Shop"})
        assert project.status_code == 201, project.text
        pulse = client.post(
            "/api/v1/jobs",
            json={
                "name": "Health Check",
                "projectId": project.json()["id"],
                "url": receiver.url("/health"),
                "method": "GET",
                "schedule": "*/5 * * * *",
            },
        )
        assert pulse.status_code == 201, pulse.text
    with api.client(key) as client:
        listed = client.get("/ui/api/jobs").json()["jobs"]
    names = {job["dialect"]: job["name"] for job in listed}
    return {
        "key": key,
        "read_key": api.new_key(namespace, scopes=("read",)),
        "a1base": names["a1base"],
        "cronpulse": names["cronpulse"],
        "namespace": namespace,
    }


def sign_in(browsing: Browsing, api: ApiProcess, key: str) -> None:
    browsing.page.goto(f"{api.url}/ui")
    browsing.page.get_by_label("API key").fill(key)
    browsing.page.get_by_role("button", name="Sign in").click()


def test_sign_in_and_see_jobs_from_two_dialects(
    browser: Browsing, api: ApiProcess, tenant: dict[str, Any]
) -> None:
    page = browser.page
    page.goto(f"{api.url}/ui")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    browser.screenshot("01-sign-in")
    sign_in(browser, api, tenant["key"])
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    rows = page.get_by_role("row")
    expect(rows).to_have_count(3)  # header + two jobs
    daily = page.get_by_role("row").filter(has=page.get_by_role("link", name=tenant["a1base"]))
    expect(daily.get_by_role("cell").nth(0)).to_have_text("a1base")
    expect(daily).to_contain_text("At 09:00, every day")
    expect(daily).to_contain_text("Europe/Berlin")
    pulse = page.get_by_role("row").filter(has=page.get_by_role("link", name="Health Check"))
    expect(pulse).to_contain_text(tenant["cronpulse"])
    expect(pulse.get_by_role("cell").nth(0)).to_have_text("cronpulse")
    expect(pulse).to_contain_text("Every 5 minutes")
    expect(page.get_by_text(f"Namespace {tenant['namespace']}")).to_be_visible()
    # The key is in this tab's session storage only: not in the URL, not in local storage.
    assert tenant["key"] not in page.url
    assert page.evaluate("sessionStorage.getItem('cronwright.apiKey')") == tenant["key"]
    assert page.evaluate("localStorage.length") == 0 and browser.context.cookies() == []
    assert tenant["key"] not in api.log.read_text(), "the key never reaches the facade's log"
    browser.screenshot("02-jobs")


def test_open_a_job_and_run_it_now(
    browser: Browsing, api: ApiProcess, tenant: dict[str, Any], receiver: Receiver
) -> None:
    page = browser.page
    sign_in(browser, api, tenant["key"])
    page.get_by_role("link", name=tenant["a1base"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(tenant["a1base"])
    expect(page.get_by_text("1 run in the next 24 hours.")).to_be_visible()
    expect(page.get_by_text(f"cronjobspec/{tenant['a1base']}")).to_be_visible()
    expect(page.get_by_text("No runs yet.")).to_be_visible()
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("Run requested")
    arrived = wait_for(lambda: receiver.at("/report"), 30, "the run at the receiver")
    assert arrived[0].method == "POST"
    # The page refreshes on its own: the run shows up without a reload.
    row = page.get_by_role("row").filter(has_text="manual")
    expect(row).to_have_count(1, timeout=30_000)
    expect(row).to_contain_text("Succeeded")
    expect(row.get_by_role("cell").nth(4)).to_have_text("200")
    page.get_by_label("Show").select_option("Failed")
    expect(page.get_by_text("No failed runs in the kept history.")).to_be_visible()
    page.get_by_label("Show").select_option("Succeeded")
    expect(page.get_by_role("row").filter(has_text="manual")).to_have_count(1)
    browser.screenshot("03-job-after-run-now")


def test_pause_and_resume(
    browser: Browsing, api: ApiProcess, tenant: dict[str, Any], cluster: Cluster
) -> None:
    page = browser.page
    sign_in(browser, api, tenant["key"])
    page.get_by_role("link", name="Health Check").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Health Check")
    expect(page.get_by_text("288 runs in the next 24 hours.")).to_be_visible()
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_have_text("Paused: no scheduled run fires until you resume.")
    expect(page.get_by_text("Paused: no runs in the next 24 hours.")).to_be_visible()
    assert get(cluster, tenant["namespace"], tenant["cronpulse"])["spec"]["suspend"] is True
    browser.screenshot("04-paused")
    page.get_by_role("link", name="All jobs").click()
    paused_row = page.get_by_role("row").filter(has_text="Health Check")
    expect(paused_row.get_by_text("Paused")).to_be_visible()
    page.get_by_role("link", name="Health Check").click()
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_have_text("Resumed.")
    assert get(cluster, tenant["namespace"], tenant["cronpulse"])["spec"]["suspend"] is False


def test_a_wrong_key_is_refused(browser: Browsing, api: ApiProcess, tenant: dict[str, Any]) -> None:
    page = browser.page
    sign_in(browser, api, "cwk_000000000000_" + "x" * 43)
    expect(page.get_by_role("alert")).to_have_text("That API key was refused. Check it and sign in again.")
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("heading", name="Jobs")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('cronwright.apiKey')") is None
    browser.screenshot("05-wrong-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Enter an API key.")


def test_a_read_only_key_sees_no_buttons(browser: Browsing, api: ApiProcess, tenant: dict[str, Any]) -> None:
    page = browser.page
    sign_in(browser, api, tenant["read_key"])
    page.get_by_role("link", name=tenant["a1base"]).click()
    expect(page.get_by_text("This key can read only")).to_be_visible()
    expect(page.get_by_role("button", name="Run now")).to_have_count(0)
    browser.screenshot("06-read-only")


def test_keyboard_only(browser: Browsing, api: ApiProcess, tenant: dict[str, Any]) -> None:
    page = browser.page
    page.goto(f"{api.url}/ui")
    key_field = page.get_by_label("API key")
    expect(key_field).to_be_focused()  # the sign-in form takes focus on load
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(key_field).to_be_focused()
    page.keyboard.type(tenant["key"])
    page.keyboard.press("Enter")
    link = page.get_by_role("link", name=tenant["a1base"])
    expect(link).to_be_visible()
    while not link.evaluate("e => e === document.activeElement"):
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    while not page.get_by_role("button", name="Pause").evaluate("e => e === document.activeElement"):
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Paused: no scheduled run fires until you resume.")
    expect(page.get_by_role("button", name="Resume")).to_be_focused()
    browser.screenshot("07-keyboard")


def test_contrast_and_labels(browser: Browsing, api: ApiProcess, tenant: dict[str, Any]) -> None:
    page = browser.page
    page.goto(f"{api.url}/ui")
    assert page.evaluate(CONTRAST)[0]["ratio"] >= 4.5
    sign_in(browser, api, tenant["key"])
    page.get_by_role("link", name=tenant["a1base"]).click()
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("row").filter(has_text="manual")).to_have_count(1, timeout=30_000)
    for where in ("job", "jobs"):
        if where == "jobs":
            page.get_by_role("link", name="All jobs").click()
            expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
        worst = page.evaluate(CONTRAST)[:3]
        assert worst[0]["ratio"] >= 4.5, worst
        browser.screenshot(f"10-contrast-{where}")
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select, button')].filter(e => !e.labels?.length"
        " && !e.textContent.trim() && !e.getAttribute('aria-label')).map(e => e.outerHTML)"
    )
    assert unlabelled == []


def test_phone_sized_screen(tmp_path: Path, api: ApiProcess, tenant: dict[str, Any]) -> None:
    with chromium(tmp_path / "phone", width=390, height=844) as phone:
        try:
            _phone(phone, api, tenant)
        except BaseException:
            phone.screenshot("test_phone_sized_screen-failure")
            raise


def _phone(phone: Browsing, api: ApiProcess, tenant: dict[str, Any]) -> None:
    """Jobs as cards, no sideways scrolling, finger-sized buttons at 390 x 844."""
    sign_in(phone, api, tenant["key"])
    page = phone.page
    expect(page.get_by_text("Health Check")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling"
    label = page.locator("td[data-label='Made with']").first
    assert (
        page.evaluate("e => getComputedStyle(e, '::before').content", label.element_handle()) == '"Made with"'
    )
    phone.screenshot("08-phone-jobs")
    page.get_by_role("link", name=tenant["a1base"]).click()
    expect(page.get_by_role("button", name="Run now")).to_be_visible()
    box = page.get_by_role("button", name="Run now").bounding_box()
    assert box is not None and box["height"] >= 44, "a finger-sized target"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.screenshot("09-phone-job")
    assert phone.refused == [] and phone.console_errors == []


def test_the_json_behind_the_page_is_key_scoped_and_tenant_isolated(
    api: ApiProcess, tenant: dict[str, Any], cluster: Cluster
) -> None:
    other_namespace = f"{tenant['namespace']}-other"
    cluster.kubectl_run("create", "namespace", other_namespace)
    other_key = api.new_key(other_namespace)
    with api.client(other_key) as other:
        assert other.get("/ui/api/jobs").json()["jobs"] == []
        for method, path in (
            ("GET", f"/ui/api/jobs/{tenant['a1base']}"),
            ("POST", f"/ui/api/jobs/{tenant['a1base']}/pause"),
            ("POST", f"/ui/api/jobs/{tenant['a1base']}/run"),
        ):
            answer = other.request(method, path)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json() == {
                "error": {"code": "not_found", "message": f"Job {tenant['a1base']} not found"}
            }
    with api.client(None) as anonymous:
        answer = anonymous.get("/ui/api/jobs")
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
    with api.client(api.new_key(tenant["namespace"], scopes=("read",))) as reader:
        answer = reader.post(f"/ui/api/jobs/{tenant['a1base']}/run")
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    assert "cronwright.io/trigger" not in (
        get(cluster, tenant["namespace"], tenant["a1base"])["metadata"].get("annotations") or {}
    )
    page = httpx.get(f"{api.url}/ui")
    assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
    script = httpx.get(f"{api.url}/ui/static/app.js")
    assert script.status_code == 200 and "script-src 'self'" in script.headers["content-security-policy"]
    outside = set(re.findall(r"https?://[^\s\"'`)]+", page.text + script.text))
    assert outside <= {"http://www.w3.org/2000/svg"}, (
        "no outside URL (the SVG namespace is a name, not a fetch)"
    )
    assert (
        json.loads(httpx.get(f"{api.url}/openapi.json").text)["paths"].keys().isdisjoint({"/ui/api/jobs"})
    ), "the dashboard's own API stays out of the dialects' OpenAPI document"
