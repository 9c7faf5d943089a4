"""What the real node's components are told: addresses, file layout, flags and config files.

Pure functions of a :class:`Layout` (the run directory) and a few names, so each setting
is visible in one place with the reason it exists (docs/real-cluster.md has the longer
story). node.py writes these files and starts the processes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_NAME = "cronwright-node"
# The node's address lives on a port-less bridge (this kernel has no `dummy` link type).
NODE_IP = "10.200.0.1"
NODE_PREFIX = 24
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/24"
APISERVER_PORT = 443
# Every registry resolves to this closed port: a pull fails at once, locally.
CLOSED_REGISTRY = "http://127.0.0.1:1"
REGISTRY_HOSTS = ("_default", "docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "gcr.io", "localhost")
SANDBOX_IMAGE = "localhost/pause:local"
CNI_BIN_DIR = "/usr/lib/cni"
# Host paths kubelet, containerd and iptables write to whatever their config says
# (device-plugin sockets, /var/log/containers, shim sockets, xtables.lock): in the node's
# mount namespace each is an overlay whose upper layer is in the run directory.
OVERLAID_HOST_DIRS = ("/run", "/var/lib", "/var/log")

# Projected service-account tokens must rotate within a test: never extend them to a
# year, and cap them at the lowest maximum the API server accepts (1h).
DEFAULT_APISERVER_FLAGS = (
    "--service-account-max-token-expiration=1h",
    "--service-account-extend-token-expiration=false",
)


@dataclass(frozen=True)
class Layout:
    """Where everything of one node lives, under its run directory."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def etcd(self) -> Path:
        return self.root / "etcd"

    @property
    def containerd(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd / "containerd.sock"

    @property
    def registry_hosts(self) -> Path:
        return self.containerd / "certs.d"

    @property
    def cni_conf(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def kubelet(self) -> Path:
        return self.root / "kubelet"

    @property
    def overlays(self) -> Path:
        return self.root / "overlay"

    @property
    def audit_policy(self) -> Path:
        return self.root / "audit-policy.yaml"

    @property
    def audit_log(self) -> Path:
        return self.logs / "kube-apiserver-audit.log"

    def kubeconfig(self, user: str) -> Path:
        return self.pki / f"{user}.kubeconfig"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


def apiserver_url(host: str = NODE_IP) -> str:
    return f"https://{host}:{APISERVER_PORT}"


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "node", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "node", "context": {"cluster": "node", "user": user, "namespace": "default"}}],
        "current-context": "node",
    }


def etcd_flags(etcd: Path, layout: Layout) -> list[str]:
    return [
        str(etcd),
        "--name=node",
        f"--data-dir={layout.etcd}",
        "--listen-client-urls=http://127.0.0.1:2379",
        "--advertise-client-urls=http://127.0.0.1:2379",
        "--listen-peer-urls=http://127.0.0.1:2380",
        "--initial-advertise-peer-urls=http://127.0.0.1:2380",
        "--initial-cluster=node=http://127.0.0.1:2380",
        "--unsafe-no-fsync=true",  # throwaway data: durability buys nothing here
        "--log-level=warn",
    ]


def apiserver_flags(
    apiserver: Path, layout: Layout, extra: Sequence[str] = DEFAULT_APISERVER_FLAGS
) -> list[str]:
    """`extra` comes last: a flag given twice takes its last value, so callers override."""
    pki = layout.pki
    return [
        str(apiserver),
        "--etcd-servers=http://127.0.0.1:2379",
        "--bind-address=0.0.0.0",
        f"--secure-port={APISERVER_PORT}",
        f"--advertise-address={NODE_IP}",
        f"--cert-dir={pki}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        # the node's name does not resolve (no DNS in the namespace): logs, exec and
        # port-forward reach the kubelet by its InternalIP
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--profiling=false",
        *extra,
    ]


def audit_flags(layout: Layout) -> list[str]:
    """The API server's audit log, as JSON lines, by the policy at `layout.audit_policy`
    (written only when a caller asks for one); one file, never rotated."""
    return [f"--audit-policy-file={layout.audit_policy}", f"--audit-log-path={layout.audit_log}"]


def controller_manager_flags(binary: Path, layout: Layout) -> list[str]:
    pki, config = layout.pki, layout.kubeconfig("kube-controller-manager")
    return [
        str(binary),
        f"--kubeconfig={config}",
        f"--authentication-kubeconfig={config}",
        f"--authorization-kubeconfig={config}",
        "--bind-address=127.0.0.1",
        "--secure-port=10257",
        "--leader-elect=false",  # one instance; skips the lease wait at start
        # each controller acts as its own service account, as in a real cluster (GC, Jobs)
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        "--controllers=*",
        "--profiling=false",
    ]


def scheduler_flags(binary: Path, layout: Layout) -> list[str]:
    config = layout.kubeconfig("kube-scheduler")
    return [
        str(binary),
        f"--kubeconfig={config}",
        f"--authentication-kubeconfig={config}",
        f"--authorization-kubeconfig={config}",
        "--bind-address=127.0.0.1",
        "--secure-port=10259",
        "--leader-elect=false",
        "--profiling=false",
    ]


def kubelet_flags(binary: Path, layout: Layout) -> list[str]:
    return [
        str(binary),
        f"--config={layout.kubelet / 'config.yaml'}",
        f"--kubeconfig={layout.kubeconfig('kubelet')}",
        f"--root-dir={layout.kubelet}",
        f"--cert-dir={layout.kubelet / 'pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
    ]


def kubelet_config(layout: Layout, cgroup_root: str) -> dict[str, Any]:
    endpoint = f"unix://{layout.containerd_socket}"
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "containerRuntimeEndpoint": endpoint,
        "imageServiceEndpoint": endpoint,
        "cgroupDriver": "cgroupfs",
        # every pod cgroup under /sys/fs/cgroup/<controller>/<cgroup_root>: one tree to remove
        "cgroupRoot": f"/{cgroup_root}",
        "failCgroupV1": False,  # this machine is cgroup v1 (hybrid); 1.35 refuses v1 by default
        "failSwapOn": False,
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": "cluster.local",
        # no DNS at all: pods get no copy of this machine's resolver configuration
        "resolvConf": "",
        "podLogsDir": str(layout.root / "pod-logs"),
        "volumePluginDir": str(layout.kubelet / "volume-plugins"),
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        # images are imported, never pulled: never garbage-collect them
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "registerNode": True,
        "nodeStatusUpdateFrequency": "4s",
        # how often projected volumes (service-account tokens) are refreshed into pods
        "syncFrequency": "10s",
    }


def kube_proxy_config(layout: Layout) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": POD_CIDR,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": ["primary"],  # NodePorts on the node IP only
        # conntrack sysctls are not writable from a non-initial network namespace
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def cni_conflist(layout: Layout) -> str:
    """One bridge (cni0) for the pods; no masquerade: there is nowhere to masquerade to."""
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "node",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(layout.root / "cni" / "ipam"),
                    },
                }
            ],
        },
        indent=2,
    )


def registry_hosts_toml() -> str:
    """containerd's hosts.toml for every registry: the closed local port, nothing else."""
    return (
        f'server = "{CLOSED_REGISTRY}"\n\n[host."{CLOSED_REGISTRY}"]\n  capabilities = ["pull", "resolve"]\n'
    )


def containerd_config(layout: Layout, runc: Path) -> str:
    """containerd 2.x (config version 4, as `containerd config default` writes): only what
    differs from the defaults."""
    c = layout.containerd
    return f"""\
version = 4
root = '{c / "root"}'
state = '{c / "state"}'
temp = '{layout.tmp}'
imports = []
# the opt plugin would create /opt/containerd on this machine
disabled_plugins = ['io.containerd.internal.v1.opt']

[plugins.'io.containerd.server.v1.grpc']
  address = '{layout.containerd_socket}'

[plugins.'io.containerd.server.v1.ttrpc']
  address = '{layout.containerd_socket}.ttrpc'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{SANDBOX_IMAGE}'
  [plugins.'io.containerd.cri.v1.images'.registry]
    # every registry goes to a closed local port (and the namespace has no route out)
    config_path = '{layout.registry_hosts}'

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  disable_apparmor = true
  # no CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj to -998 for the sandbox
  restrict_oom_score_adj = true
  # pod network namespaces under the state directory, not this machine's /run/netns
  netns_mounts_under_state_dir = true
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '{runc}'
        Root = '{c / "runc"}'
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['{CNI_BIN_DIR}']
    conf_dir = '{layout.cni_conf}'
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.transfer.v1.local']
  config_path = '{layout.registry_hosts}'
"""
