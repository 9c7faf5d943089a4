"""The SSRF guard in a running operator: a denied address receives nothing and the run is
recorded Failed with the guard's reason; an allowlisted address is called.

Only loopback addresses are ever involved: the denied one is 127.0.0.2, with a real
receiver listening there that must stay silent, so even a broken guard sends nothing
off the machine. "127.2" is a host name only the system resolver (getaddrinfo) turns
into 127.0.0.2: it shows the guard judges the resolved address, not the URL's text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, status, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver


@pytest.fixture
def denied_receiver() -> Iterator[Receiver]:
    server = Receiver(host="127.0.0.2").start()
    yield server
    server.stop()


def _operator_with(
    start_operator: Callable[..., OperatorProcess], tmp_path: Path, settings: str
) -> OperatorProcess:
    path = tmp_path / "settings.yaml"
    path.write_text(settings)
    return start_operator(extra=(f"--config={path}",))


def _last_run(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: (status(cluster, namespace, name).get("history") or [None])[0],
        30,
        f"a recorded run of {name}",
    )


def test_a_denied_address_receives_nothing_and_the_run_fails_with_the_reason(
    cluster: Cluster,
    namespace: str,
    receiver: Receiver,
    denied_receiver: Receiver,
    start_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    _operator_with(start_operator, tmp_path, "ssrf:\n  deny: ['127.0.0.2/32']\n")
    port = denied_receiver.port
    retry = {"limit": 2, "backoffSeconds": 0.1}
    apply(
        cluster,
        namespace,
        cronjobspec("direct", {"delaySeconds": 1}, {"url": f"http://127.0.0.2:{port}/direct"}, retry=retry),
        cronjobspec("by-name", {"delaySeconds": 1}, {"url": f"http://127.2:{port}/by-name"}, retry=retry),
        cronjobspec("elsewhere", {"delaySeconds": 1}, {"url": receiver.url("/elsewhere")}),
    )
    for name in ("direct", "by-name"):
        run = _last_run(cluster, namespace, name)
        assert run["result"] == "Failed"
        assert run["error"] == (
            "refused by the SSRF guard: 127.0.0.2 is in the denied range 127.0.0.2/32 (attempt 1 of 3)"
        )
        assert run["attempts"] == 1  # a refusal is final: no retries
    assert _last_run(cluster, namespace, "elsewhere")["result"] == "Succeeded"
    assert len(receiver.at("/elsewhere")) == 1
    time.sleep(1)  # anything in flight would have arrived by now
    assert denied_receiver.requests == []


def test_the_allowlist_wins_over_deny_private(
    cluster: Cluster,
    namespace: str,
    receiver: Receiver,
    denied_receiver: Receiver,
    start_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    _operator_with(start_operator, tmp_path, "ssrf:\n  denyPrivate: true\n  allow: ['127.0.0.2']\n")
    apply(
        cluster,
        namespace,
        cronjobspec("allowed", {"delaySeconds": 1}, {"url": denied_receiver.url("/allowed")}),
        cronjobspec("private", {"delaySeconds": 1}, {"url": receiver.url("/private")}),
    )
    assert _last_run(cluster, namespace, "allowed")["result"] == "Succeeded"
    assert len(denied_receiver.at("/allowed")) == 1
    private = _last_run(cluster, namespace, "private")
    assert private["result"] == "Failed"
    assert private["error"] == "refused by the SSRF guard: 127.0.0.1 is loopback"
    time.sleep(1)
    assert receiver.requests == []
