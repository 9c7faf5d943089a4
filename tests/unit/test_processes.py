"""Starting a cronwright component: a child that dies before it is ready is reported with
its exit code and the reason from its own log, not as a bare timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronwright.core.controlplane.cluster import free_port
from cronwright.core.processes import log_tail, start_component


def test_a_child_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    port = free_port()
    with pytest.raises(RuntimeError) as raised:
        start_component(["no-such-command", f"--port={port}"], log, f"http://127.0.0.1:{port}", "/healthz")
    message = str(raised.value)
    assert "`cronwright no-such-command` exited with 2" in message
    assert "invalid choice: 'no-such-command'" in message


def test_the_tail_is_the_last_lines_and_empty_before_any(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    assert log_tail(log) == ""
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(log, 3) == "line 97\nline 98\nline 99"
