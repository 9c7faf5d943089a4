"""The validating admission webhook: what the CRD schema and CEL cannot check, at apply time.

The schema already refuses wrong types, enums and ranges. What is left needs code: cron
syntax, time zone names, dates that exist. Those are judged by ``planning.spec_problems``,
which the operator's own ``parse_spec`` is built on, so the webhook and the operator
cannot disagree; the webhook names every bad field in one refusal. References to Secrets
that do not exist (yet) are only warnings: GitOps tools often apply a CronJobSpec before
the Secret it reads at run time.

Failure policy (``--webhook-failure-policy``) defaults to Ignore: the webhook is early
feedback, not the last line of defence — the operator refuses an invalid spec anyway
(Warning Event, condition Valid=False) and never runs it. With Fail, an operator that is
down or rolling would block every CronJobSpec write, GitOps syncs included.

kopf serves the requests; the ValidatingWebhookConfiguration is applied here rather than
by kopf's ``admission.managed``, which also creates and patches a MutatingWebhookConfiguration
(and stops the operator when RBAC does not allow that) and empties the configuration
whenever one process stops — wrong when several replicas serve behind one Service.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf

from cronwright.core import models
from cronwright.core.kube import ApiError, Kube, NotFound, refs
from cronwright.core.models import CronJobSpecSpec, SecretKeyRef
from cronwright.operator.planning import Problem, spec_problems
from cronwright.operator.webhook_tls import FIELD_MANAGER, self_signed, shared_certificate

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


def judge(
    spec: dict[str, Any] | None, old_spec: dict[str, Any] | None
) -> list[Problem] | CronJobSpecSpec | None:
    """Every problem with ``spec``, or the parsed spec; None when there is nothing to judge.

    All problems, not the first: a user fixing a manifest learns of each bad field in one
    refusal instead of one per `kubectl apply`. An update that leaves the spec as it was is
    let through unjudged: a spec stored before the webhook existed (or before a rule
    tightened) must never block a label change or the deletion of a finalizer."""
    if spec is None or (old_spec is not None and old_spec == spec):
        return None
    parsed, problems = spec_problems(spec)
    return problems or parsed


def refusal(problems: list[Problem]) -> str:
    """One message naming every bad field, as kubectl prints it after "denied the request: "."""
    return "; ".join(str(problem) for problem in problems)


def secret_references(spec: CronJobSpecSpec) -> list[tuple[str, SecretKeyRef]]:
    """Every Secret key the spec reads at run time, with the field that names it."""
    if spec.http is None:
        return []
    references = [
        (f"spec.http.headersFrom[{i}].secretKeyRef", header.secret_key_ref)
        for i, header in enumerate(spec.http.headers_from or [])
    ]
    if spec.http.signing is not None:
        references.append(("spec.http.signing.secretKeyRef", spec.http.signing.secret_key_ref))
    return references


async def missing_secret_warnings(
    kube: Kube, namespace: str, references: list[tuple[str, SecretKeyRef]]
) -> list[str]:
    """One warning per reference to a Secret or key that is not there now."""
    warnings: list[str] = []
    secrets: dict[str, dict[str, Any] | None] = {}
    for field, ref in references:
        if ref.name not in secrets:
            try:
                secret = await kube.get(refs.secret(namespace, ref.name))
                secrets[ref.name] = secret.get("data") or {}
            except NotFound:
                secrets[ref.name] = None
            except ApiError as error:
                # Warnings are a courtesy: API trouble must not turn into a refusal, and no
                # permission or API trouble means no guesswork either.
                log.warning("cannot read Secret %s/%s for a warning: %s", namespace, ref.name, error)
                return warnings
        data = secrets[ref.name]
        if data is None:
            warnings.append(f'{field}: Secret "{ref.name}" not found in namespace "{namespace}"')
        elif ref.key not in data:
            warnings.append(f'{field}: Secret "{ref.name}" has no key "{ref.key}"')
    return warnings


WEBHOOK_ID = "validate.cronwright.io"
"""The kopf handler id, the URL path, and the webhook's name (a name needs two dots)."""


def register(registry: kopf.OperatorRegistry, kube: Kube, options: WebhookOptions) -> None:
    @kopf.on.validate(
        models.GROUP,
        models.VERSION,
        models.PLURAL,
        id=WEBHOOK_ID,
        operations=["CREATE", "UPDATE"],
        registry=registry,
    )
    async def validate(
        body: kopf.Body, old: kopf.Body | None, warnings: list[str], namespace: str | None, **_: Any
    ) -> None:
        verdict = judge(body.get("spec"), old.get("spec") if old is not None else None)
        if isinstance(verdict, list):
            raise kopf.AdmissionError(refusal(verdict), code=422)
        if verdict is not None and namespace:
            warnings.extend(await missing_secret_warnings(kube, namespace, secret_references(verdict)))


def webhook_configuration(name: str, client_config: dict[str, Any], failure_policy: str) -> dict[str, Any]:
    """The whole ValidatingWebhookConfiguration, as one server-side apply."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
        "webhooks": [
            {
                "name": WEBHOOK_ID,
                "clientConfig": client_config,
                "rules": [
                    {
                        "apiGroups": [models.GROUP],
                        "apiVersions": [models.VERSION],
                        "resources": [models.PLURAL],
                        "operations": ["CREATE", "UPDATE"],
                        "scope": "*",
                    }
                ],
                "failurePolicy": failure_policy,
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                # Reads of a few Secrets at most: an answer takes milliseconds, and a
                # hanging webhook must not hold kubectl for the API server's maximum of 30s.
                "timeoutSeconds": 10,
                "admissionReviewVersions": ["v1"],
            }
        ],
    }


def client_config(served: dict[str, Any], options: WebhookOptions) -> dict[str, Any]:
    """Where the API server calls: the Service in a cluster, else the URL kopf serves."""
    config: dict[str, Any] = {"caBundle": served["caBundle"]}
    if options.service is None:
        config["url"] = f"{served['url'].rstrip('/')}/{WEBHOOK_ID}"
    else:
        namespace, name = options.service
        config["service"] = {
            "namespace": namespace,
            "name": name,
            "port": options.service_port,
            "path": f"/{WEBHOOK_ID}",
        }
    return config


async def apply_configuration(kube: Kube, configuration: dict[str, Any]) -> None:
    name = configuration["metadata"]["name"]
    await kube.request(
        "PATCH",
        refs.validating_webhook_configuration(name),
        body=configuration,
        params={"fieldManager": FIELD_MANAGER, "force": "true"},
        content_type="application/apply-patch+yaml",
    )


class ConfiguringWebhookServer(kopf.WebhookServer):
    """kopf's server, which also applies the configuration each time it (re)starts with a
    certificate: at start, and when mounted certificate files are renewed."""

    def __init__(self, kube: Kube, options: WebhookOptions, **kwargs: Any) -> None:
        super().__init__(addr=options.host, port=options.port, **kwargs)
        self.kube = kube
        self.options = options

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        async for served in super().__call__(fn):
            config = client_config(dict(served), self.options)
            if self.options.configuration:
                try:
                    await apply_configuration(
                        self.kube,
                        webhook_configuration(
                            self.options.configuration, config, self.options.failure_policy
                        ),
                    )
                    log.info("webhook configuration %s applied", self.options.configuration)
                except ApiError as error:
                    # Keep serving: an administrator may have created the configuration.
                    log.error("cannot apply webhook configuration %s: %s", self.options.configuration, error)
            yield config


async def server(kube: Kube, options: WebhookOptions, workdir: Path) -> ConfiguringWebhookServer:
    """The webhook server with its certificate: mounted files (``--webhook-cert-dir``), else
    one shared by the replicas behind ``--webhook-service``, else made for this process."""
    cert_dir = options.cert_dir
    if cert_dir is not None and (cert_dir / "tls.crt").exists() and (cert_dir / "tls.key").exists():
        ca = cert_dir / "ca.crt"
        return ConfiguringWebhookServer(
            kube,
            options,
            certfile=cert_dir / "tls.crt",
            pkeyfile=cert_dir / "tls.key",
            cafile=ca if ca.exists() else None,
        )
    host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host
    if options.service is not None:
        made = await shared_certificate(kube, options.service, host)
    else:
        made = self_signed(host, None)
    for key, value in made.items():
        (workdir / key).write_bytes(value)
    (workdir / "tls.key").chmod(0o600)
    return ConfiguringWebhookServer(
        kube, options, certfile=workdir / "tls.crt", pkeyfile=workdir / "tls.key", cadata=made["ca.crt"]
    )
