"""promtool (built from the Go module proxy, cached) on rule files the chart renders."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from cronwright.core.controlplane.binaries import ensure_promtool


class Promtool:
    def __init__(self) -> None:
        self.binary = ensure_promtool()

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env={"PATH": "/usr/bin:/bin", "HOME": str(cwd or Path.cwd())},
            timeout=120,
            check=False,
        )

    def check_rules(self, groups: list[dict[str, Any]], path: Path) -> subprocess.CompletedProcess[str]:
        """`promtool check rules` on a rule file holding `groups`: every expression parsed,
        every template checked (what Prometheus does when it loads the file)."""
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        return self.run("check", "rules", str(path))


def recording_rules(expressions: dict[str, str]) -> list[dict[str, Any]]:
    """Each PromQL expression as a recording rule, so `check rules` parses it: promtool's
    only offline parser for a bare query (`promtool query` needs a server)."""
    return [
        {"name": "parsed", "rules": [{"record": name, "expr": expr} for name, expr in expressions.items()]}
    ]
