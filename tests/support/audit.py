"""The API server's audit log, for tests that need to know what a client really sent.

:func:`policy` writes the audit.k8s.io/v1 Policy handed to the API server
(``ControlPlane(extra_apiserver_flags=[--audit-policy-file=..., --audit-log-path=...])`` or
``Node(audit_policy=...)``); :func:`events` reads the log back (JSON lines, one event each)
and :func:`describe` prints one event as a line a failing assertion can show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def policy(*groups: str) -> str:
    """Level Metadata (who did what to which object, and the response code; no bodies).

    With `groups`, only requests of their members are kept — and requests nobody could be
    authenticated for: the API server refuses a bad token before it knows a user, so a 401
    matches no `userGroups` rule. Everyone else authenticated is dropped, which keeps the
    file small on a cluster whose own components talk all the time.
    """
    rules: list[dict[str, Any]] = [{"level": "Metadata"}]
    if groups:
        rules = [
            {"level": "Metadata", "userGroups": list(groups)},
            {"level": "None", "userGroups": ["system:authenticated"]},
            {"level": "Metadata"},  # anonymous, and refused before any user was known
        ]
    document = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": rules,
    }
    return yaml.safe_dump(document, sort_keys=False)


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def code(event: dict[str, Any]) -> int:
    """The response code (0 for a request still running when the event was written)."""
    return int(event.get("responseStatus", {}).get("code", 0))


def describe(event: dict[str, Any]) -> str:
    """`403 list secrets (team-a/) by system:serviceaccount:ns:sa from 10.244.0.5 (agent)`."""
    ref = event.get("objectRef", {})
    resource = "/".join(p for p in (ref.get("resource"), ref.get("subresource")) if p)
    target = resource or event.get("requestURI", "?")
    where = f" ({ref.get('namespace', '')}/{ref.get('name', '')})" if ref else ""
    user = event.get("user", {}).get("username") or "an unauthenticated client"
    sources, agent = ",".join(event.get("sourceIPs", [])), event.get("userAgent")
    return f"{code(event)} {event.get('verb')} {target}{where} by {user} from {sources} ({agent})"
