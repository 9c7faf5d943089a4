"""The webhook's own certificate when none is mounted: made here, shared through a Secret.

The API server trusts the CA bundle in the webhook configuration, and every operator
replica applies that configuration; so replicas behind one Service must serve one
certificate, or each would replace the others' CA with its own.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress

from cronwright.core.controlplane import certs
from cronwright.core.kube import Conflict, Kube, NotFound, refs

FIELD_MANAGER = "cronwright-operator"
"""Who the operator's own objects (the Secret, the webhook configuration) are managed by."""


def service_dns_names(service: tuple[str, str] | None) -> tuple[str, ...]:
    if service is None:
        return ()
    namespace, name = service
    return (name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local")


def self_signed(host: str, service: tuple[str, str] | None) -> dict[str, bytes]:
    """A fresh CA and a serving certificate for ``host`` and the Service's names, as the
    keys of a kubernetes.io/tls Secret. cryptography is already a dependency (kopf's own
    generator needs the certbuilder extra)."""
    try:
        ip_addresses: tuple[str, ...] = (str(ipaddress.ip_address(host)),)
        dns_names: tuple[str, ...] = ()
    except ValueError:
        ip_addresses, dns_names = (), (host,)
    authority = certs.CertificateAuthority("cronwright-webhook-ca")
    serving = authority.issue(
        "cronwright-webhook",
        dns_names=dns_names + service_dns_names(service),
        ip_addresses=ip_addresses,
        server=True,
    )
    return {"tls.crt": serving.cert_pem, "tls.key": serving.key_pem, "ca.crt": authority.pair.cert_pem}


async def shared_certificate(kube: Kube, service: tuple[str, str], host: str) -> dict[str, bytes]:
    """The generated certificate all replicas behind the Service share.

    Each replica making its own CA would make each overwrite the configuration's CA bundle,
    and the API server would trust only the last one's. The first replica stores its
    certificate in the Secret ``<service>-tls`` next to the Service; the others use it."""
    namespace, name = service
    for _ in range(2):
        with contextlib.suppress(NotFound):
            secret = await kube.get(refs.secret(namespace, f"{name}-tls"))
            return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
        made = self_signed(host, service)
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": f"{name}-tls", "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
            "data": {key: base64.b64encode(value).decode() for key, value in made.items()},
        }
        with contextlib.suppress(Conflict):  # another replica was first: read its certificate
            await kube.create(refs.secret(namespace), body)
            return made
    raise RuntimeError(f"Secret {namespace}/{name}-tls: created and deleted again while starting")
