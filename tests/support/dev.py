"""`cronwright dev` as a user runs it, for the tests: started in a terminal-like process
group, read through the dev.json it writes, and stopped by Ctrl-C (SIGINT to the group)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.kubectl import wait_for


def echo_requests(log: Path) -> list[tuple[str, str]]:
    """(method, path) of each line "<date> <time,ms> <METHOD> <path> <body>" the echo logs."""
    if not log.exists():
        return []
    return [tuple(line.split(" ")[2:4]) for line in log.read_text().splitlines() if line.count(" ") >= 3]


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, whatever session it moved to (from /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except FileNotFoundError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return False
    return fields[0] != "Z"


@dataclass
class DevProcess:
    state: Path
    cwd: Path
    args: tuple[str, ...] = ()
    env: dict[str, str] | None = None
    process: subprocess.Popen[str] | None = field(default=None, init=False)
    info: dict[str, Any] = field(default_factory=dict, init=False)
    output: str = field(default="", init=False)

    def start(self, timeout: float = 180) -> DevProcess:
        """Until dev.json appears, which `cronwright dev` writes once everything is up."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cronwright.cli", "dev", f"--state-dir={self.state}", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.cwd,
            env=self.env,
            start_new_session=True,  # its own process group, as a shell gives a foreground job
        )
        info_file = self.state / "dev.json"
        process = self.process

        def ready() -> dict[str, Any] | None:
            if process.poll() is not None:
                raise AssertionError(f"cronwright dev exited with {process.returncode}:\n{self.stop()}")
            return json.loads(info_file.read_text()) if info_file.exists() else None

        self.info = wait_for(ready, timeout, "dev.json", every=0.5)
        return self

    def ctrl_c(self, timeout: float = 60) -> float:
        """SIGINT to the process group, as a terminal's Ctrl-C; the seconds until this
        process and every process it started are gone (monotonic clock)."""
        assert self.process is not None
        watched = {self.process.pid, *descendants(self.process.pid)}
        started = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        self.output = self.process.communicate(timeout=timeout)[0]
        while any(alive(pid) for pid in watched):
            if time.monotonic() - started > timeout:
                raise AssertionError(f"still running {timeout}s after Ctrl-C: {sorted(watched)}")
            time.sleep(0.01)
        return time.monotonic() - started

    def stop(self) -> str:
        """Ctrl-C unless already stopped; the whole output."""
        if self.process is not None and self.process.poll() is None:
            self.ctrl_c()
        elif self.process is not None and not self.output:
            self.output = self.process.communicate()[0]
        return self.output
