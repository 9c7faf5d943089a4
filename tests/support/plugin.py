"""`kubectl cronwright` run the way users run it: the real kubectl binary finds the
plugin on PATH (the virtualenv's bin folder, where pip put `kubectl-cronwright`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.cluster import Cluster

VENV_BIN = Path(sys.executable).parent
#: The user's zone for "local" times: no DST, far from the jobs' zones.
LOCAL_ZONE = "Asia/Tokyo"


class KubectlPlugin:
    def __init__(self, cluster: Cluster, home: Path, kubeconfig: Path | None = None) -> None:
        missing = [
            n for n in ("kubectl-cronwright", "kubectl_complete-cronwright") if not (VENV_BIN / n).exists()
        ]
        if missing:
            raise AssertionError(
                f"{', '.join(missing)} not in {VENV_BIN}: run `make controlplane` (pip install -e .)"
            )
        self.kubectl = cluster.kubectl
        self.env = {
            "PATH": f"{VENV_BIN}:/usr/bin:/bin",
            "KUBECONFIG": str(kubeconfig or cluster.kubeconfig),
            "HOME": str(home),
            "TZ": LOCAL_ZONE,
            # A PYTHONPATH given to the test run (a worktree's sources ahead of the editable
            # install) reaches the plugin that kubectl starts, so it runs the code under test.
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.kubectl), *args], capture_output=True, text=True, env=self.env, timeout=120, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def cronwright(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("cronwright", *args, check=check)

    def json(self, *args: str) -> Any:
        return json.loads(self.cronwright(*args, "-o", "json").stdout)

    def yaml(self, *args: str) -> Any:
        return yaml.safe_load(self.cronwright(*args, "-o", "yaml").stdout)

    def table(self, *args: str) -> list[dict[str, str]]:
        """The table as rows keyed by column title (columns are 3+ spaces apart)."""
        lines = self.cronwright(*args).stdout.splitlines()
        header = re.split(r"\s{3,}", lines[0])
        rows = []
        for line in lines[1:]:
            cells = re.split(r"\s{3,}", line)
            assert len(cells) <= len(header), line
            rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True)))
        return rows

    def complete(self, *words: str) -> list[str]:
        """What kubectl's shell completion offers after `kubectl cronwright <words>`."""
        result = self.run("__complete", "cronwright", *words)
        lines = [line for line in result.stdout.splitlines() if line]
        assert lines and lines[-1].startswith(":"), result.stdout
        return lines[:-1]
