"""Fixtures of the end-to-end tests: a loopback receiver and operator processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api_process import ApiProcess
from tests.support.cluster import Cluster
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def start_operator(
    cluster: Cluster, namespace: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start `cronwright operator` processes watching the test's namespace only."""
    started: list[OperatorProcess] = []

    def start(
        instance: str = "op-1",
        lease_seconds: int = 6,
        extra: tuple[str, ...] = (),
        kubeconfig: Path | None = None,
    ) -> OperatorProcess:
        config = kubeconfig or cluster.kubeconfig
        process = OperatorProcess(config, namespace, tmp_path, instance, lease_seconds, extra)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for process in started:
            print(f"--- operator {process.instance} log ---\n{process.tail(200)}")


@pytest.fixture
def operator(start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    return start_operator()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def api(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """One facade for the session: tenants are namespaces, so tests stay apart."""
    process = ApiProcess(
        cluster.kubeconfig, "cronwright-keys", tmp_path_factory.mktemp("api") / "api.log"
    ).start()
    yield process
    process.stop()


@pytest.fixture
def client(api: ApiProcess, namespace: str) -> Iterator[httpx.Client]:
    """A client of the session's facade with a read+write key for the test's namespace."""
    with api.client(api.new_key(namespace)) as c:
        yield c
