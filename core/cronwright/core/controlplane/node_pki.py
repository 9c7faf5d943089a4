"""Certificates and kubeconfigs of the real node: one CA, one client identity per component.

Each component authenticates as the user Kubernetes' default RBAC (and the Node
authorizer) expects of it, so the cluster's own authorization is exercised as in a real
one; only `admin` and the API server's kubelet client are in system:masters.
"""

from __future__ import annotations

import yaml

from cronwright.core.controlplane import certs
from cronwright.core.controlplane.node_config import (
    KUBERNETES_SERVICE_IP,
    NODE_IP,
    NODE_NAME,
    Layout,
    apiserver_url,
    kubeconfig,
)

# user (file stem) -> (common name, organization)
CLIENTS: dict[str, tuple[str, str | None]] = {
    "admin": ("cronwright-admin", "system:masters"),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
    "kube-controller-manager": ("system:kube-controller-manager", None),
    "kube-scheduler": ("system:kube-scheduler", None),
    "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
    "kube-proxy": ("system:kube-proxy", None),
}
# clients that get a kubeconfig (the API server's kubelet client is a flag pair instead)
KUBECONFIG_USERS = ("admin", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
APISERVER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


def write_pki(layout: Layout) -> None:
    """ca, apiserver serving pair, client pairs, the service-account key, kubeconfigs."""
    pki = layout.pki
    pki.mkdir(parents=True, exist_ok=True)
    ca = certs.CertificateAuthority("cronwright-node-ca")
    ca_cert, _ = ca.pair.write(pki, "ca")
    ca.issue(
        "kube-apiserver",
        dns_names=APISERVER_NAMES,
        ip_addresses=("127.0.0.1", NODE_IP, KUBERNETES_SERVICE_IP),
        server=True,
    ).write(pki, "apiserver")
    for user, (common_name, organization) in CLIENTS.items():
        cert, key = ca.issue(common_name, organization=organization).write(pki, user)
        if user in KUBECONFIG_USERS:
            config = kubeconfig(apiserver_url(), ca_cert, cert, key, user)
            path = layout.kubeconfig(user)
            path.write_text(yaml.safe_dump(config))
            path.chmod(0o600)
    sa_private, sa_public = certs.signing_key()
    (pki / "sa.key").write_bytes(sa_private)
    (pki / "sa.key").chmod(0o600)
    (pki / "sa.pub").write_bytes(sa_public)
