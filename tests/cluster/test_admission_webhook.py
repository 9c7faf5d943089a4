"""The validating webhook against the real API server: `kubectl apply` of a bad spec is
refused at once with the field named, a good one is accepted, a missing Secret is a warning.

The operator serves the webhook on 127.0.0.1 with a self-signed CA it makes at start and
registers a ValidatingWebhookConfiguration with that CA bundle, as it does in a cluster.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cronwright.core.controlplane import certs
from cronwright.core.controlplane.cluster import free_port
from tests.support.cluster import Cluster
from tests.support.kubectl import cronjobspec, get, wait_for
from tests.support.operator_process import OperatorProcess

HTTP = {"url": "http://127.0.0.1:9/hook"}  # never called: every spec here is suspended
BAD_CRON = cronjobspec("bad-cron", {"cron": "61 * * * *"}, HTTP, suspend=True)


@pytest.fixture
def webhook(
    cluster: Cluster, namespace: str, start_operator: Callable[..., OperatorProcess]
) -> Iterator[str]:
    """An operator serving the webhook; the configuration's name. The configuration is
    deleted afterwards, so no other test ever meets a webhook whose server is gone."""
    name = f"cronwright-{namespace}"
    start_operator(
        extra=(
            f"--webhook-port={free_port()}",
            f"--webhook-configuration={name}",
            "--webhook-failure-policy=Fail",
        )
    )
    try:
        wait_for(lambda: _registered(cluster, name), 60, "the webhook configuration with a CA bundle")
        # The API server picks new configurations up asynchronously: wait until it calls us.
        wait_for(lambda: _refused(cluster, namespace, BAD_CRON, dry_run=True), 60, "the webhook to be called")
        yield name
    finally:
        cluster.kubectl_run("delete", "validatingwebhookconfiguration", name, "--ignore-not-found")


def _registered(cluster: Cluster, name: str) -> dict[str, object] | None:
    found = cluster.kubectl_run("get", "validatingwebhookconfiguration", name, "-o", "json", check=False)
    if found.returncode != 0:
        return None
    hooks = json.loads(found.stdout).get("webhooks") or []
    return hooks[0] if hooks and hooks[0]["clientConfig"].get("caBundle") else None


def _apply(
    cluster: Cluster, namespace: str, manifest: dict[str, object], dry_run: bool = False
) -> tuple[int, str, str]:
    args = ["apply", "-n", namespace, "-f", "-"] + (["--dry-run=server"] if dry_run else [])
    done = cluster.kubectl_run(*args, input=json.dumps(manifest), check=False)
    return done.returncode, done.stdout, done.stderr


def _refused(cluster: Cluster, namespace: str, manifest: dict[str, object], dry_run: bool = False) -> str:
    code, _, stderr = _apply(cluster, namespace, manifest, dry_run)
    return stderr if code != 0 and "denied the request" in stderr else ""


def test_the_configuration_points_at_the_operator_with_its_own_ca(cluster: Cluster, webhook: str) -> None:
    hook = _registered(cluster, webhook)
    assert hook is not None
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    url = str(hook["clientConfig"]["url"])  # type: ignore[index]
    assert url.startswith("https://127.0.0.1:") and url.endswith("/validate.cronwright.io")
    ca = base64.b64decode(hook["clientConfig"]["caBundle"])  # type: ignore[index]
    assert ca.startswith(b"-----BEGIN CERTIFICATE-----")
    assert hook["timeoutSeconds"] == 10
    # Only what the operator needs: no mutating configuration next to it.
    mutating = cluster.kubectl_run("get", "mutatingwebhookconfiguration", webhook, check=False)
    assert mutating.returncode != 0 and "NotFound" in mutating.stderr
    assert hook["rules"] == [  # only CronJobSpecs, only writes: reads never wait for the webhook
        {
            "apiGroups": ["cronwright.io"],
            "apiVersions": ["v1alpha1"],
            "resources": ["cronjobspecs"],
            "operations": ["CREATE", "UPDATE"],
            "scope": "*",
        }
    ]


def test_a_bad_cron_string_is_refused_at_once_naming_the_field(
    cluster: Cluster, namespace: str, webhook: str
) -> None:
    message = _refused(cluster, namespace, BAD_CRON)
    assert "spec.schedule.cron: '61 * * * *': minute value '61' is not in 0-59" in message
    assert cluster.kubectl_run("get", "cronjobspec", "bad-cron", "-n", namespace, check=False).returncode != 0


def test_an_unknown_time_zone_is_refused_naming_the_field(
    cluster: Cluster, namespace: str, webhook: str
) -> None:
    manifest = cronjobspec("bad-zone", {"cron": "0 9 * * *", "timeZone": "Mars/Olympus"}, HTTP, suspend=True)
    assert "spec.schedule.timeZone: unknown IANA time zone 'Mars/Olympus'" in _refused(
        cluster, namespace, manifest
    )


def test_one_refusal_names_every_bad_field(cluster: Cluster, namespace: str, webhook: str) -> None:
    manifest = cronjobspec("typos", {"cron": "61 * * * *", "timeZone": "Mars/Olympus"}, HTTP, suspend=True)
    message = _refused(cluster, namespace, manifest)
    assert (
        "denied the request: spec.schedule.timeZone: unknown IANA time zone 'Mars/Olympus'; "
        "spec.schedule.cron: '61 * * * *': minute value '61' is not in 0-59"
    ) in message


def test_an_update_that_breaks_the_schedule_is_refused(
    cluster: Cluster, namespace: str, webhook: str
) -> None:
    good = cronjobspec("edited", {"cron": "0 9 * * *"}, HTTP, suspend=True)
    assert _apply(cluster, namespace, good)[0] == 0
    broken = cronjobspec("edited", {"cron": "0 9 * * 8"}, HTTP, suspend=True)
    assert "spec.schedule.cron" in _refused(cluster, namespace, broken)
    assert get(cluster, namespace, "edited")["spec"]["schedule"]["cron"] == "0 9 * * *"


def _warnings(stderr: str) -> list[str]:
    """The admission warnings kubectl prints, one "Warning: <text>" line each."""
    return [line.removeprefix("Warning: ") for line in stderr.splitlines() if line.startswith("Warning: ")]


def test_a_good_spec_is_accepted_without_warnings(cluster: Cluster, namespace: str, webhook: str) -> None:
    code, stdout, stderr = _apply(
        cluster, namespace, cronjobspec("good", {"cron": "*/5 * * * *", "timeZone": "Europe/Berlin"}, HTTP)
    )
    assert code == 0, stderr
    assert "cronjobspec.cronwright.io/good created" in stdout
    assert _warnings(stderr) == []


def test_a_missing_secret_is_accepted_with_a_warning_kubectl_prints(
    cluster: Cluster, namespace: str, webhook: str
) -> None:
    http = {
        **HTTP,
        "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "hook-token", "key": "token"}}],
        "signing": {"secretKeyRef": {"name": "signing", "key": "key"}},
    }
    cluster.kubectl_run(
        "create", "secret", "generic", "signing", "-n", namespace, "--from-literal=other=do-not-print-me"
    )
    code, stdout, stderr = _apply(
        cluster, namespace, cronjobspec("secretive", {"every": "1h"}, http, suspend=True)
    )
    assert code == 0, stderr
    assert "created" in stdout
    missing = f'Secret "hook-token" not found in namespace "{namespace}"'
    assert _warnings(stderr) == [
        f"spec.http.headersFrom[0].secretKeyRef: {missing}",
        'spec.http.signing.secretKeyRef: Secret "signing" has no key "key"',
    ]
    assert "do-not-print-me" not in stderr + stdout


def _handshake(port: int, ca_pem: bytes, server_name: str) -> None:
    """TLS to a webhook listener as the API server does it: the CA bundle, the DNS name."""
    context = ssl.create_default_context(cadata=ca_pem.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name),
    ):
        pass


def test_replicas_behind_one_service_share_one_generated_certificate(
    cluster: Cluster, namespace: str, start_operator: Callable[..., OperatorProcess]
) -> None:
    """Each replica applies the configuration with its CA bundle: were each to make its own
    CA, the API server would trust only the last one. The first stores it in a Secret."""
    ports = [free_port(), free_port()]
    for instance, port in zip(("op-1", "op-2"), ports, strict=True):
        start_operator(
            instance=instance,
            extra=(f"--webhook-port={port}", f"--webhook-service={namespace}/cronwright-webhook"),
        )
    secret = wait_for(
        lambda: (
            cluster.kubectl_run(
                "get", "secret", "cronwright-webhook-tls", "-n", namespace, "-o", "json", check=False
            ).stdout
        ),
        30,
        "the shared certificate Secret",
    )
    data = json.loads(secret)["data"]
    assert json.loads(secret)["type"] == "kubernetes.io/tls"
    ca = base64.b64decode(data["ca.crt"])
    for port in ports:
        wait_for(lambda p=port: _listening(p), 30, f"the webhook on port {port}")
        _handshake(port, ca, f"cronwright-webhook.{namespace}.svc")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_a_mounted_certificate_and_its_ca_go_into_the_configuration(
    cluster: Cluster, namespace: str, start_operator: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    authority = certs.CertificateAuthority("mounted-ca")
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    authority.issue("webhook", ip_addresses=("127.0.0.1",), server=True).write(cert_dir, "tls")
    (cert_dir / "ca.crt").write_bytes(authority.pair.cert_pem)
    name = f"cronwright-{namespace}"
    start_operator(
        extra=(
            f"--webhook-port={free_port()}",
            f"--webhook-cert-dir={cert_dir}",
            f"--webhook-configuration={name}",
        )
    )
    try:
        hook = wait_for(lambda: _registered(cluster, name), 60, "the webhook configuration")
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == authority.pair.cert_pem  # type: ignore[index]
        assert hook["failurePolicy"] == "Ignore"  # the default
        refusal = wait_for(lambda: _refused(cluster, namespace, BAD_CRON, dry_run=True), 60, "a refusal")
        assert "spec.schedule.cron" in refusal
    finally:
        cluster.kubectl_run("delete", "validatingwebhookconfiguration", name, "--ignore-not-found")
