"""A real Kubernetes control plane: etcd + kube-apiserver on loopback.

This is what controller-runtime's envtest does, in Python, for the tests and for
``cronwright dev``: free ports on 127.0.0.1, a data directory, certificates, an admin
kubeconfig (client certificate in ``system:masters``), the CRDs installed. There is no
kubelet, scheduler or controller-manager: objects are stored and validated, never run, and
nothing garbage-collects or finalizes namespaces.

The tests get a throwaway one (temporary directory, fresh certificates). ``cronwright dev``
keeps its own across restarts: it passes a directory that holds etcd's data and the
certificates of the last start (``keep_credentials``) and the ports used then (``ports``),
taken again when still free, so the kubeconfig and everything stored stay valid.

Children never outlive their parent: each is started with ``PR_SET_PDEATHSIG`` so the
kernel kills it when the process that started it dies, however that one dies. Each also
runs in a session of its own, so a terminal's Ctrl-C reaches only the parent, which stops
them in order: the API server's clients first, then the API server, then etcd.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from cronwright.core.controlplane import certs
from cronwright.core.controlplane.binaries import Binaries, ensure_binaries

LOOPBACK = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/16"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn of every child: the kernel kills it when its parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def detached_child() -> None:
    """preexec_fn of a server child: its own session (a terminal's Ctrl-C goes to the parent
    alone, which stops its children in order) and killed by the kernel with its parent."""
    os.setsid()
    die_with_parent()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now. SO_REUSEADDR, as servers set
    it, so connections of a previous run still in TIME_WAIT do not count as taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def port_or_free(preferred: int | None) -> int:
    """`preferred` when it is free, else any free port."""
    return preferred if preferred and port_is_free(preferred) else free_port()


def advertise_address() -> str:
    """The machine's own non-loopback IPv4 address, for --advertise-address only.

    kube-apiserver publishes this address in the `kubernetes` Service's endpoints and
    refuses a loopback one there. Nothing ever connects to it: every client here uses
    127.0.0.1. Without a global address the endpoint reconciler is switched off instead.
    """
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["ip", "-4", "-o", "addr", "show", "scope", "global"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        for line in out.splitlines():
            parts = line.split()
            if "inet" in parts:
                address = parts[parts.index("inet") + 1].split("/")[0]
                if not ipaddress.ip_address(address).is_loopback:
                    return address
    return LOOPBACK


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    command: list[str]

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, grace: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class ControlPlaneError(RuntimeError):
    pass


@dataclass(frozen=True)
class _Credentials:
    """The PKI files of one control plane and what the kubeconfig embeds."""

    pki: Path
    ca_pem: bytes
    admin: certs.KeyPair

    FILES = ("ca.crt", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key", "sa.key", "sa.pub")

    @classmethod
    def load(cls, pki: Path) -> _Credentials | None:
        """The credentials of an earlier start, None unless all of them are there."""
        if not all((pki / name).is_file() for name in cls.FILES):
            return None
        admin = certs.KeyPair((pki / "admin.crt").read_bytes(), (pki / "admin.key").read_bytes())
        return cls(pki, (pki / "ca.crt").read_bytes(), admin)

    @classmethod
    def make(cls, pki: Path) -> _Credentials:
        pki.mkdir(parents=True, exist_ok=True)
        ca = certs.CertificateAuthority()
        ca.pair.write(pki, "ca")
        ca.issue(
            "kube-apiserver",
            dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
            ip_addresses=(LOOPBACK, "10.96.0.1"),
            server=True,
        ).write(pki, "apiserver")
        admin = ca.issue("cronwright-admin", organization="system:masters")
        admin.write(pki, "admin")
        sa_private, sa_public = certs.signing_key()
        (pki / "sa.key").write_bytes(sa_private)
        (pki / "sa.key").chmod(0o600)
        (pki / "sa.pub").write_bytes(sa_public)
        return cls(pki, ca.pair.cert_pem, admin)


@dataclass
class ControlPlane:
    """etcd + kube-apiserver for one test session or one `cronwright dev` run."""

    workdir: Path | None = None
    install_crds: bool = True
    binaries: Binaries | None = None
    extra_apiserver_flags: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    """Ports to listen on when free ("etcd", "etcd-peer", "apiserver"); after start, the
    ports taken."""
    keep_credentials: bool = False
    """Reuse the certificates and keys an earlier start left in ``workdir``."""
    kubeconfig: Path = field(init=False)
    server: str = field(init=False)
    _processes: list[_Process] = field(default_factory=list, init=False)
    _owns_workdir: bool = field(default=False, init=False)

    @property
    def pids(self) -> list[int]:
        return [p.popen.pid for p in self._processes]

    @property
    def kubectl(self) -> Path:
        assert self.binaries is not None
        return self.binaries.kubectl

    def start(self, timeout: float = 90.0) -> ControlPlane:
        self.binaries = self.binaries or ensure_binaries()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="cronwright-cp-"))
            self._owns_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            deadline = time.monotonic() + timeout
            etcd_url = self._start_etcd(deadline)
            self._start_apiserver(etcd_url, deadline)
            if self.install_crds:
                self.apply_crds()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """apiserver first (it is etcd's client), then etcd; then the temp dir."""
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        if self._owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- processes -------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str]) -> _Process:
        assert self.workdir is not None
        log = self.workdir / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=detached_child,
            )
        process = _Process(name, popen, log, command)
        self._processes.append(process)
        return process

    def _wait(self, process: _Process, probe: Any, deadline: float) -> None:
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise ControlPlaneError(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if probe():
                    return
            time.sleep(0.1)
        raise ControlPlaneError(f"{process.name} not ready in time:\n{process.tail()}")

    def _start_etcd(self, deadline: float) -> str:
        assert self.workdir is not None and self.binaries is not None
        client, peer = self._port("etcd"), self._port("etcd-peer")
        url = f"http://{LOOPBACK}:{client}"
        peer_url = f"http://{LOOPBACK}:{peer}"
        process = self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=cronwright",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=cronwright={peer_url}",
                "--unsafe-no-fsync=true",  # throwaway data: durability buys nothing here
                "--log-level=warn",
            ],
        )
        self._wait(process, lambda: httpx.get(f"{url}/health", timeout=1).status_code == 200, deadline)
        return url

    def _start_apiserver(self, etcd_url: str, deadline: float) -> None:
        assert self.workdir is not None and self.binaries is not None
        pki = self.workdir / "pki"
        kept = _Credentials.load(pki) if self.keep_credentials else None
        credentials = kept or _Credentials.make(pki)
        ca_cert = pki / "ca.crt"

        port = self._port("apiserver")
        self.server = f"https://{LOOPBACK}:{port}"
        advertise = advertise_address()
        flags = [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={port}",
            f"--advertise-address={advertise}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={ca_cert}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--profiling=false",
        ]
        if advertise == LOOPBACK:
            flags.append("--endpoint-reconciler-type=none")
        process = self._spawn("kube-apiserver", flags + self.extra_apiserver_flags)

        self.kubeconfig = self.workdir / "kubeconfig"
        self._write_kubeconfig(credentials.ca_pem, credentials.admin)
        self._wait_for_apiserver(process, deadline)

    def _wait_for_apiserver(self, process: _Process, deadline: float) -> None:
        assert self.workdir is not None
        pki = self.workdir / "pki"
        tls = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        tls.load_cert_chain(pki / "admin.crt", pki / "admin.key")
        with httpx.Client(verify=tls, timeout=2) as client:
            self._wait(process, lambda: client.get(f"{self.server}/readyz").status_code == 200, deadline)

    def restart_apiserver(self, timeout: float = 60.0, down: float = 0.0) -> None:
        """Stop kube-apiserver and start it again with the same flags and data: every
        client's connections and watches break, as in a control-plane upgrade, and each
        client has to come back with the credentials it holds now. ``down``: seconds it
        stays stopped (an API server outage) before it is started again."""
        old = next(p for p in self._processes if p.name == "kube-apiserver")
        old.stop()
        self._processes.remove(old)
        time.sleep(down)
        self._wait_for_apiserver(self._spawn(old.name, old.command), time.monotonic() + timeout)

    def _port(self, name: str) -> int:
        self.ports[name] = port_or_free(self.ports.get(name))
        return self.ports[name]

    def _write_kubeconfig(self, ca_pem: bytes, admin: certs.KeyPair) -> None:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "cronwright",
                    "cluster": {"server": self.server, "certificate-authority-data": b64(ca_pem)},
                }
            ],
            "users": [
                {
                    "name": "cronwright-admin",
                    "user": {
                        "client-certificate-data": b64(admin.cert_pem),
                        "client-key-data": b64(admin.key_pem),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "cronwright",
                    "context": {"cluster": "cronwright", "user": "cronwright-admin", "namespace": "default"},
                }
            ],
            "current-context": "cronwright",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    # -- CRDs ------------------------------------------------------------------------

    def run_kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(self.kubectl, self.kubeconfig, *args, input=input, check=check)

    def apply_crds(self) -> None:
        install_crds(self.kubectl, self.kubeconfig)


def run_kubectl(
    kubectl: Path, kubeconfig: Path, *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    if check and result.returncode != 0:
        raise ControlPlaneError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def install_crds(kubectl: Path, kubeconfig: Path) -> None:
    """Install the CRDs (server-side apply) and wait until they are served."""
    from cronwright.core import crd

    for kind, definition in crd.DEFINITIONS.items():
        manifest = crd.render(kind)
        run_kubectl(
            kubectl, kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-", input=manifest
        )
        name = definition()["metadata"]["name"]
        run_kubectl(
            kubectl, kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}"
        )
        # Established comes before the resource's storage is ready to serve lists (429
        # "storage is (re)initializing"); wait for that too, so clients start on a ready API.
        deadline = time.monotonic() + 60
        while run_kubectl(kubectl, kubeconfig, "get", name, "-A", "-o", "name", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{name} is established but cannot be listed")
            time.sleep(0.1)
