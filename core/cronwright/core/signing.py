"""HMAC-SHA256 request signatures: ``t=<unix seconds>,v1=<hex hmac>`` over ``"<t>." + body``.

The timestamp is inside the MAC so a captured request cannot be replayed later than the
receiver's tolerance, and the body is signed as the exact bytes on the wire so the
receiver never has to re-serialize JSON to check it. Several ``v1=`` entries may appear
in one header: a receiver holding either the old or the new key accepts the request while
keys rotate. The format follows the widely used Stripe-style scheme so receivers can reuse
existing verification code; ``docs/http-target.md`` shows a dependency-free verifier.
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "v1"


def _mac(key: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(key: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},{SCHEME}={_mac(key, body, timestamp)}"


def _parse(header: str) -> tuple[int | None, list[str]]:
    """The timestamp and every v1 candidate; unknown parts are skipped so the format can grow."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                return None, []  # two timestamps or a malformed one: ambiguous, refuse
            timestamp = int(value)
        elif name == SCHEME:
            candidates.append(value)
    return timestamp, candidates


def verify(key: bytes, body: bytes, header: str, now: int, tolerance: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``key`` and was made within ``tolerance`` s of ``now``.

    Comparison is constant-time so response timing reveals nothing about the expected MAC.
    """
    timestamp, candidates = _parse(header)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = _mac(key, body, timestamp).encode()
    # Compare against every candidate (no early exit) so timing does not reveal which matched.
    matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in candidates]
    return any(matches)
