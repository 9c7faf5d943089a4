"""`cronwright api` as a real subprocess, and a client for it with a real API key."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from cronwright.api.apikeys import create_key
from cronwright.core.controlplane.cluster import free_port
from cronwright.core.kube import run_with_kube
from cronwright.core.processes import start_component, stop_component
from tests.support.cluster import Cluster


class ApiProcess:
    def __init__(self, kubeconfig: Path, keys_namespace: str, log: Path, extra: tuple[str, ...] = ()) -> None:
        self.kubeconfig = kubeconfig
        self.keys_namespace = keys_namespace
        self.log = log
        self.extra = extra
        self.port = 0
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ApiProcess:
        self.port = free_port()
        args = [
            "api",
            f"--kubeconfig={self.kubeconfig}",
            f"--port={self.port}",
            f"--keys-namespace={self.keys_namespace}",
            *self.extra,
        ]
        self.popen = start_component(args, self.log, self.url, "/healthz", timeout)
        return self

    def stop(self) -> None:
        stop_component(self.popen, grace=15)

    def __enter__(self) -> ApiProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def new_key(self, namespace: str, scopes: tuple[str, ...] = ("read", "write"), **kw: Any) -> str:
        return run_with_kube(
            str(self.kubeconfig),
            lambda kube: create_key(kube, namespace, scopes, keys_namespace=self.keys_namespace, **kw),
        )

    def client(self, key: str | None, header: str = "bearer") -> httpx.Client:
        headers = {}
        if key is not None:
            headers = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-API-Key": key}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def api_with_settings(name: str, settings: Mapping[str, Any]) -> Any:
    """A module-scoped fixture `name`: a facade of the module's own, reading `settings` (the
    named targets its dialect needs), for a test module to bind under `name`."""

    @pytest.fixture(scope="module", name=name)
    def facade(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
        folder = tmp_path_factory.mktemp(name)
        config = folder / "settings.yaml"
        config.write_text(json.dumps(settings))  # JSON is YAML
        extra = ("--config", str(config))
        with ApiProcess(cluster.kubeconfig, "cronwright-keys", folder / "api.log", extra) as process:
            yield process

    return facade


def envelope_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The `{"error": {"code", "message", "details"?}}` answer of a1base, agent-schedules and
    cron-registry, checked for its status and code."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and isinstance(error["message"], str)
    return error
