"""The webhook's decisions without a cluster: what is judged, which Secrets are named, and
how the operator's flags become the webhook server and its client configuration."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cronwright.core import cli
from cronwright.core.controlplane import certs
from cronwright.core.controlplane.cluster import free_port
from cronwright.core.models import CronJobSpecSpec
from cronwright.operator.admission import (
    ServiceWebhookServer,
    WebhookOptions,
    judge,
    secret_references,
    server,
)
from cronwright.operator.planning import Problem

GOOD = {"schedule": {"cron": "0 9 * * 1-5"}, "http": {"url": "http://127.0.0.1:9/"}}
BAD = {"schedule": {"cron": "0 9 * * 8"}, "http": {"url": "http://127.0.0.1:9/"}}


def test_a_new_or_changed_spec_is_judged_by_the_operators_own_rules() -> None:
    assert isinstance(judge(GOOD, None), CronJobSpecSpec)
    problem = judge(BAD, None)
    assert isinstance(problem, Problem) and problem.field == "spec.schedule.cron"
    assert isinstance(judge(BAD, GOOD), Problem)


def test_an_update_that_keeps_a_stored_spec_is_not_judged() -> None:
    """A spec stored before the webhook existed must not block a label or finalizer change."""
    assert judge(BAD, BAD) is None
    assert judge(None, None) is None


def test_secret_references_name_the_field_that_holds_them() -> None:
    spec = CronJobSpecSpec.model_validate(
        {
            **GOOD,
            "http": {
                "url": "http://127.0.0.1:9/",
                "headersFrom": [
                    {"name": "A", "secretKeyRef": {"name": "s1", "key": "a"}},
                    {"name": "B", "secretKeyRef": {"name": "s2", "key": "b"}},
                ],
                "signing": {"secretKeyRef": {"name": "s1", "key": "sign"}},
            },
        }
    )
    assert [(field, ref.name, ref.key) for field, ref in secret_references(spec)] == [
        ("spec.http.headersFrom[0].secretKeyRef", "s1", "a"),
        ("spec.http.headersFrom[1].secretKeyRef", "s2", "b"),
        ("spec.http.signing.secretKeyRef", "s1", "sign"),
    ]


def _options(*flags: str) -> WebhookOptions:
    args = cli.parser().parse_args(["operator", *flags])
    return cli._webhook_options(args)


def test_the_webhook_is_off_and_ignores_failures_unless_told_otherwise() -> None:
    assert _options() == WebhookOptions(port=0, host="127.0.0.1", failure_policy="Ignore")


def test_webhook_flags() -> None:
    options = _options(
        "--webhook-port=9443",
        "--webhook-host=0.0.0.0",
        "--webhook-cert-dir=/certs",
        "--webhook-configuration=cronwright",
        "--webhook-service=cronwright-system/cronwright-webhook",
        "--webhook-failure-policy=Fail",
    )
    assert options == WebhookOptions(
        port=9443,
        host="0.0.0.0",
        cert_dir=Path("/certs"),
        configuration="cronwright",
        service=("cronwright-system", "cronwright-webhook"),
        failure_policy="Fail",
    )


@pytest.mark.parametrize("value", ["cronwright-webhook", "/name", "ns/", "a/b/c"])
def test_a_service_must_be_namespace_slash_name(value: str) -> None:
    with pytest.raises(ValueError, match="--webhook-service: expected NAMESPACE/NAME"):
        _options(f"--webhook-service={value}")


async def _serve_once(
    webhook: Any, while_serving: Callable[[dict[str, Any]], Awaitable[None]] | None = None
) -> dict[str, Any]:
    """The first client configuration the server yields (it is listening meanwhile)."""

    async def no_review(*_: Any, **__: Any) -> dict[str, Any]:
        raise AssertionError("no review expected")

    generator = webhook(no_review)
    try:
        config: dict[str, Any] = await generator.__anext__()
        if while_serving is not None:
            await while_serving(config)
        return config
    finally:
        await generator.aclose()


def test_in_cluster_the_configuration_points_at_the_service_with_the_generated_ca(tmp_path: Path) -> None:
    port = free_port()
    webhook = server(WebhookOptions(port=port, service=("cronwright-system", "cronwright-webhook")), tmp_path)
    assert isinstance(webhook, ServiceWebhookServer)

    async def handshake_as_the_api_server(config: dict[str, Any]) -> None:
        """TLS to the listener, verified against the bundled CA and the Service's DNS name."""
        context = ssl.create_default_context(cadata=base64.b64decode(config["caBundle"]).decode())
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="cronwright-webhook.cronwright-system.svc"
        )
        writer.close()
        await writer.wait_closed()

    config = asyncio.run(_serve_once(webhook, handshake_as_the_api_server))
    assert config["service"] == {
        "namespace": "cronwright-system",
        "name": "cronwright-webhook",
        "port": 443,
        "path": "/",
    }
    assert "url" not in config


def test_a_mounted_certificate_is_used_with_its_ca(tmp_path: Path) -> None:
    authority = certs.CertificateAuthority("mounted-ca")
    authority.issue("webhook", ip_addresses=("127.0.0.1",), server=True).write(tmp_path, "tls")
    (tmp_path / "ca.crt").write_bytes(authority.pair.cert_pem)
    webhook = server(WebhookOptions(port=free_port(), cert_dir=tmp_path), tmp_path / "unused")
    config = asyncio.run(_serve_once(webhook))
    assert base64.b64decode(config["caBundle"]) == authority.pair.cert_pem
    assert config["url"].startswith("https://127.0.0.1:")
