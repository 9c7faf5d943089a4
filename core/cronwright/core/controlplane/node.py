"""A real single-node Kubernetes on this machine, in namespaces of its own, for the tests.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, containerd and
kubelet run inside a private network namespace with no route out (``lo`` and a port-less
bridge holding the node IP; pods on a second bridge), a private mount namespace and a
private pid namespace. PID 1 of those is ``node_init``, started as

    unshare --net --mount --pid --fork --mount-proc --kill-child=SIGKILL python -m ...node_init

under ``PR_SET_PDEATHSIG``; each component joins its namespaces with ``nsenter --target``.
When this process dies, however it dies, the kernel kills ``unshare``, ``unshare`` kills
PID 1, and the kernel kills every process in the pid namespace; the network and mount
namespaces go with their last process. What is left on the machine (a run directory and
kubelet's cgroups) is removed by :meth:`Node.stop`, or by the next node after an
interrupted run (node_host.py). Images are imported, never pulled: every registry maps to a
closed port on 127.0.0.1. docs/real-cluster.md has the whole story.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from cronwright.core.controlplane import debian, node_boot, node_host
from cronwright.core.controlplane import node_config as config
from cronwright.core.controlplane.binaries import (
    Binaries,
    NodeBinaries,
    ensure_binaries,
    ensure_helm,
    ensure_node_binaries,
)
from cronwright.core.controlplane.images import Image
from cronwright.core.controlplane.netns import Netns, Relay
from cronwright.core.controlplane.node_boot import NodeError
from cronwright.core.processes import log_tail

__all__ = ["Node", "NodeError", "preflight"]

NODE_PACKAGES = ("runc", "containernetworking-plugins", "iptables")
HOST_TOOLS = ("nsenter", "unshare", "ip", "mount")
_CAP_NET_ADMIN, _CAP_SYS_ADMIN = 12, 21


def preflight() -> list[str]:
    """What this machine lacks for a real node (empty: nothing)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("root (the node needs network, pid and mount namespaces and cgroups)")
    with open("/proc/self/status") as status:
        effective = next(int(line.split()[1], 16) for line in status if line.startswith("CapEff:"))
    for bit, name in ((_CAP_NET_ADMIN, "CAP_NET_ADMIN"), (_CAP_SYS_ADMIN, "CAP_SYS_ADMIN")):
        if not effective & (1 << bit):
            problems.append(f"the capability {name}")
    problems += [f"the command {tool}" for tool in HOST_TOOLS if not shutil.which(tool)]
    missing = debian.missing_packages(NODE_PACKAGES)
    if missing:
        problems.append(f"the Debian packages {', '.join(missing)} (`make node` installs them)")
    return problems


class Node:
    """One real node; :meth:`start` brings it up to Ready, :meth:`stop` takes it all away.

    `apiserver_flags` are appended to kube-apiserver's command line (a flag given twice
    takes its last value); `images` are imported into containerd at start (more with
    :meth:`import_images`); `audit_policy` (an audit.k8s.io/v1 Policy as YAML) turns on the
    API server's audit log from its first request, at :attr:`audit_log`. `timings` holds
    how long each step took, "up" and "down".
    """

    def __init__(
        self,
        *,
        apiserver_flags: Sequence[str] = config.DEFAULT_APISERVER_FLAGS,
        images: Sequence[Image] = (),
        audit_policy: str | None = None,
        timeout: float = 240.0,
    ) -> None:
        self.apiserver_flags = tuple(apiserver_flags)
        self.audit_policy = audit_policy
        self.images = tuple(images)
        self.timeout = timeout
        self.node_name, self.node_ip = config.NODE_NAME, config.NODE_IP
        self.server = config.apiserver_url()
        self.timings: dict[str, float] = {}
        self.instance: node_host.Instance | None = None
        self.netns: Netns | None = None
        self._unshare: subprocess.Popen[bytes] | None = None
        self._pid1 = 0
        self._components: dict[str, subprocess.Popen[bytes]] = {}
        self._relays: list[Relay] = []
        self._namespaces: dict[str, int] = {}
        self._links_before: set[str] = set()
        self._host_kubeconfig: Path | None = None
        self._tls: ssl.SSLContext | None = None

    # -- the handle tests use ----------------------------------------------------------

    @property
    def layout(self) -> config.Layout:
        assert self.instance is not None, "the node is not started"
        return config.Layout(self.instance.root)

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (system:masters), for commands run inside the namespace."""
        return self.layout.kubeconfig("admin")

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (JSON lines, one event each), kept while the node
        runs; only a node started with an `audit_policy` has one."""
        assert self.audit_policy is not None, "the node was started without an audit_policy"
        return self.layout.audit_log

    @property
    def namespaces(self) -> dict[str, int]:
        """The inode of the node's network and pid namespace ({"net": ..., "pid": ...})."""
        return dict(self._namespaces)

    def env(self) -> dict[str, str]:
        """The environment of commands run inside the namespace (no proxy variables)."""
        home = self.layout.root / "home"
        home.mkdir(exist_ok=True)
        return {
            **node_boot.component_env(self.layout, self.node_binaries.containerd.parent),
            "HOME": str(home),
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(home / "helm-cache"),
            "HELM_CONFIG_HOME": str(home / "helm-config"),
            "HELM_DATA_HOME": str(home / "helm-data"),
        }

    def run(
        self, argv: Sequence[str], *, input: str | None = None, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """argv inside the node's network namespace (`nsenter --net`), admin KUBECONFIG set."""
        assert self.netns is not None, "the node is not started"
        result = self.netns.run(argv, input=input, env=self.env(), timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise NodeError(f"`{' '.join(argv)}` exited with {result.returncode}:\n{result.stderr.strip()}")
        return result

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.binaries.kubectl), *args], input=input, check=check, timeout=timeout)

    def kubectl_json(self, *args: str) -> Any:
        """`kubectl ... -o json`, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.run([str(ensure_helm()), *args], check=check, timeout=timeout)

    def forward(self, host: str, port: int) -> Relay:
        """127.0.0.1:<relay.port> on this machine, forwarded to host:port inside the
        namespace; stopped with the node (or by `relay.stop()`)."""
        assert self.netns is not None, "the node is not started"
        relay = Relay(self.netns, host, port)
        self._relays.append(relay)
        return relay

    @property
    def host_kubeconfig(self) -> Path:
        """An admin kubeconfig usable outside the namespace: the API server through a relay
        on 127.0.0.1 (its certificate names 127.0.0.1), for Python clients and tools that
        cannot be started inside the namespace."""
        if self._host_kubeconfig is None:
            relay = self.forward(self.node_ip, config.APISERVER_PORT)
            document = yaml.safe_load(self.kubeconfig.read_text())
            document["clusters"][0]["cluster"]["server"] = f"https://{relay.address}"
            self._host_kubeconfig = self.layout.pki / "admin-host.kubeconfig"
            self._host_kubeconfig.write_text(yaml.safe_dump(document))
            self._host_kubeconfig.chmod(0o600)
        return self._host_kubeconfig

    def api(self, path: str) -> httpx.Response:
        """GET `path` from the API server as admin, from inside the namespace."""
        assert self.netns is not None, "the node is not started"
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=str(self.layout.pki / "ca.crt"))
            self._tls.load_cert_chain(self.layout.pki / "admin.crt", self.layout.pki / "admin.key")
        tls = self._tls
        return self.netns.call(lambda: httpx.get(f"{self.server}{path}", verify=tls, timeout=5))

    def import_images(self, *images: Image) -> None:
        """`ctr images import` of each docker-archive into the namespace kubelet uses."""
        for image in images:
            started = time.monotonic()
            command = [str(self.node_binaries.ctr), "-a", str(self.layout.containerd_socket), "-n", "k8s.io"]
            command += ["images", "import", "--snapshotter", "overlayfs", str(image.archive)]
            result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
            if result.returncode != 0:
                raise NodeError(
                    f"importing {image.ref} from {image.archive} failed:\n{result.stderr.strip()}"
                )
            self.timings[f"import {image.ref}"] = time.monotonic() - started

    # -- bring-up ------------------------------------------------------------------------

    @functools.cached_property
    def binaries(self) -> Binaries:
        """Built (or found cached) on first use, after preflight: a node that cannot run
        here fails at once instead of after minutes of `go build`."""
        return ensure_binaries()

    @functools.cached_property
    def node_binaries(self) -> NodeBinaries:
        return ensure_node_binaries()

    def start(self) -> Node:
        started = time.monotonic()
        problems = preflight()
        if problems:
            raise NodeError(
                "the real cluster cannot run here; this machine lacks:\n  " + "\n  ".join(problems)
            )
        for stale in node_host.clean_stale():
            print(f"[cronwright] removed what an interrupted node left: {stale}", file=sys.stderr, flush=True)
        self._links_before = node_host.host_links()
        self._tls, self._host_kubeconfig = None, None  # of an earlier start's PKI
        self.instance = node_host.register()
        try:
            self._bring_up(time.monotonic() + self.timeout)
        except BaseException:
            self.stop()
            raise
        self.timings["up"] = time.monotonic() - started
        return self

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _step(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.timings[name] = now - since
        return now

    def _bring_up(self, deadline: float) -> None:
        """etcd and containerd together, the API server, the images while it starts, then
        the controllers and the node; Ready and the default ServiceAccount (made by the
        controller manager) are when tests can start."""
        assert self.instance is not None
        layout, bins, t = self.layout, self.node_binaries, time.monotonic()
        node_boot.write_files(layout, self.instance.id)
        audit: list[str] = []
        if self.audit_policy is not None:
            layout.audit_policy.write_text(self.audit_policy)
            audit = config.audit_flags(layout)
        node_host.prepare_cgroups(self.instance.id)
        t = self._step("files", t)
        self._unshare, self._pid1 = node_boot.start_init(layout, self._env(), deadline)
        self.netns = Netns(f"/proc/{self._pid1}/ns/net")
        self._namespaces = {"net": self.netns.inode, "pid": os.stat(f"/proc/{self._pid1}/ns/pid").st_ino}
        node_boot.configure_network(self.netns, self._env())
        t = self._step("namespaces", t)
        self._spawn("etcd", config.etcd_flags(self.binaries.etcd, layout))
        self._spawn("containerd", [str(bins.containerd), f"--config={layout.containerd / 'config.toml'}"])
        self._wait("etcd", self._etcd_healthy, deadline)
        self._spawn(
            "kube-apiserver",
            config.apiserver_flags(self.binaries.kube_apiserver, layout, [*audit, *self.apiserver_flags]),
        )
        t = self._step("etcd", t)
        self._wait("containerd", self._containerd_serving, deadline)
        self.import_images(*self.images)
        t = self._step("containerd and images", t)
        self._wait("kube-apiserver", lambda: self.api("/readyz").status_code == 200, deadline)
        t = self._step("kube-apiserver", t)
        self._spawn(
            "kube-controller-manager", config.controller_manager_flags(bins.kube_controller_manager, layout)
        )
        self._spawn("kube-scheduler", config.scheduler_flags(bins.kube_scheduler, layout))
        self._spawn("kubelet", config.kubelet_flags(bins.kubelet, layout))
        self._spawn("kube-proxy", [str(bins.kube_proxy), f"--config={layout.root / 'kube-proxy.yaml'}"])
        self._wait("node Ready", self._node_ready, deadline)
        t = self._step("node Ready", t)
        default_account = "/api/v1/namespaces/default/serviceaccounts/default"
        self._wait("default ServiceAccount", lambda: self.api(default_account).status_code == 200, deadline)
        self._step("default ServiceAccount", t)

    def _env(self) -> dict[str, str]:
        return node_boot.component_env(self.layout, self.node_binaries.containerd.parent)

    def _spawn(self, name: str, argv: list[str]) -> None:
        self._components[name] = node_boot.spawn(self._pid1, argv, self.layout.log(name), self._env())

    def _wait(self, what: str, probe: Callable[[], bool], deadline: float) -> None:
        """Until probe() is true; fails at once when a component exits, with its log."""
        while True:
            for name, process in self._components.items():
                if process.poll() is not None:
                    tail = log_tail(self.layout.log(name))
                    raise NodeError(
                        f"{name} exited with {process.returncode} while waiting for {what}:\n{tail}"
                    )
            with contextlib.suppress(httpx.HTTPError, OSError):
                if probe():
                    return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}\n{log_tail(self.layout.log(n), 15)}" for n in self._components)
                raise NodeError(f"{what}: not within {self.timeout:.0f}s of the start\n{logs}")
            time.sleep(0.1)

    def _etcd_healthy(self) -> bool:
        assert self.netns is not None
        return self.netns.call(httpx.get, "http://127.0.0.1:2379/health", timeout=2).status_code == 200

    def _containerd_serving(self) -> bool:
        version = [str(self.node_binaries.ctr), "-a", str(self.layout.containerd_socket), "version"]
        return subprocess.run(version, capture_output=True, check=False).returncode == 0

    def _node_ready(self) -> bool:
        response = self.api(f"/api/v1/nodes/{self.node_name}")
        if response.status_code != 200:
            return False
        conditions = response.json().get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    # -- teardown ------------------------------------------------------------------------

    def stop(self) -> None:
        """Kill the pid namespace (every process of the node at once) and wait until none is
        left, then remove the cgroups and the run directory. Safe to call twice, and after
        a failed start."""
        started = time.monotonic()
        for relay in self._relays:
            relay.stop()
        self._relays.clear()
        if self._unshare is not None and self._unshare.poll() is None:
            self._unshare.kill()  # unshare ignores SIGTERM; SIGKILL + --kill-child takes PID 1 down
        for process in [*self._components.values(), *([self._unshare] if self._unshare else [])]:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._components.clear()
        self._unshare = None
        if self.netns is not None:
            self.netns.close()
        deadline = time.monotonic() + 15
        while self._namespaces and node_host.processes_in(self._namespaces) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.instance is not None:
            left = node_host.remove_cgroups(self.instance.id, kill=True)
            if left:
                print(f"[cronwright] cgroups not removed: {left}", file=sys.stderr, flush=True)
            node_host.release(self.instance)
        self.timings["down"] = time.monotonic() - started

    def leftovers(self) -> list[str]:
        """What this stopped node left on the machine: processes, cgroups, mounts, links."""
        assert self.instance is not None, "the node was never started"
        return node_host.leftovers(self.instance.id, self.instance.root, self._namespaces, self._links_before)
