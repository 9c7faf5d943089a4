"""One run of an HTTP target: the request, its retries, and a result the scheduler can record.

The caller resolves everything that needs the Kubernetes API (Secrets) into an
``HttpRequestPlan`` first, so this module only talks HTTP and is testable against a plain
local server. ``execute`` never raises for network or HTTP trouble: a scheduled call that
fails is an outcome to record in status, not an exception to crash a handler with. Only
``asyncio.CancelledError`` escapes, because concurrencyPolicy Replace cancels runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from cronwright.core.models import HttpTarget, Retry, Signing
from cronwright.core.signing import sign
from cronwright.core.version import VERSION
from cronwright.operator.ssrf import GuardedBackend, GuardedTransport, Policy, refused_by_guard

log = logging.getLogger(__name__)

BODY_LIMIT = 4096
"""Bytes of a response body kept: enough to diagnose, small enough for status.history."""

TRUNCATED_MARKER = "...[truncated]"
DEFAULT_SIGNING_HEADER: str = Signing.model_fields["header"].default

# Failures that another attempt cannot fix: the request itself is malformed.
_PERMANENT_TRANSPORT_ERRORS = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


@dataclass(frozen=True)
class HttpRequestPlan:
    """Everything one run needs, resolved up front so retries send identical requests."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any
    timeout_seconds: float
    expected_status_codes: tuple[int, ...] | None
    idempotency_key: str
    signing_key: bytes | None
    signing_header: str
    retry_limit: int
    backoff_seconds: float
    max_backoff_seconds: float


@dataclass
class HttpOutcome:
    """What the scheduler writes into the run record."""

    succeeded: bool
    attempts: int
    response_code: int | None
    response_body: Any
    error: str | None
    duration_ms: int
    started_at: datetime


@dataclass(frozen=True)
class _Attempt:
    code: int | None = None
    body: Any = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None


def _merge_headers(clear: dict[str, str], secret: dict[str, str]) -> dict[str, str]:
    """Secret headers win, case-insensitively, so a stale clear value is never sent alongside."""
    secret_names = {name.lower() for name in secret}
    return {**{k: v for k, v in clear.items() if k.lower() not in secret_names}, **secret}


def plan_from_target(
    target: HttpTarget,
    retry: Retry | None,
    secret_headers: dict[str, str],
    signing_key: bytes | None,
    idempotency_key: str,
) -> HttpRequestPlan:
    retry = retry or Retry()
    return HttpRequestPlan(
        method=target.method.value,
        url=target.url,
        headers=_merge_headers(target.headers or {}, secret_headers),
        body=target.body,
        timeout_seconds=float(target.timeout_seconds),
        # An empty list would make every response a failure; treat it like "not set".
        expected_status_codes=tuple(target.expected_status_codes) if target.expected_status_codes else None,
        idempotency_key=idempotency_key,
        signing_key=signing_key,
        signing_header=target.signing.header if target.signing else DEFAULT_SIGNING_HEADER,
        retry_limit=retry.limit,
        backoff_seconds=retry.backoff_seconds,
        max_backoff_seconds=retry.max_backoff_seconds,
    )


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Delay after failed ``attempt`` (from 1); jitter spreads out runs that failed together."""
    # 2.0 ** 1024 overflows; past that the product is far above any cap anyway.
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 1023))
    return ceiling * (0.5 + 0.5 * rand())


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait per a Retry-After header (RFC 9110: delta-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def is_retryable_status(code: int) -> bool:
    """Server-side trouble and rate limiting may pass; other statuses will not change on retry."""
    return code == 429 or 500 <= code <= 599


def encode_body(body: Any) -> tuple[bytes | None, str | None]:
    """The bytes to send and their default Content-Type."""
    if body is None:
        return None, None
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body, separators=(",", ":")).encode(), "application/json"


def decode_body(data: bytes, truncated: bool, content_type: str | None, encoding: str) -> Any:
    """JSON when the server says so and it is complete, else text; None when there is nothing."""
    if not data:
        return None
    text = data.decode(encoding, errors="replace")
    if truncated:
        return text + TRUNCATED_MARKER
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _is_success(code: int, expected: tuple[int, ...] | None) -> bool:
    return code in expected if expected is not None else 200 <= code <= 299


def _status_error(code: int, expected: tuple[int, ...] | None) -> str:
    if expected is None:
        return f"HTTP {code}"
    return f"unexpected status {code} (expected {', '.join(map(str, expected))})"


def _cause_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _transport_error(exc: Exception, timeout: float) -> str:
    """A short, stable description: httpx's messages are often vague ("All connection attempts failed")."""
    refused = refused_by_guard(exc)
    if refused is not None:
        return str(refused)
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"timeout after {timeout:g}s"
    for cause in _cause_chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed: {cause.strerror or cause}"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {cause.verify_message or cause}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
    if isinstance(exc, httpx.LocalProtocolError):
        # h11 quotes the offending header in its message, and header values may be secrets.
        return "invalid request: malformed header name or value"
    detail = str(exc)
    kind = {
        httpx.ConnectError: "connection failed",
        httpx.RemoteProtocolError: "protocol error",
        httpx.ReadError: "read error",
        httpx.WriteError: "write error",
        httpx.UnsupportedProtocol: "unsupported URL scheme",
    }.get(type(exc), type(exc).__name__)
    return f"{kind}: {detail}" if detail else kind


async def _read_limited(response: httpx.Response) -> tuple[bytes, bool]:
    """At most BODY_LIMIT bytes, streamed, so a huge or endless body costs nothing."""
    buffer = bytearray()
    async for chunk in response.aiter_bytes():
        buffer += chunk
        if len(buffer) > BODY_LIMIT:
            return bytes(buffer[:BODY_LIMIT]), True
    return bytes(buffer), False


async def _attempt(client: httpx.AsyncClient, plan: HttpRequestPlan, request: httpx.Request) -> _Attempt:
    try:
        # httpx's timeout bounds each phase; asyncio.timeout bounds the whole attempt, so a
        # server trickling bytes cannot stretch one attempt past timeoutSeconds.
        async with asyncio.timeout(plan.timeout_seconds):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                data, truncated = await _read_limited(response)
            finally:
                await response.aclose()
    except (httpx.TransportError, TimeoutError) as exc:
        return _Attempt(
            error=_transport_error(exc, plan.timeout_seconds),
            # The guard will refuse the same address again: retrying would only delay the record.
            retryable=not isinstance(exc, _PERMANENT_TRANSPORT_ERRORS) and refused_by_guard(exc) is None,
        )
    code = response.status_code
    body = decode_body(data, truncated, response.headers.get("content-type"), response.encoding or "utf-8")
    if _is_success(code, plan.expected_status_codes):
        return _Attempt(code=code, body=body)
    retry_after = None
    if code in (429, 503):
        retry_after = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
    return _Attempt(
        code=code,
        body=body,
        error=_status_error(code, plan.expected_status_codes),
        retryable=is_retryable_status(code),
        retry_after=retry_after,
    )


def _build_request(
    client: httpx.AsyncClient,
    plan: HttpRequestPlan,
    content: bytes | None,
    content_type: str | None,
    version: str,
) -> httpx.Request:
    """A fresh request per attempt, so the signature's timestamp is fresh and a late retry
    does not look like a replay to the receiver."""
    # identity: the body is cut at a few KiB anyway, and a compressed response could
    # inflate far beyond what was read off the wire.
    headers = httpx.Headers({"Accept-Encoding": "identity"})
    headers.update(plan.headers)
    if content_type and "content-type" not in headers:
        headers["Content-Type"] = content_type
    headers["User-Agent"] = f"cronwright/{version}"
    headers["Idempotency-Key"] = plan.idempotency_key
    if plan.signing_key is not None:
        headers[plan.signing_header] = sign(plan.signing_key, content or b"", int(time.time()))
    request = client.build_request(
        plan.method, plan.url, headers=headers, content=content, timeout=httpx.Timeout(plan.timeout_seconds)
    )
    port = request.url.port
    if port is not None and not 1 <= port <= 65535:
        # httpx accepts it, then the socket layer raises a bare OverflowError mid-connect.
        raise httpx.InvalidURL(f"port {port} is out of range")
    return request


def _safe_origin(url: str) -> str:
    """Scheme, host and port only: webhook URLs often carry their token in the path or query."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


async def execute(
    client: httpx.AsyncClient,
    plan: HttpRequestPlan,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    version: str = VERSION,
) -> HttpOutcome:
    """Run ``plan`` with its retries; every failure comes back as an unsuccessful outcome."""
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    total = plan.retry_limit + 1

    def outcome(attempts: int, result: _Attempt) -> HttpOutcome:
        error = result.error
        if error is not None and total > 1 and attempts > 0:
            error = f"{error} (attempt {attempts} of {total})"
        return HttpOutcome(
            succeeded=result.error is None,
            attempts=attempts,
            response_code=result.code,
            response_body=result.body,
            error=error,
            duration_ms=int((time.monotonic() - clock) * 1000),
            started_at=started_at,
        )

    content, content_type = encode_body(plan.body)
    attempt = 1
    while True:
        try:
            request = _build_request(client, plan, content, content_type, version)
        except httpx.InvalidURL as exc:
            return outcome(attempt - 1, _Attempt(error=f"invalid URL: {exc}"))
        except UnicodeEncodeError:
            # Do not echo the offending text: it may come from a Secret.
            error = "invalid request: header names and values must be ASCII"
            return outcome(attempt - 1, _Attempt(error=error))
        result = await _attempt(client, plan, request)
        if result.error is None or not result.retryable or attempt == total:
            return outcome(attempt, result)
        if result.retry_after is not None:
            delay = min(result.retry_after, plan.max_backoff_seconds)
        else:
            delay = backoff_delay(attempt, plan.backoff_seconds, plan.max_backoff_seconds)
        log.info(
            "%s %s attempt %d of %d failed (%s); retrying in %.2fs",
            plan.method,
            _safe_origin(plan.url),
            attempt,
            total,
            result.error,
            delay,
        )
        await sleep(delay)
        attempt += 1


#: Connections per httpcore pool in make_client's transport: a 3,000-request loopback
#: burst at 128 in flight cost the client ≈4 ms of CPU per request with one pool of 128,
#: ≈1.7 ms with pools of 16 and ≈0.75 ms with pools of 4, no better with 2 or 1.
CONNECTIONS_PER_POOL = 4

#: The client user targets are called with (make_client).
Client = httpx.AsyncClient


def make_transport(max_connections: int, backend: GuardedBackend) -> GuardedTransport:
    """make_client's transport: ``max_connections`` in pools of about CONNECTIONS_PER_POOL."""
    pools = max(1, max_connections // CONNECTIONS_PER_POOL)
    return GuardedTransport(backend, httpx.Limits(max_connections=max_connections), pools)


def make_client(max_connections: int = 128, ssrf: Policy | GuardedBackend | None = None) -> Client:
    """The one client the operator shares, so runs to the same host reuse warm connections.

    trust_env=False: proxy variables in the operator's environment must not reroute
    users' scheduled calls. Redirects are results, not something to chase silently. The
    cookie jar refuses every cookie: a shared jar would replay one CronJobSpec's session
    cookies on another's requests to the same host. The connections are split into
    pools of CONNECTIONS_PER_POOL because httpcore scans every connection of a pool
    (with a socket poll each, and a count of all of them for each idle one) whenever a
    request starts or ends: with one pool of 128 that scan was most of the client's CPU
    (docs/benchmarks.md, "HTTP fan-out"). The scheduler admits at most as many runs as
    there are connections, so no run's timeout is spent waiting for one.

    Every connection goes through the SSRF guard (operator/ssrf.py); ``ssrf`` is its
    policy (default: only the built-in denials), or a backend with its own resolver.
    """
    backend = ssrf if isinstance(ssrf, GuardedBackend) else GuardedBackend(ssrf or Policy())
    return httpx.AsyncClient(
        transport=make_transport(max_connections, backend),
        follow_redirects=False,
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )
