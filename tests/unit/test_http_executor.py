"""The HTTP executor against real HTTP servers on 127.0.0.1, plus its pure helpers.

Every server listens on 127.0.0.1 port 0 inside the test's own event loop; retries use a
recording ``sleep`` so backoffs cost nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from cronwright.core.models import HttpTarget, Retry, SecretKeyRef, Signing
from cronwright.core.signing import sign, verify
from cronwright.operator.http_executor import (
    BODY_LIMIT,
    DEFAULT_SIGNING_HEADER,
    TRUNCATED_MARKER,
    HttpOutcome,
    HttpRequestPlan,
    backoff_delay,
    execute,
    is_retryable_status,
    make_client,
    plan_from_target,
    retry_after_seconds,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
KEY = b"shared-signing-key"


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """A real aiohttp server on 127.0.0.1; handlers are cancelled when the client goes away."""

    async def route(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class Recorder:
    """Handler replaying scripted responses and keeping what each request carried."""

    def __init__(self, *responses: Callable[[], web.StreamResponse]) -> None:
        self.responses = list(responses)
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        make = self.responses[min(len(self.requests), len(self.responses)) - 1]
        return make()


class Sleeps(list[float]):
    async def __call__(self, delay: float) -> None:
        self.append(delay)


def plan(url: str, **changes: Any) -> HttpRequestPlan:
    base = HttpRequestPlan(
        method="POST",
        url=url,
        headers={},
        body=None,
        timeout_seconds=5.0,
        expected_status_codes=None,
        idempotency_key="run-123",
        signing_key=None,
        signing_header=DEFAULT_SIGNING_HEADER,
        retry_limit=0,
        backoff_seconds=1.0,
        max_backoff_seconds=300.0,
    )
    return replace(base, **changes)


async def run_against(
    handler: Handler, sleep: Sleeps | None = None, path: str = "/hook", **changes: Any
) -> HttpOutcome:
    async with serve(handler) as base, make_client() as client:
        return await execute(client, plan(base + path, **changes), sleep=Sleeps() if sleep is None else sleep)


def run(coro: Coroutine[Any, Any, HttpOutcome]) -> HttpOutcome:
    return asyncio.run(coro)


def ok(body: str = "ok") -> Callable[[], web.Response]:
    return lambda: web.Response(text=body)


def status(code: int, headers: dict[str, str] | None = None) -> Callable[[], web.Response]:
    return lambda: web.Response(status=code, text=f"status {code}", headers=headers)


@contextmanager
def closed_port() -> Iterator[int]:
    """A port bound on 127.0.0.1 but not listening: connecting is refused, and nobody can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# --- requests as they arrive ------------------------------------------------------------


def test_method_headers_and_json_body_arrive_exactly() -> None:
    server = Recorder(ok())
    outcome = run(
        run_against(
            server,
            path="/hook?x=1",
            method="PUT",
            headers={"X-Clear": "a", "Authorization": "Bearer s3cret"},
            body={"a": 1, "b": [True, None, "é"]},
        )
    )
    assert outcome.succeeded and outcome.attempts == 1 and outcome.response_code == 200
    [request] = server.requests
    assert request["method"] == "PUT"
    assert request["path"] == "/hook?x=1"
    assert request["body"] == b'{"a":1,"b":[true,null,"\\u00e9"]}'
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "cronwright/0.1.0"
    assert headers["Idempotency-Key"] == "run-123"
    assert headers["X-Clear"] == "a"
    assert headers["Authorization"] == "Bearer s3cret"
    assert DEFAULT_SIGNING_HEADER not in headers


def test_text_body_is_utf8_plain_text() -> None:
    server = Recorder(ok())
    run(run_against(server, body="héllo {not json}"))
    [request] = server.requests
    assert request["body"] == "héllo {not json}".encode()
    assert request["headers"]["Content-Type"] == "text/plain; charset=utf-8"


def test_user_content_type_wins_case_insensitively() -> None:
    server = Recorder(ok())
    run(run_against(server, body="<a/>", headers={"content-type": "application/xml"}))
    [request] = server.requests
    assert request["headers"]["Content-Type"] == "application/xml"
    assert request["body"] == b"<a/>"


def test_get_without_body_sends_no_content_type() -> None:
    server = Recorder(ok())
    run(run_against(server, method="GET"))
    [request] = server.requests
    assert request["body"] == b""
    assert "Content-Type" not in request["headers"]


def test_head_has_no_response_body() -> None:
    outcome = run(run_against(Recorder(ok("ignored")), method="HEAD"))
    assert outcome.succeeded and outcome.response_body is None


# --- signing ----------------------------------------------------------------------------


def test_signature_verifies_on_the_receiver_on_every_attempt() -> None:
    server = Recorder(status(503), ok())
    outcome = run(run_against(server, body={"n": 1}, signing_key=KEY, signing_header="X-Sig", retry_limit=1))
    assert outcome.succeeded and outcome.attempts == 2
    now = int(time.time())
    for request in server.requests:
        header = request["headers"]["X-Sig"]
        assert verify(KEY, request["body"], header, now=now)
        assert not verify(b"wrong-key", request["body"], header, now=now)
        assert not verify(KEY, request["body"] + b" ", header, now=now)


# --- retries ----------------------------------------------------------------------------


def test_503_then_success_retries_with_the_same_idempotency_key() -> None:
    server = Recorder(status(503), status(503), ok("done"))
    sleeps = Sleeps()
    outcome = run(run_against(server, sleeps, retry_limit=3, backoff_seconds=1.0, max_backoff_seconds=10.0))
    assert outcome.succeeded
    assert outcome.attempts == 3
    assert outcome.response_code == 200 and outcome.response_body == "done" and outcome.error is None
    assert {r["headers"]["Idempotency-Key"] for r in server.requests} == {"run-123"}
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_429_retry_after_replaces_the_backoff() -> None:
    sleeps = Sleeps()
    server = Recorder(status(429, {"Retry-After": "2"}), ok())
    outcome = run(run_against(server, sleeps, retry_limit=1, backoff_seconds=30.0))
    assert outcome.succeeded and outcome.attempts == 2
    assert sleeps == [2.0]


def test_retry_after_is_capped_by_max_backoff() -> None:
    sleeps = Sleeps()
    server = Recorder(status(503, {"Retry-After": "3600"}), ok())
    run(run_against(server, sleeps, retry_limit=1, max_backoff_seconds=7.0))
    assert sleeps == [7.0]


def test_retries_exhausted_names_the_last_status() -> None:
    sleeps = Sleeps()
    server = Recorder(status(500), status(502), status(503))
    outcome = run(run_against(server, sleeps, retry_limit=2))
    assert not outcome.succeeded
    assert outcome.attempts == 3 and len(server.requests) == 3 and len(sleeps) == 2
    assert outcome.response_code == 503
    assert outcome.error == "HTTP 503 (attempt 3 of 3)"
    assert outcome.response_body == "status 503"


def test_no_retry_on_404() -> None:
    sleeps = Sleeps()
    server = Recorder(status(404))
    outcome = run(run_against(server, sleeps, retry_limit=3))
    assert not outcome.succeeded
    assert outcome.attempts == 1 and len(server.requests) == 1 and sleeps == []
    assert outcome.response_code == 404 and "HTTP 404" in (outcome.error or "")


def test_expected_status_codes_reject_other_2xx() -> None:
    outcome = run(run_against(Recorder(ok()), expected_status_codes=(201,)))
    assert not outcome.succeeded and outcome.response_code == 200
    assert outcome.error == "unexpected status 200 (expected 201)"


def test_expected_status_codes_accept_non_2xx() -> None:
    outcome = run(run_against(Recorder(status(404)), expected_status_codes=(200, 404), retry_limit=2))
    assert outcome.succeeded and outcome.attempts == 1 and outcome.error is None


def test_redirect_is_a_result_not_followed() -> None:
    server = Recorder(lambda: web.Response(status=302, headers={"Location": "/elsewhere"}))
    outcome = run(run_against(server, retry_limit=2))
    assert not outcome.succeeded and outcome.response_code == 302 and outcome.attempts == 1
    assert [r["path"] for r in server.requests] == ["/hook"]


# --- transport failures -----------------------------------------------------------------


def test_timeout_is_retried_and_reported() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    sleeps = Sleeps()
    started = time.monotonic()
    outcome = run(run_against(slow, sleeps, timeout_seconds=0.3, retry_limit=2))
    assert not outcome.succeeded
    assert outcome.attempts == 3 and len(sleeps) == 2
    assert outcome.error == "timeout after 0.3s (attempt 3 of 3)"
    assert outcome.response_code is None
    assert 900 <= outcome.duration_ms < 4000
    assert time.monotonic() - started < 4


def test_trickling_server_cannot_stretch_an_attempt_past_the_timeout() -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(100):
            await response.write(b"x")
            await asyncio.sleep(0.1)
        return response

    outcome = run(run_against(trickle, timeout_seconds=0.5))
    assert not outcome.succeeded and outcome.error == "timeout after 0.5s"
    assert outcome.duration_ms < 2000


def test_connection_refused_is_a_failure_not_an_exception() -> None:
    async def go(port: int) -> HttpOutcome:
        sleeps = Sleeps()
        async with make_client() as client:
            outcome = await execute(client, plan(f"http://127.0.0.1:{port}/", retry_limit=1), sleep=sleeps)
        assert len(sleeps) == 1
        return outcome

    with closed_port() as port:
        outcome = run(go(port))
    assert not outcome.succeeded and outcome.attempts == 2 and outcome.response_code is None
    assert outcome.error == "connection refused (attempt 2 of 2)"


@pytest.mark.parametrize(
    ("headers", "signing_header"),
    [
        ({"Authorization": "tökén"}, "X-Sig"),
        ({"Authorization": "tok\nén"}, "X-Sig"),
        ({"Bad Name": "tökén"}, "X-Sig"),
        ({}, "X-Sïg"),
    ],
)
def test_malformed_headers_fail_without_echoing_them(headers: dict[str, str], signing_header: str) -> None:
    server = Recorder(ok())
    outcome = run(
        run_against(server, headers=headers, signing_key=KEY, signing_header=signing_header, retry_limit=2)
    )
    assert not outcome.succeeded and outcome.attempts <= 1 and server.requests == []
    error = outcome.error or ""
    assert error.startswith("invalid request")
    assert all(part not in error for part in ["tök", "én", "Bad Name", "Sïg"])


def test_invalid_url_is_a_failure_not_an_exception() -> None:
    async def go() -> HttpOutcome:
        async with make_client() as client:
            return await execute(client, plan("http://127.0.0.1:99999/", retry_limit=2))

    outcome = run(go())
    assert not outcome.succeeded and outcome.attempts == 0
    assert outcome.error == "invalid URL: port 99999 is out of range"


# --- response bodies --------------------------------------------------------------------


def test_large_response_body_is_truncated() -> None:
    outcome = run(run_against(Recorder(lambda: web.Response(body=b"a" * (1 << 20)))))
    assert outcome.succeeded
    body = outcome.response_body
    assert isinstance(body, str) and body.endswith(TRUNCATED_MARKER)
    assert len(body.encode()) <= BODY_LIMIT + len(TRUNCATED_MARKER)
    assert body == "a" * BODY_LIMIT + TRUNCATED_MARKER


def test_endless_response_body_is_streamed_not_loaded() -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        while True:
            await response.write(b"[" * 65536)

    outcome = run(run_against(endless, timeout_seconds=5))
    assert outcome.succeeded and outcome.duration_ms < 5000
    assert outcome.response_body == "[" * BODY_LIMIT + TRUNCATED_MARKER


def test_json_response_is_parsed() -> None:
    payload = {"ok": True, "items": [1, 2], "name": "é"}
    outcome = run(run_against(Recorder(lambda: web.json_response(payload))))
    assert outcome.response_body == payload


def test_invalid_json_response_is_kept_as_text() -> None:
    server = Recorder(lambda: web.Response(text="{oops", content_type="application/json"))
    assert run(run_against(server)).response_body == "{oops"


def test_response_cookies_are_not_replayed_on_later_requests() -> None:
    server = Recorder(lambda: web.Response(text="ok", headers={"Set-Cookie": "session=abc; Path=/"}))

    async def go() -> None:
        async with serve(server) as base, make_client() as client:
            await execute(client, plan(base + "/a"))
            await execute(client, plan(base + "/b"))

    asyncio.run(go())
    assert "Cookie" not in server.requests[1]["headers"]


# --- cancellation -----------------------------------------------------------------------


def test_cancellation_propagates_during_a_request() -> None:
    arrived = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.sleep(30)
        return web.Response()

    async def go() -> None:
        async with serve(hang) as base, make_client() as client:
            task = asyncio.create_task(execute(client, plan(base + "/", retry_limit=3)))
            await asyncio.wait_for(arrived.wait(), 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(go())


def test_cancellation_propagates_during_backoff() -> None:
    async def go() -> None:
        async with serve(Recorder(status(503))) as base, make_client() as client:
            task = asyncio.create_task(
                execute(client, plan(base + "/", retry_limit=3, backoff_seconds=60, max_backoff_seconds=60))
            )
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(go())


# --- plan_from_target -------------------------------------------------------------------


def test_plan_from_target_merges_secret_headers_over_clear_ones() -> None:
    target = HttpTarget(
        url="http://127.0.0.1:1/x",
        method="PATCH",
        headers={"authorization": "stale", "X-A": "1"},
        body={"k": "v"},
        timeout_seconds=7,
        expected_status_codes=[200, 204],
        signing=Signing(secret_key_ref=SecretKeyRef(name="s", key="k"), header="X-Sig"),
    )
    result = plan_from_target(
        target,
        Retry(limit=2, backoff_seconds=3, max_backoff_seconds=9),
        {"Authorization": "new"},
        KEY,
        "id-1",
    )
    assert result == HttpRequestPlan(
        method="PATCH",
        url="http://127.0.0.1:1/x",
        headers={"X-A": "1", "Authorization": "new"},
        body={"k": "v"},
        timeout_seconds=7.0,
        expected_status_codes=(200, 204),
        idempotency_key="id-1",
        signing_key=KEY,
        signing_header="X-Sig",
        retry_limit=2,
        backoff_seconds=3,
        max_backoff_seconds=9,
    )


def test_plan_from_target_defaults() -> None:
    result = plan_from_target(HttpTarget(url="http://127.0.0.1:1/"), None, {}, None, "id")
    assert result.method == "POST" and result.headers == {} and result.expected_status_codes is None
    assert result.retry_limit == 0 and result.signing_header == "X-Cronwright-Signature"
    assert result.timeout_seconds == 30.0


# --- pure helpers -----------------------------------------------------------------------


@given(
    attempt=st.integers(min_value=1, max_value=2000),
    base=st.floats(min_value=0, max_value=3600),
    cap=st.floats(min_value=0, max_value=3600),
    r=st.floats(min_value=0, max_value=1),
)
def test_backoff_delay_stays_within_jitter_bounds(attempt: int, base: float, cap: float, r: float) -> None:
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 1023))
    delay = backoff_delay(attempt, base, cap, rand=lambda: r)
    assert 0.5 * ceiling <= delay <= ceiling


def test_backoff_delay_doubles_until_the_cap() -> None:
    assert [backoff_delay(n, 1, 10, rand=lambda: 1.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert backoff_delay(3, 1, 10, rand=lambda: 0.0) == 2


NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        ("Sun, 01 Mar 2026 12:01:00 -0000", 60.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, NOW) == expected


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (500, True),
        (503, True),
        (599, True),
        (429, True),
        (404, False),
        (400, False),
        (200, False),
        (302, False),
    ],
)
def test_is_retryable_status(code: int, retryable: bool) -> None:
    assert is_retryable_status(code) is retryable


# --- signing ----------------------------------------------------------------------------

keys = st.binary(min_size=1, max_size=64)
timestamps = st.integers(min_value=0, max_value=2**40)


@given(key=keys, body=st.binary(max_size=512), t=timestamps, skew=st.integers(-300, 300))
def test_signature_round_trips_within_tolerance(key: bytes, body: bytes, t: int, skew: int) -> None:
    assert verify(key, body, sign(key, body, t), now=t + skew)


@given(
    key=keys,
    body=st.binary(max_size=512),
    t=timestamps,
    skew=st.integers(301, 10**6),
    sign_of=st.sampled_from([-1, 1]),
)
def test_stale_or_future_signature_is_rejected(
    key: bytes, body: bytes, t: int, skew: int, sign_of: int
) -> None:
    assert not verify(key, body, sign(key, body, t), now=t + sign_of * skew)


@given(key=keys, other=keys, body=st.binary(max_size=512), t=timestamps)
def test_signature_with_another_key_or_body_is_rejected(
    key: bytes, other: bytes, body: bytes, t: int
) -> None:
    header = sign(key, body, t)
    if other != key:
        assert not verify(other, body, header, now=t)
    assert not verify(key, body + b"x", header, now=t)


@given(old=keys, new=keys, body=st.binary(max_size=128), t=timestamps)
def test_rotation_header_with_several_v1_entries(old: bytes, new: bytes, body: bytes, t: int) -> None:
    old_mac = sign(old, body, t).split("v1=")[1]
    header = f"{sign(new, body, t)},v1={old_mac},v0=legacy, extra"
    assert verify(new, body, header, now=t)
    assert verify(old, body, header, now=t)


@pytest.mark.parametrize(
    "header", ["", "garbage", "v1=abc", "t=12", "t=abc,v1=00", "t=10,t=10,v1=00", "t=-1,v1=00"]
)
def test_malformed_signature_headers_are_rejected(header: str) -> None:
    assert not verify(KEY, b"", header, now=10)


def test_signature_format_matches_plain_hmac() -> None:
    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign(b"k", b"{}", 1700000000) == f"t=1700000000,v1={expected}"
