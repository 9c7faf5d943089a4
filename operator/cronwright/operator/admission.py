"""The validating admission webhook: what the CRD schema and CEL cannot check, at apply time.

The schema already refuses wrong types, enums and ranges. What is left needs code: cron
syntax, time zone names, dates that exist. Those are judged by ``planning.parse_spec``,
the very function the operator uses when it plans a resource, so the webhook and the
operator cannot disagree. References to Secrets that do not exist (yet) are only
warnings: GitOps tools often apply a CronJobSpec before the Secret it reads at run time.

Failure policy (``--webhook-failure-policy``) defaults to Ignore: the webhook is early
feedback, not the last line of defence — the operator refuses an invalid spec anyway
(Warning Event, condition Valid=False) and never runs it. With Fail, an operator that is
down or rolling would block every CronJobSpec write, GitOps syncs included.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf

from cronwright.core import models
from cronwright.core.controlplane import certs
from cronwright.core.kube import ApiError, Kube
from cronwright.core.models import CronJobSpecSpec, SecretKeyRef
from cronwright.operator.planning import Problem, parse_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookOptions:
    port: int = 0
    """0: no webhook."""
    host: str = "127.0.0.1"
    cert_dir: Path | None = None
    configuration: str | None = None
    """Name of the ValidatingWebhookConfiguration the operator keeps up to date, if any."""
    service: tuple[str, str] | None = None
    """(namespace, name) of the Service in front of the operator, when in a cluster."""
    service_port: int = 443
    failure_policy: str = "Ignore"


def judge(spec: dict[str, Any] | None, old_spec: dict[str, Any] | None) -> Problem | CronJobSpecSpec | None:
    """The problem with ``spec``, or the parsed spec; None when there is nothing to judge.

    An update that leaves the spec as it was is let through unjudged: a spec stored before
    the webhook existed (or before a rule tightened) must never block a label change or
    the deletion of a finalizer."""
    if spec is None or (old_spec is not None and old_spec == spec):
        return None
    return parse_spec(spec)


def secret_references(spec: CronJobSpecSpec) -> list[tuple[str, SecretKeyRef]]:
    """Every Secret key the spec reads at run time, with the field that names it."""
    if spec.http is None:
        return []
    refs = [
        (f"spec.http.headersFrom[{i}].secretKeyRef", header.secret_key_ref)
        for i, header in enumerate(spec.http.headers_from or [])
    ]
    if spec.http.signing is not None:
        refs.append(("spec.http.signing.secretKeyRef", spec.http.signing.secret_key_ref))
    return refs


async def missing_secret_warnings(
    kube: Kube, namespace: str, refs: list[tuple[str, SecretKeyRef]]
) -> list[str]:
    """One warning per reference to a Secret or key that is not there now."""
    warnings: list[str] = []
    secrets: dict[str, dict[str, Any] | None] = {}
    for field, ref in refs:
        if ref.name not in secrets:
            try:
                secret = await kube.get(f"/api/v1/namespaces/{namespace}/secrets/{ref.name}")
                secrets[ref.name] = secret.get("data") or {}
            except ApiError as error:
                if error.status != 404:
                    log.warning("cannot read Secret %s/%s for a warning: %s", namespace, ref.name, error)
                    return warnings  # no permission or API trouble: no guesswork either
                secrets[ref.name] = None
        data = secrets[ref.name]
        if data is None:
            warnings.append(f'{field}: Secret "{ref.name}" not found in namespace "{namespace}"')
        elif ref.key not in data:
            warnings.append(f'{field}: Secret "{ref.name}" has no key "{ref.key}"')
    return warnings


def register(registry: kopf.OperatorRegistry, kube: Kube, options: WebhookOptions) -> None:
    @kopf.on.validate(
        models.GROUP,
        models.VERSION,
        models.PLURAL,
        id="validate.cronwright.io",  # + ".<configuration>": a webhook name needs 3 dots
        operations=["CREATE", "UPDATE"],
        ignore_failures=options.failure_policy == "Ignore",
        registry=registry,
    )
    async def validate(
        body: kopf.Body, old: kopf.Body | None, warnings: list[str], namespace: str | None, **_: Any
    ) -> None:
        verdict = judge(body.get("spec"), old.get("spec") if old is not None else None)
        if isinstance(verdict, Problem):
            raise kopf.AdmissionError(str(verdict), code=422)
        if verdict is not None and namespace:
            warnings.extend(await missing_secret_warnings(kube, namespace, secret_references(verdict)))


def configure(settings: kopf.OperatorSettings, options: WebhookOptions, workdir: Path) -> None:
    """Serve the webhook; with a configuration name, keep that configuration up to date."""
    settings.admission.server = server(options, workdir)
    settings.admission.managed = options.configuration


def service_dns_names(service: tuple[str, str] | None) -> tuple[str, ...]:
    if service is None:
        return ()
    namespace, name = service
    return (name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local")


def self_signed(options: WebhookOptions, workdir: Path) -> tuple[Path, Path, bytes]:
    """A fresh CA and a serving certificate for the listen address and the Service's names.

    Made at every start: the CA bundle goes into the managed configuration, so nothing has
    to survive a restart. cryptography is already a dependency (kopf's own generator needs
    the certbuilder extra)."""
    host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host
    try:
        ip_addresses: tuple[str, ...] = (str(ipaddress.ip_address(host)),)
        dns_names: tuple[str, ...] = ()
    except ValueError:
        ip_addresses, dns_names = (), (host,)
    authority = certs.CertificateAuthority("cronwright-webhook-ca")
    serving = authority.issue(
        "cronwright-webhook",
        dns_names=dns_names + service_dns_names(options.service),
        ip_addresses=ip_addresses,
        server=True,
    )
    cert, key = serving.write(workdir, "tls")
    return cert, key, authority.pair.cert_pem


def server(options: WebhookOptions, workdir: Path) -> kopf.WebhookServer:
    cert_dir = options.cert_dir
    if cert_dir is not None and (cert_dir / "tls.crt").exists() and (cert_dir / "tls.key").exists():
        ca = cert_dir / "ca.crt"
        tls: dict[str, Any] = {
            "certfile": cert_dir / "tls.crt",
            "pkeyfile": cert_dir / "tls.key",
            "cafile": ca if ca.exists() else None,
        }
    else:
        cert, key, ca_pem = self_signed(options, workdir)
        tls = {"certfile": cert, "pkeyfile": key, "cadata": ca_pem}
    if options.service is not None:
        return ServiceWebhookServer(
            options.service, options.service_port, addr=options.host, port=options.port, **tls
        )
    return kopf.WebhookServer(addr=options.host, port=options.port, **tls)


class ServiceWebhookServer(kopf.WebhookServer):
    """In a cluster the API server reaches the webhook through a Service, not a URL."""

    def __init__(self, service: tuple[str, str], service_port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.service_port = service_port

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        namespace, name = self.service
        async for config in super().__call__(fn):
            yield {
                "caBundle": config.get("caBundle"),
                "service": {"namespace": namespace, "name": name, "port": self.service_port, "path": "/"},
            }
