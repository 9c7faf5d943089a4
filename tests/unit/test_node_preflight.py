"""The real node fails, never skips, naming what the machine lacks."""

from __future__ import annotations

import pytest

from cronwright.core.controlplane import node


@pytest.mark.parametrize(
    ("euid", "missing", "expected"),
    [
        (0, [], []),
        (1000, [], ["root (the node needs network, pid and mount namespaces and cgroups)"]),
        (
            0,
            ["runc", "iptables"],
            ["the Debian packages runc, iptables (`make node` installs them)"],
        ),
    ],
)
def test_preflight_names_what_the_machine_lacks(
    monkeypatch: pytest.MonkeyPatch, euid: int, missing: list[str], expected: list[str]
) -> None:
    monkeypatch.setattr(node.os, "geteuid", lambda: euid)
    monkeypatch.setattr(node.debian, "missing_packages", lambda packages: missing)

    problems = [p for p in node.preflight() if not p.startswith(("the capability", "the command"))]

    assert problems == expected


def test_a_node_that_cannot_run_here_fails_before_touching_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(node, "preflight", lambda: ["root (...)", "the Debian packages runc (...)"])
    registered: list[object] = []
    monkeypatch.setattr(node.node_host, "register", lambda: registered.append(1))

    with pytest.raises(node.NodeError, match=r"lacks:\n  root .*\n  the Debian packages runc"):
        node.Node().start()

    assert registered == []
