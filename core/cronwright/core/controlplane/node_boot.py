"""The steps that make a real node's world before its components start: the files, the
namespaces (PID 1 = node_init) and the network, and how a component joins them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from cronwright.core.controlplane import node_config as config
from cronwright.core.controlplane import node_pki
from cronwright.core.controlplane.cluster import die_with_parent
from cronwright.core.controlplane.netns import Netns
from cronwright.core.processes import log_tail

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NodeError(RuntimeError):
    pass


def component_env(layout: config.Layout, containerd_dir: Path) -> dict[str, str]:
    """A minimal environment: no proxy variables, temporary files in the run directory, and
    containerd's shim found next to containerd."""
    return {"PATH": f"{containerd_dir}:{SYSTEM_PATH}", "HOME": str(layout.root), "TMPDIR": str(layout.tmp)}


def write_files(layout: config.Layout, node_id: str) -> None:
    """PKI, kubeconfigs and every component's configuration, under the run directory."""
    for directory in (layout.logs, layout.tmp, layout.containerd, layout.cni_conf, layout.kubelet):
        directory.mkdir(parents=True, exist_ok=True)
    node_pki.write_pki(layout)
    runc = shutil.which("runc", path=SYSTEM_PATH)
    if runc is None:
        raise NodeError("runc is not installed (Debian package runc; `make node` installs it)")
    (layout.containerd / "config.toml").write_text(config.containerd_config(layout, Path(runc)))
    for host in config.REGISTRY_HOSTS:
        (layout.registry_hosts / host).mkdir(parents=True, exist_ok=True)
        (layout.registry_hosts / host / "hosts.toml").write_text(config.registry_hosts_toml())
    (layout.cni_conf / "10-node.conflist").write_text(config.cni_conflist(layout))
    (layout.kubelet / "config.yaml").write_text(yaml.safe_dump(config.kubelet_config(layout, node_id)))
    (layout.root / "kube-proxy.yaml").write_text(yaml.safe_dump(config.kube_proxy_config(layout)))


def start_init(
    layout: config.Layout, env: dict[str, str], deadline: float
) -> tuple[subprocess.Popen[bytes], int]:
    """`unshare` (our child, killed with us) and the host pid of its child, PID 1 of the
    node's new network, mount and pid namespaces, once it has laid its overlays."""
    command = ["unshare", "--net", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc"]
    # unshare makes PID 1 die with it (PR_SET_PDEATHSIG), and the kernel then kills the rest
    command += ["--kill-child=SIGKILL", sys.executable, "-m", "cronwright.core.controlplane.node_init"]
    with open(layout.log("init"), "wb") as log:
        unshare = subprocess.Popen(
            [*command, str(layout.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            env=env,
        )
    failed = layout.root / "failed"
    while not (layout.root / "ready").exists():
        if failed.exists() or unshare.poll() is not None or time.monotonic() > deadline:
            reason = failed.read_text() if failed.exists() else log_tail(layout.log("init"))
            raise NodeError(f"the node's namespaces did not come up:\n{reason}")
        time.sleep(0.02)
    children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
    return unshare, int(children[0])


def configure_network(netns: Netns, env: dict[str, str]) -> None:
    """lo, and the node IP on a port-less bridge; then prove there is no way out."""

    def ip(*args: str) -> str:
        return netns.run(["ip", *args], env=env).stdout

    ip("link", "set", "lo", "up")
    ip("link", "add", "node0", "type", "bridge")  # no `dummy` link type on this kernel
    ip("addr", "add", f"{config.NODE_IP}/{config.NODE_PREFIX}", "dev", "node0")
    # the `kubernetes` Service IP, answered by the API server itself even before kube-proxy
    ip("addr", "add", f"{config.KUBERNETES_SERVICE_IP}/32", "dev", "node0")
    ip("link", "set", "node0", "up")
    # locally made connections to a ClusterIP need a route before kube-proxy's DNAT applies
    ip("route", "add", config.SERVICE_CIDR, "dev", "node0")
    # kube-proxy's Service rules need forwarding and bridged traffic through iptables; these
    # are per namespace, the machine's own settings stay as they are
    netns.call(_write_sysctls, {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"})
    routes = ip("-4", "route", "show", "default") + ip("-6", "route", "show", "default")
    links = sorted(netns.call(_links))
    if routes.strip() or links != ["lo", "node0"]:
        raise NodeError(
            f"refusing to start: the namespace has a way out (default routes {routes!r}, links {links})"
        )


def spawn(pid1: int, argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """argv as a member of PID 1's network, mount and pid namespaces (nsenter forks it there
    and waits, so the Popen's exit status is the component's)."""
    command = ["nsenter", f"--target={pid1}", "--net", "--mount", "--pid", "--", *argv]
    with open(log, "wb") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            env=env,
        )


def _write_sysctls(values: dict[str, str]) -> None:
    """/proc/sys/net follows the calling thread's network namespace (run through Netns.call)."""
    for key, value in values.items():
        Path("/proc/sys", key).write_text(value)


def _links() -> list[str]:
    """The network links of the calling thread's namespace (run through Netns.call)."""
    with open("/proc/thread-self/net/dev") as dev:
        return [line.split(":")[0].strip() for line in dev.readlines()[2:]]
