"""A component's log as records, for the tests that check what was (not) logged.

A log line carries a timestamp, ids and ports as well as its message, so searching its
text for a status code or a word is a coin toss: "403" is in "04:42.327403". The JSON
lines the components write (``--log-format=json``, the chart's default) are parsed here
and tests compare fields instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

QUIET = ("debug", "info")


def json_records(path: Path) -> list[dict[str, Any]]:
    """Every line as a record; a line that is not a JSON object (a traceback printed past
    the logger, a crash) becomes {"severity": "unparsed", "message": line}."""
    records: list[dict[str, Any]] = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        records.append(record if isinstance(record, dict) else {"severity": "unparsed", "message": line})
    return records


def problems(path: Path) -> list[dict[str, Any]]:
    """The records above info (kopf's JSON severity: warn, error, fatal) and unparsed lines:
    a refused API call (a 403 of a missing RBAC rule) is logged as one of these."""
    return [r for r in json_records(path) if r.get("severity") not in QUIET]
