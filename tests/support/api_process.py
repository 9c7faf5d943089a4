"""`cronwright api` as a real subprocess, and a client for it with a real API key."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from cronwright.api.apikeys import create_key
from cronwright.core.controlplane.cluster import die_with_parent, free_port
from cronwright.core.kube import run_with_kube


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
        command = [
            sys.executable,
            "-m",
            "cronwright.core.cli",
            "api",
            f"--kubeconfig={self.kubeconfig}",
            f"--port={self.port}",
            f"--keys-namespace={self.keys_namespace}",
            *self.extra,
        ]
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"api exited with {self.popen.returncode}:\n{self.log.read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"api not ready in {timeout}s")

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

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
